using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Destinations.Postgres;
using Npgsql;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>Once a higher epoch has claimed the pipeline, a lower one cannot commit anything, even when both run at once.</summary>
public sealed class PostgresDestinationFencingTests(PostgresDestinationFixture fixture) : IClassFixture<PostgresDestinationFixture>
{
    private static readonly TableSchema Items = Table("items", Key("id"), Column("name", ValueKind.Text));

    [Fact]
    public async Task ClaimAsync_FreshPipeline_CreatesStateAndReturnsAnEmptyCheckpoint()
    {
        var scope = fixture.NewScope();
        await using var destination = scope.Create(epoch: 4);

        var checkpoint = await destination.ClaimAsync(CancellationToken.None);

        Assert.Equal(new DestinationCheckpoint(4, null, 0, 0, null, checkpoint.Quarantined, null), checkpoint);
        Assert.Empty(checkpoint.Quarantined);
        Assert.Equal(4L, await scope.ScalarAsync($"SELECT epoch FROM {scope.Qualified(MetadataColumns.CheckpointTable)} WHERE pipeline_id = '{scope.PipelineId}'"));
        Assert.Equal(0L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified(MetadataColumns.SnapshotChunkTable)}"));
    }

    [Fact]
    public async Task ClaimAsync_SeveralPipelinesAtOnceInANewSchema_AllSucceed()
    {
        var schema = fixture.NewScope().Schema;
        var scopes = Enumerable.Range(0, 6).Select(_ => new DestinationScope(fixture, Guid.NewGuid(), schema)).ToList();
        var destinations = scopes.Select(s => s.Create()).ToList();

        var checkpoints = await Task.WhenAll(destinations.Select(d => d.ClaimAsync(CancellationToken.None)));

        Assert.All(checkpoints, c => Assert.Equal(1, c.Epoch));
        Assert.Equal(6L, await scopes[0].ScalarAsync($"SELECT count(*) FROM {scopes[0].Qualified(MetadataColumns.CheckpointTable)}"));
        foreach (var destination in destinations)
        {
            await destination.DisposeAsync();
        }
    }

    [Fact]
    public async Task ClaimAsync_LowerEpochAfterHigher_IsFenced()
    {
        var scope = fixture.NewScope();
        await using var newer = await scope.ClaimedAsync(epoch: 5);
        await using var older = scope.Create(epoch: 3);

        var fenced = await Assert.ThrowsAsync<PipelineFencedException>(() => older.ClaimAsync(CancellationToken.None));

        Assert.Equal((3L, 5L), (fenced.Epoch, fenced.OwnerEpoch));
        Assert.Equal(5L, (await scope.CheckpointAsync(epoch: 5)).Epoch);
    }

