using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.DuckDb.Make;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

public sealed class DuckDbDestinationFencingTests
{
    [Fact]
    public async Task ClaimAsync_FreshFile_CreatesItAndReturnsAnEmptyCheckpoint()
    {
        using var file = new TempDuckDbFile();
        await using var destination = file.Destination(epoch: 3);

        var checkpoint = await destination.ClaimAsync(CancellationToken.None);

        Assert.True(File.Exists(file.Path));
        Assert.Equal(3, checkpoint.Epoch);
        Assert.Null(checkpoint.Position);
        Assert.Equal((0L, 0L), (checkpoint.AppliedPosition, checkpoint.AppliedSequence));
        Assert.Null(checkpoint.Snapshot);
        Assert.Empty(checkpoint.Quarantined);
        Assert.Equal(
            [[file.PipelineId.ToString(), 3L]],
            await file.QueryAsync("SELECT pipeline_id, epoch FROM _freshet_checkpoints"));
    }

    [Fact]
    public async Task ClaimAsync_AgainWithTheSameOrHigherEpoch_KeepsTheStoredState()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using (var first = await file.ReadyAsync(DeleteMode.Hard, people))
        {
            await first.ApplyAsync(Batch(Insert(people, 10, 0, 1, "ann", "a")), CancellationToken.None);
            await first.SaveQuarantineAsync(
                new Dictionary<TableId, string> { [new TableId("public", "broken")] = "schema changed" },
                CancellationToken.None);
        }

        await using var next = file.Destination(epoch: 2);
        var checkpoint = await next.ClaimAsync(CancellationToken.None);

        Assert.Equal(2, checkpoint.Epoch);
        Assert.Equal("resume-10", checkpoint.Position);
        Assert.Equal((10L, 0L), (checkpoint.AppliedPosition, checkpoint.AppliedSequence));
        Assert.Equal("schema changed", checkpoint.Quarantined[new TableId("public", "broken")]);
    }

    [Fact]
    public async Task BeginSnapshotAsync_WithResnapshots_EmptiesOnlyItsTablesAndRecordsEachRequestOnce_AndALowerEpochRecordsNothing()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        var others = People("others");
        await using var zombie = await file.ReadyAsync(DeleteMode.Hard, people, others);
        await zombie.ApplyAsync(Batch(Insert(people, 10, 0, 1, "ann", "a"), Insert(others, 10, 1, 2, "bob", "b")), CancellationToken.None);
        var request = Guid.NewGuid();
        Assert.Empty(await zombie.ReadHandledResnapshotsAsync(CancellationToken.None));

        await zombie.BeginSnapshotAsync([people], "plan", [request], CancellationToken.None);
        await zombie.BeginSnapshotAsync([people], "plan again", [request], CancellationToken.None);

        Assert.Equal([request], await zombie.ReadHandledResnapshotsAsync(CancellationToken.None));
        Assert.Equal([[0L, 1L, 1L]], await file.QueryAsync(
            "SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM others), (SELECT count(*) FROM _freshet_resnapshots)"));

        await using var owner = file.Destination(epoch: 2);
        await owner.ClaimAsync(CancellationToken.None);
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.BeginSnapshotAsync([others], "zombie plan", [Guid.NewGuid()], CancellationToken.None));

        Assert.Equal([request], await owner.ReadHandledResnapshotsAsync(CancellationToken.None));
        Assert.Equal([[1L]], await file.QueryAsync("SELECT count(*) FROM others"));
    }

    [Fact]
    public async Task LowerEpoch_AfterAHigherOneClaimed_CannotClaimOrWrite_AndTheDataStaysTheOwners()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var zombie = file.Destination(epoch: 1);
        await zombie.ClaimAsync(CancellationToken.None);
        await zombie.EnsureTableAsync(people, SchemaChangePolicy.Propagate, CancellationToken.None);
        await zombie.ApplyAsync(Batch(Insert(people, 10, 0, 1, "zombie", "first")), CancellationToken.None);

        await using var owner = file.Destination(epoch: 2);
        await owner.ClaimAsync(CancellationToken.None);
        await owner.EnsureTableAsync(people, SchemaChangePolicy.Propagate, CancellationToken.None);
        await owner.ApplyAsync(Batch(Update(people, 20, 0, 1, "owner", "second")), CancellationToken.None);

        var fenced = await Assert.ThrowsAsync<PipelineFencedException>(
            () => zombie.ApplyAsync(Batch(Update(people, 30, 0, 1, "zombie", "late"), Insert(people, 30, 1, 2, "zombie", "new")), CancellationToken.None));
        Assert.Equal((1L, 2L), (fenced.Epoch, fenced.OwnerEpoch));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.ClaimAsync(CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.BeginSnapshotAsync([people], "zombie plan", CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.CopySnapshotChunkAsync(
            people, new SnapshotChunk(0, 30, Epoch), Rows([[3, "zombie", "chunk"]]), CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.FinishSnapshotAsync("zombie", CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.SaveQuarantineAsync(new Dictionary<TableId, string>(), CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.EnsureTableAsync(
            Table("people", Key("id"), Column("name", ValueKind.Text), Column("note", ValueKind.Text), Column("zombie", ValueKind.Text)),
            SchemaChangePolicy.Propagate,
            CancellationToken.None));

        Assert.Equal([[1, "owner", "second"]], await file.QueryAsync("SELECT id, name, note FROM people ORDER BY id"));
        Assert.Equal(
            [[2L, "resume-20", null]],
            await file.QueryAsync("SELECT epoch, position, snapshot FROM _freshet_checkpoints"));
        Assert.Empty(await file.QueryAsync("SELECT * FROM _freshet_snapshot_chunks"));
    }

    [Fact]
    public async Task ConcurrentClaims_OnlyTheHighestEpochKeepsWriting()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        var destinations = Enumerable.Range(1, 6).Select(epoch => file.Destination(epoch: epoch)).ToList();

        var claims = await Task.WhenAll(destinations.Select(async d =>
        {
            try
            {
                await d.ClaimAsync(CancellationToken.None);
                await d.EnsureTableAsync(people, SchemaChangePolicy.Propagate, CancellationToken.None);
                return true;
            }
            catch (PipelineFencedException)
            {
                return false;
            }
        }));

        var writers = await Task.WhenAll(destinations.Select(async (d, i) =>
        {
            try
            {
                await d.ApplyAsync(Batch(Insert(people, 100 + i, 0, i + 1, $"epoch {i + 1}", null)), CancellationToken.None);
                return true;
            }
            catch (Exception exception) when (exception is PipelineFencedException or InvalidOperationException)
            {
                return false;
            }
        }));

        Assert.True(claims[^1]);
        Assert.Equal([false, false, false, false, false, true], writers);
        Assert.Equal([[6, "epoch 6"]], await file.QueryAsync("SELECT id, name FROM people"));
        foreach (var destination in destinations)
        {
            await destination.DisposeAsync();
        }
    }
}
