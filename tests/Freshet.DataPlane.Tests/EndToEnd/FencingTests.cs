using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>A worker that lost its placement (a zombie with a lower epoch) cannot write once a higher epoch has claimed the pipeline.</summary>
public sealed class FencingTests
{
    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task HigherEpochClaims_ZombieStopsWithoutWriting_NewOwnerDeliversEverything(Target target)
    {
        await using var harness = await PipelineHarness.CreateAsync(target, "fence");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        var shop = new TestShop(harness.SourceConnectionString, seed: 3);
        await shop.LoadAsync(items: 200, lines: 50, events: 50);

        await using var zombie = WorkerProcess.Start(await harness.WriteSpecAsync(harness.Spec(epoch: 1), "epoch1"));
        await zombie.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));

        await using var owner = WorkerProcess.Start(await harness.WriteSpecAsync(harness.Spec(epoch: 2), "epoch2"));
        await shop.RunAsync(transactions: 50, allowTruncate: false);

        var fenced = await zombie.WaitForReportAsync(r => r.State == PipelineRunState.Fenced, TimeSpan.FromSeconds(60));
        Assert.Contains("epoch 2", fenced.Reason);
        await shop.RunAsync(transactions: 50, allowTruncate: false);
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), owner);

        var differences = await harness.ShopDifferencesAsync();
        Assert.True(differences.Length == 0, differences + "\nOwner output:\n" + owner.Output);
        var epoch = target == Target.DuckDb
            ? await DestinationState.EpochInDuckDbAsync(harness.DuckDbPath, harness.PipelineId)
            : await harness.ScalarAsync<long>($"SELECT epoch FROM analytics._freshet_checkpoints WHERE pipeline_id = '{harness.PipelineId}'", harness.DestinationConnectionString);
        Assert.Equal(2, epoch);
    }
}