    [Fact]
    public async Task EveryWrite_OfAnInstanceWhoseEpochWasSuperseded_IsFencedAndCommitsNothing()
    {
        var scope = fixture.NewScope();
        await using var zombie = await scope.ClaimedAsync(epoch: 1);
        await zombie.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        await zombie.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "from epoch 1")), CancellationToken.None);
        await using var owner = await scope.ClaimedAsync(epoch: 2);
        await owner.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);

        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.ApplyAsync(Batch(Insert(Items, 20, 0, 2, "zombie")), CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.BeginSnapshotAsync([Items], "zombie plan", CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.CopySnapshotChunkAsync(
            Items, new SnapshotChunk(0, 30, At(30)), new[] { new object?[] { 3, "zombie" } }.ToAsyncEnumerable(), CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.FinishSnapshotAsync("zombie position", CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.SaveQuarantineAsync(
            new Dictionary<TableId, string> { [Items.Source] = "zombie" }, CancellationToken.None));
        await owner.ApplyAsync(Batch(Insert(Items, 20, 0, 4, "from epoch 2")), CancellationToken.None);

        Assert.Equal(["from epoch 1", "from epoch 2"], (await scope.QueryAsync($"SELECT name FROM {scope.Qualified("items")} ORDER BY id")).Select(r => (string)r[0]!));
        var checkpoint = await scope.CheckpointAsync(epoch: 2);
        Assert.Equal(("resume-20", null), (checkpoint.Position, checkpoint.Snapshot));
        Assert.Empty(checkpoint.Quarantined);
        Assert.Equal(0L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified(MetadataColumns.SnapshotChunkTable)}"));
    }

    [Fact]
    public async Task BeginSnapshotAsync_WithResnapshots_EmptiesOnlyItsTablesAndRecordsEachRequestOnce_AndALowerEpochRecordsNothing()
    {
        var scope = fixture.NewScope();
        var others = Table("others", Key("id"), Column("name", ValueKind.Text));
        await using var zombie = await scope.ClaimedAsync(epoch: 1);
        await zombie.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        await zombie.EnsureTableAsync(others, SchemaChangePolicy.Propagate, CancellationToken.None);
        await zombie.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "ann"), Insert(others, 10, 1, 2, "bob")), CancellationToken.None);
        var request = Guid.NewGuid();
        Assert.Empty(await zombie.ReadHandledResnapshotsAsync(CancellationToken.None));

        await zombie.BeginSnapshotAsync([Items], "plan", [request], CancellationToken.None);
        await zombie.BeginSnapshotAsync([Items], "plan again", [request], CancellationToken.None);

        Assert.Equal([request], await zombie.ReadHandledResnapshotsAsync(CancellationToken.None));
        Assert.Equal(0L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("items")}"));
        Assert.Equal(1L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("others")}"));
        Assert.Equal(1L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified(MetadataColumns.ResnapshotTable)}"));

        await using var owner = await scope.ClaimedAsync(epoch: 2);
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.BeginSnapshotAsync([others], "zombie plan", [Guid.NewGuid()], CancellationToken.None));

        Assert.Equal([request], await owner.ReadHandledResnapshotsAsync(CancellationToken.None));
        Assert.Equal(1L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("others")}"));
    }

    [Fact]
    public async Task ApplyAsync_WaitingBehindAHigherEpochsClaim_IsFenced()
    {
        var scope = fixture.NewScope();
        await using var zombie = await scope.ClaimedAsync(epoch: 1);
        await zombie.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        await using var owner = scope.Create(epoch: 2);

        // Hold the checkpoint row so that the claim queues first and the zombie's apply second.
        await using var blocker = await fixture.OpenAsync();
        await using var hold = await blocker.BeginTransactionAsync();
        await Execute(blocker, $"SELECT 1 FROM {scope.Qualified(MetadataColumns.CheckpointTable)} FOR UPDATE");
        var claim = owner.ClaimAsync(CancellationToken.None);
        await WaitForLockWaitersAsync(1);
        var apply = zombie.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "zombie")), CancellationToken.None);
        await WaitForLockWaitersAsync(2);
        await hold.CommitAsync();

        Assert.Equal(2, (await claim).Epoch);
        await Assert.ThrowsAsync<PipelineFencedException>(() => apply);
        Assert.Equal(0L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("items")}"));
    }

    [Fact]
    public async Task ClaimAsync_WhileALowerEpochApplies_WaitsForItsCommitAndFencesItsNextWrite()
    {
        var scope = fixture.NewScope();
        await using var zombie = await scope.ClaimedAsync(epoch: 1);
        await zombie.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        await using var owner = scope.Create(epoch: 2);

        // Stall the zombie's apply after it has locked the checkpoint row, at its write to the target table.
        await using var blocker = await fixture.OpenAsync();
        await using var hold = await blocker.BeginTransactionAsync();
        await Execute(blocker, $"LOCK TABLE {scope.Qualified("items")} IN ACCESS EXCLUSIVE MODE");
        var apply = zombie.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "committed before the claim")), CancellationToken.None);
        await WaitForLockWaitersAsync(1);
        var claim = owner.ClaimAsync(CancellationToken.None);
        await WaitForLockWaitersAsync(2);
        await hold.CommitAsync();

        await apply;
        Assert.Equal(2, (await claim).Epoch);
        Assert.Equal("resume-10", (await scope.CheckpointAsync(epoch: 2)).Position);
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.ApplyAsync(Batch(Insert(Items, 20, 0, 2, "zombie")), CancellationToken.None));
        Assert.Equal(1L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("items")}"));
    }

    [Fact]
    public async Task ClaimAsync_WhileAFrozenLowerEpochHoldsTheCheckpointRow_EndsThatConnectionAndClaims()
    {
        var scope = fixture.NewScope();
        await using (var first = await scope.ClaimedAsync(epoch: 1))
        {
            await first.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        }

        // A worker frozen (SIGSTOP, a partition) in the middle of a batch: its transaction holds the checkpoint row and its
        // TCP connection stays open, so without help the new owner would wait for as long as the freeze lasts.
        var frozen = new NpgsqlConnectionStringBuilder(fixture.Server.ConnectionString(fixture.Database))
        {
            ApplicationName = PostgresDestinationSettings.RunApplicationName(scope.PipelineId, 1),
            Pooling = false,
        };
        await using var zombie = new NpgsqlConnection(frozen.ConnectionString);
        await zombie.OpenAsync();
        await using var stalled = await zombie.BeginTransactionAsync();
        await Execute(zombie, $"SELECT 1 FROM {scope.Qualified(MetadataColumns.CheckpointTable)} FOR UPDATE");

        // Another pipeline's writer on the same database is left alone.
        var bystander = new NpgsqlConnectionStringBuilder(fixture.Server.ConnectionString(fixture.Database))
        {
            ApplicationName = PostgresDestinationSettings.RunApplicationName(Guid.NewGuid(), 1),
            Pooling = false,
        };
        await using var other = new NpgsqlConnection(bystander.ConnectionString);
        await other.OpenAsync();

        await using var owner = scope.Create(epoch: 2);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var checkpoint = await owner.ClaimAsync(patience.Token);

        Assert.Equal(2, checkpoint.Epoch);
        await Assert.ThrowsAnyAsync<Exception>(() => Execute(zombie, "SELECT 1"));
        await Execute(other, "SELECT 1");
    }

    private static async Task Execute(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Waits until this many sessions of the test database wait for a lock (a state, not a duration).</summary>
    private async Task WaitForLockWaitersAsync(int count)
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'", connection);
        using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while ((long)(await command.ExecuteScalarAsync(patience.Token))! < count)
        {
            await Task.Delay(20, patience.Token);
        }
    }
}
