using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.BigQuery;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>The checkpoint row and its epoch fence in the emulator's dataset.</summary>
public sealed class BigQueryCheckpointsTests
{
    [Fact]
    public async Task Claim_Save_Claim_ReturnsWhatWasSaved()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        var checkpoints = new BigQueryCheckpoints(bq.Rest, bq.Options, "freshet", TimeProvider.System);
        var pipeline = Guid.NewGuid();
        await checkpoints.EnsureTableAsync(default);
        await checkpoints.EnsureTableAsync(default);

        var fresh = await checkpoints.ClaimAsync(pipeline, 3, default);
        await checkpoints.SaveAsync(pipeline, 3, "0/16B3748", 42, 7, null, new Dictionary<TableId, string> { [new("public", "orders")] = "row refused" }, default);
        var again = await checkpoints.ClaimAsync(pipeline, 4, default);

        Assert.Equal((3L, null, 0L, 0L), (fresh.Epoch, fresh.Position, fresh.AppliedPosition, fresh.AppliedSequence));
        Assert.Equal((4L, "0/16B3748", 42L, 7L), (again.Epoch, again.Position, again.AppliedPosition, again.AppliedSequence));
        Assert.Equal("row refused", again.Quarantined[new TableId("public", "orders")]);
        Assert.NotNull(again.UpdatedAt);
    }

    [Fact]
    public async Task OlderEpoch_CannotClaimOrSave_OnceANewerOneOwnsThePipeline()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        var checkpoints = new BigQueryCheckpoints(bq.Rest, bq.Options, "freshet", TimeProvider.System);
        var pipeline = Guid.NewGuid();
        await checkpoints.EnsureTableAsync(default);
        await checkpoints.ClaimAsync(pipeline, 1, default);
        await checkpoints.ClaimAsync(pipeline, 2, default);

        var save = await Assert.ThrowsAsync<PipelineFencedException>(() =>
            checkpoints.SaveAsync(pipeline, 1, "zombie", 99, 0, null, new Dictionary<TableId, string>(), default));
        var claim = await Assert.ThrowsAsync<PipelineFencedException>(() => checkpoints.ClaimAsync(pipeline, 1, default));
        var current = await checkpoints.ClaimAsync(pipeline, 2, default);

        Assert.Equal(2, save.OwnerEpoch);
        Assert.Equal(2, claim.OwnerEpoch);
        Assert.Null(current.Position);
    }
}
