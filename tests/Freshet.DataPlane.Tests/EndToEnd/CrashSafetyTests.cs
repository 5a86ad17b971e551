using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// The worker process is killed with SIGKILL over and over, during the snapshot and during streaming, while the source
/// keeps changing; each restart resumes from the destination's checkpoint. At the end the destination equals the
/// source with zero missing and zero duplicate rows.
/// </summary>
public sealed class CrashSafetyTests
{
    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task KilledRepeatedlyDuringSnapshotAndStreaming_DestinationEqualsSource(Target target)
    {
        await using var harness = await PipelineHarness.CreateAsync(target, "crash");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        var shop = new TestShop(harness.SourceConnectionString, seed: 7);
        await shop.LoadAsync(items: 12_000, lines: 3000, events: 2000);
        var spec = await harness.WriteSpecAsync(harness.Spec(delivery: new(MaxBatchDelayMilliseconds: 50, SnapshotChunkRows: 600, SnapshotParallelism: 2)));

        using var stopWorkload = new CancellationTokenSource();
        var workload = Task.Run(() => new TestShop(harness.SourceConnectionString, seed: 8).RunUntilAsync(stopWorkload.Token));
        // DuckDB at its smallest memory limit: writes run out of memory now and then, at commit too, and each process
        // starts there again. A commit that failed so once left rows behind that the next checkpoint wrote into the file.
        IReadOnlyDictionary<string, string>? settings = target == Target.DuckDb
            ? new Dictionary<string, string> { ["Freshet__Worker__DuckDbMemoryLimitMb"] = "16" }
            : null;
        var crashes = await CrashLoop.RunAsync(spec, settings);

        await stopWorkload.CancelAsync();
        await workload;
        await using var final = WorkerProcess.Start(spec, settings);
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(120), final);

        string differences;
        try
        {
            differences = await harness.ShopDifferencesAsync();
        }
        catch (InvalidOperationException e)
        {
            // A key held twice: what every worker said is the way to tell which write put it there.
            throw new InvalidOperationException($"{e.Message}\n{crashes.Describe()}\n=== final\n{final.Output}", e);
        }

        Assert.True(differences.Length == 0, $"{differences}\n{crashes.Describe()}\n=== final\n{final.Output}");
        Assert.True(crashes.KilledDuring.Count >= 10);
        Assert.Contains(PipelineRunState.Snapshotting, crashes.KilledDuring);
        Assert.Contains(PipelineRunState.Streaming, crashes.KilledDuring);
    }
}
