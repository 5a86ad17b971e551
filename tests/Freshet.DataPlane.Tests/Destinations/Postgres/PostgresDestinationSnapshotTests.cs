using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>Snapshot state: begin clears, chunks copy in parallel and are recorded, finish hands over to streaming.</summary>
public sealed class PostgresDestinationSnapshotTests(PostgresDestinationFixture fixture) : IClassFixture<PostgresDestinationFixture>
{
    private static readonly TableSchema Items = Table("items", Key("id", ValueKind.Int64, "bigint"), Column("name", ValueKind.Text), Column("price", ValueKind.NumericText, "numeric(40,4)"));
    private static readonly TableSchema Other = Table("other", Key("id"), Column("name", ValueKind.Text));

    [Fact]
    public async Task CopySnapshotChunkAsync_ParallelChunks_CopyEveryRowAndRecordEachChunk()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();
        await destination.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.EnsureTableAsync(Other, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(Items, 5, 0, -1L, "streamed before the snapshot", "1")), CancellationToken.None);
        await destination.BeginSnapshotAsync([Items, Other], "plan-1", CancellationToken.None);
        var takenAt = At(100);

        var counts = await Task.WhenAll(Enumerable.Range(0, 4).Select(chunk =>
            destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(chunk, 100, takenAt), ChunkRows(chunk, 2500), CancellationToken.None)));
        await destination.CopySnapshotChunkAsync(Other, new SnapshotChunk(0, 100, takenAt), new[] { new object?[] { 1, "other" } }.ToAsyncEnumerable(), CancellationToken.None);

        Assert.Equal([2500L, 2500L, 2500L, 2500L], counts);
        Assert.Equal(
            new HashSet<(TableId, int)> { (Items.Source, 0), (Items.Source, 1), (Items.Source, 2), (Items.Source, 3), (Other.Source, 0) },
            await destination.ReadCompletedChunksAsync(CancellationToken.None));
        var summary = (await scope.QueryAsync($"""
            SELECT count(*), count(DISTINCT id), min(id), max(id), sum(price)::text,
                   bool_and({MetadataColumns.Position} = 100 AND {MetadataColumns.Sequence} = 0 AND NOT {MetadataColumns.Deleted} AND {MetadataColumns.DeletedAt} IS NULL),
                   min({MetadataColumns.CommittedAt}), max({MetadataColumns.SyncedAt})
            FROM {scope.Qualified("items")}
            """))[0];
        Assert.Equal(new object?[] { 10_000L, 10_000L, 0L, 9_999L, "500000000000000000000049995000.0000", true, takenAt.UtcDateTime, DestinationScope.Now.UtcDateTime }, summary);
        Assert.Equal("plan-1", (await scope.CheckpointAsync()).Snapshot);

        await destination.FinishSnapshotAsync("resume-100", CancellationToken.None);

        var checkpoint = await scope.CheckpointAsync();
        Assert.Equal(("resume-100", null), (checkpoint.Position, checkpoint.Snapshot));
    }

    [Fact]
    public async Task BeginSnapshotAsync_Again_ClearsRowsAndChunkRecordsOfItsTablesOnly()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();
        await destination.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.EnsureTableAsync(Other, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.BeginSnapshotAsync([Items, Other], "plan-1", CancellationToken.None);
        await destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(0, 100, At(100)), ChunkRows(0, 10), CancellationToken.None);
        await destination.CopySnapshotChunkAsync(Other, new SnapshotChunk(0, 100, At(100)), new[] { new object?[] { 1, "other" } }.ToAsyncEnumerable(), CancellationToken.None);

        await destination.BeginSnapshotAsync([Items], "plan-2", CancellationToken.None);

        Assert.Equal(new HashSet<(TableId, int)> { (Other.Source, 0) }, await destination.ReadCompletedChunksAsync(CancellationToken.None));
        Assert.Equal(0L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("items")}"));
        Assert.Equal(1L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("other")}"));
        Assert.Equal("plan-2", (await scope.CheckpointAsync()).Snapshot);
    }

    [Fact]
    public async Task SaveQuarantineAsync_IsReturnedByTheNextClaim()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();
        var quarantined = new Dictionary<TableId, string> { [new TableId("sales", "orders")] = "type \"geometry\" is not supported", [Items.Source] = "retyped → failed" };

        await destination.SaveQuarantineAsync(quarantined, CancellationToken.None);

        Assert.Equal(quarantined, (await scope.CheckpointAsync()).Quarantined);
    }

    /// <summary>Rows whose prices add up to a known exact total (more digits than decimal holds).</summary>
    private static IAsyncEnumerable<object?[]> ChunkRows(int chunk, int rows) =>
        Enumerable.Range(chunk * rows, rows)
            .Select(id => new object?[] { (long)id, $"item {id}", $"{(id == 0 ? "500000000000000000000000000000" : id.ToString(System.Globalization.CultureInfo.InvariantCulture))}.0000" })
            .ToAsyncEnumerable();
}
