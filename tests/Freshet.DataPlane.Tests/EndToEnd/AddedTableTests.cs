using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>A table added to a pipeline that already streams is copied and then followed, while its source keeps changing.</summary>
public sealed class AddedTableTests
{
    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task TableAddedToTheSpec_IsSnapshottedAndStreamed_WithoutDisturbingTheOthers(Target target)
    {
        await using var harness = await PipelineHarness.CreateAsync(target, "added");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        var shop = new TestShop(harness.SourceConnectionString, seed: 11);
        await shop.LoadAsync(items: 2000, lines: 500, events: 300);
        var first = harness.Spec(tables: [new TableSpec("public", "order_lines"), new TableSpec("public", "events")]);
        var specFile = await harness.WriteSpecAsync(first);
        await using var worker = WorkerProcess.Start(specFile);
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));

        using var stop = new CancellationTokenSource();
        var workload = Task.Run(() => new TestShop(harness.SourceConnectionString, seed: 12).RunUntilAsync(stop.Token));
        await Task.Delay(1000);
        // Generation 2 adds items (with TOASTed values, key changes and large transactions going on meanwhile).
        await harness.WriteSpecAsync(first with { Generation = 2, Tables = [.. first.Tables, new TableSpec("public", "items")] });
        await worker.WaitForReportAsync(r => r.Tables.TryGetValue("public.items", out var items) && items.SnapshotChunksTotal > 1
            && items.SnapshotChunksDone == items.SnapshotChunksTotal && r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(90));
        await Task.Delay(1000);
        await stop.CancelAsync();
        await workload;
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), worker);

        var differences = await harness.ShopDifferencesAsync();
        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
    }
}
