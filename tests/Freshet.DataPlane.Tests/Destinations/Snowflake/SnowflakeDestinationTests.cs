using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.Snowflake;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

/// <summary>
/// The Snowflake destination against the SQL API emulator: batches folded and merged with their checkpoint, the
/// (position, sequence) guard, unchanged values, deletes, truncates, batches and snapshot chunks larger than a request,
/// the epoch fence, schema policies and the table a rejected row belongs to.
/// </summary>
public sealed class SnowflakeDestinationTests
{
    private static readonly DateTimeOffset SnapshotTakenAt = new(2025, 3, 4, 5, 6, 7, 123, TimeSpan.Zero);

    private static readonly TableSchema Items = Table("items", Key("id"), Column("name", ValueKind.Text), Column("body", ValueKind.Text), Column("qty", ValueKind.Int32));

    private static readonly TableSchema Prices = Table("prices", Key("id"), Column("price", ValueKind.Decimal, "numeric(4,1)", precision: 4, scale: 1));

    [Fact]
    public async Task ApplyAsync_FoldsGuardsAndCarriesUnchangedValues_WithTheCheckpointInTheSameTransaction()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var destination = await ReadyAsync(account, epoch: 1, tables: Items);
        var started = DateTimeOffset.UtcNow.AddSeconds(-1);
        await destination.ApplyAsync(Batch(
            Insert(Items, 10, 0, 1, "one", "body 1", 1),
            Insert(Items, 10, 1, 2, "two", "body 2", 2),
            Insert(Items, 10, 2, 3, "three", "body 3", 3),
            Insert(Items, 10, 3, 4, "four", "body 4", 4)), CancellationToken.None);

        await destination.ApplyAsync(Batch(
            // Older than the target row: ignored.
            Update(Items, 5, 0, 1, "stale", "x", 0),
            // Unchanged body and qty keep the target's values.
            Update(Items, 20, 0, 2, "two v2", Unchanged, Unchanged),
            // Key 3 becomes 30, carrying its unchanged body from the old key's row.
            KeyChange(Items, 20, 1, [3], 30, "thirty", Unchanged, 33),
            // Written and deleted in one batch: gone.
            Insert(Items, 20, 2, 5, "five", "body 5", 5),
            Delete(Items, 20, 3, 5),
            Delete(Items, 20, 4, 4),
            Insert(Items, 20, 5, 6, "six", null, 6)), CancellationToken.None);

        Assert.Equal(
            [
                "1|one|body 1|1|10|0", "2|two v2|body 2|2|20|0", "6|six|∅|6|20|5", "30|thirty|body 3|33|20|1",
            ],
            await RowsAsync(account, "items"));
        var checkpoint = await destination.ClaimAsync(CancellationToken.None);
        Assert.Equal(("resume-20", 20L, 5L), (checkpoint.Position, checkpoint.AppliedPosition, checkpoint.AppliedSequence));
        var synced = await account.Emulator.QueryAsync($"""SELECT DISTINCT "{MetadataColumns.SyncedAt}" FROM "FRESHET"."PUBLIC"."items" WHERE "id" = 2""");
        // DuckDB.NET reads TIMESTAMP WITH TIME ZONE as a UTC DateTime.
        Assert.InRange(new DateTimeOffset(DateTime.SpecifyKind(Assert.IsType<DateTime>(Assert.Single(synced)[0]), DateTimeKind.Utc)), started, DateTimeOffset.UtcNow.AddSeconds(1));
    }

    [Fact]
    public async Task ApplyAsync_SoftDeletesAndTruncate_MarkRowsAndKeepNewerOnes()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var destination = await ReadyAsync(account, epoch: 1, tables: Items, deleteMode: DeleteMode.Soft);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "b", 1), Insert(Items, 10, 1, 2, "two", "b", 2), Insert(Items, 30, 0, 3, "three", "b", 3)),
            CancellationToken.None);

        await destination.ApplyAsync(Batch(Delete(Items, 20, 0, 1), Truncate(Items, 25, 0), Insert(Items, 25, 1, 4, "four", "b", 4)), CancellationToken.None);

        var rows = await account.Emulator.QueryAsync(
            $"""SELECT "id", "{MetadataColumns.Deleted}", "{MetadataColumns.DeletedAt}" IS NOT NULL FROM "FRESHET"."PUBLIC"."items" ORDER BY "id" """);
        Assert.Equal(["1|True|True", "2|True|True", "3|False|False", "4|False|False"], rows.Select(r => string.Join("|", r)).ToList());
    }

    [Fact]
    public async Task BatchAndSnapshotChunk_LargerThanARequest_AreStagedInPartsAndArriveWhole()
    {
        await using var account = await SnowflakeTestAccount.StartAsync(o => o.MaxRequestBytes = 64 * 1024);
        await using var destination = await ReadyAsync(account, epoch: 1, tables: Items, settings: new() { ["max_request_bytes"] = "65536" });
        var body = new string('x', 400);
        await destination.BeginSnapshotAsync([Items], "plan", CancellationToken.None);
        var snapshotRows = Enumerable.Range(1, 1000).Select(i => new object?[] { i, $"name {i}", body, i }).ToAsyncEnumerable();
        var copied = await destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(0, 7, SnapshotTakenAt), snapshotRows, CancellationToken.None);
        await destination.FinishSnapshotAsync("after-snapshot", CancellationToken.None);
        var requestsBefore = account.Emulator.ExecutedRequests;

        await destination.ApplyAsync(Batch([.. Enumerable.Range(1, 1000).Select(i => Update(Items, 100, i, i, $"name {i} v2", Unchanged, i * 2))]), CancellationToken.None);

        Assert.Equal(1000, copied);
        Assert.True(account.Emulator.ExecutedRequests - requestsBefore >= 4, $"{account.Emulator.ExecutedRequests - requestsBefore} requests for a batch of ~450 KB");
        var summary = await account.Emulator.QueryAsync("""
            SELECT count(*), count(DISTINCT "id"), sum("qty"), min("body") = max("body"), min(length("body")), max("_freshet_position")
            FROM "FRESHET"."PUBLIC"."items" WHERE "name" LIKE '% v2'
            """);
        Assert.Equal("1000|1000|1001000|True|400|100", string.Join("|", summary.Single()));
        var chunks = await destination.ReadCompletedChunksAsync(CancellationToken.None);
        Assert.Equal((new TableId("src", "items"), 0), Assert.Single(chunks));
        var staged = await account.Emulator.QueryAsync("""SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_freshet_stage_%'""");
        Assert.Equal(1L, Convert.ToInt64(staged.Single()[0], CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task Resnapshot_EmptiesTheTableAndItsChunks_RecordsTheRequestOnce_AndAWholeSnapshotClearsTheAppliedPoint()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var destination = await ReadyAsync(account, epoch: 1, tables: [Items, Prices]);
        await destination.BeginSnapshotAsync([Items, Prices], "first plan", CancellationToken.None);
        await destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(0, 7, SnapshotTakenAt), new[] { new object?[] { 1, "one", "b", 1 } }.ToAsyncEnumerable(), CancellationToken.None);
        await destination.CopySnapshotChunkAsync(Prices, new SnapshotChunk(0, 7, SnapshotTakenAt), new[] { new object?[] { 1, 1.5m } }.ToAsyncEnumerable(), CancellationToken.None);
        await destination.FinishSnapshotAsync("after-first", CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 2, "two", "b", 2)), CancellationToken.None);
        var request = Guid.NewGuid();

        await destination.BeginSnapshotAsync([Items], "again", [request], CancellationToken.None);
        await destination.BeginSnapshotAsync([Items], "again", [request], CancellationToken.None);
        var during = await destination.ClaimAsync(CancellationToken.None);
        var chunks = await destination.ReadCompletedChunksAsync(CancellationToken.None);
        await destination.FinishSnapshotAsync("after-whole", restartsStream: true, CancellationToken.None);
        var after = await destination.ClaimAsync(CancellationToken.None);

        Assert.Empty(await RowsAsync(account, "items"));
        Assert.Single(await account.Emulator.QueryAsync("""SELECT * FROM "FRESHET"."PUBLIC"."prices" """));
        Assert.Equal((Prices.Source, 0), Assert.Single(chunks));
        Assert.Equal(request, Assert.Single(await destination.ReadHandledResnapshotsAsync(CancellationToken.None)));
        Assert.Equal(1L, Convert.ToInt64((await account.Emulator.QueryAsync($"""SELECT count(*) FROM "FRESHET"."PUBLIC"."{MetadataColumns.ResnapshotTable}" """)).Single()[0], CultureInfo.InvariantCulture));
        Assert.Equal(("again", 10L), (during.Snapshot, during.AppliedPosition));
        Assert.Equal(((string?)null, "after-whole", 0L, 0L), (after.Snapshot, after.Position, after.AppliedPosition, after.AppliedSequence));
    }

    [Fact]
    public async Task HigherEpochClaims_TheOlderPlacementCanNoLongerWriteAnything()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        var pipeline = Guid.NewGuid();
        await using var old = await ReadyAsync(account, epoch: 3, tables: Items, pipelineId: pipeline);
        await old.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "b", 1)), CancellationToken.None);

        await using var successor = await ReadyAsync(account, epoch: 4, tables: Items, pipelineId: pipeline);
        var fenced = await Assert.ThrowsAsync<PipelineFencedException>(() => old.ApplyAsync(Batch(Insert(Items, 20, 0, 2, "zombie", "b", 2)), CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => old.FinishSnapshotAsync("zombie", CancellationToken.None));
        await using (var late = Create(account, epoch: 2, pipeline))
        {
            await Assert.ThrowsAsync<PipelineFencedException>(() => late.ClaimAsync(CancellationToken.None));
        }

        await successor.ApplyAsync(Batch(Insert(Items, 20, 0, 3, "three", "b", 3)), CancellationToken.None);

        Assert.Equal(4, fenced.OwnerEpoch);
        Assert.Equal(["1|one|b|1|10|0", "3|three|b|3|20|0"], await RowsAsync(account, "items"));
        var checkpoint = await successor.ClaimAsync(CancellationToken.None);
        Assert.Equal((4L, "resume-20"), (checkpoint.Epoch, checkpoint.Position));
    }

    [Fact]
    public async Task RejectedValue_NamesItsTable_AndNothingOfTheBatchIsWritten()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var destination = await ReadyAsync(account, epoch: 1, tables: [Items, Prices]);

        // NUMBER(4,1) holds at most 999.9.
        var error = await Assert.ThrowsAsync<TableApplyException>(() => destination.ApplyAsync(
            Batch(Insert(Items, 10, 0, 1, "one", "b", 1), Insert(Prices, 10, 1, 1, 12345.6m)), CancellationToken.None));

        Assert.Equal(Prices.Source, error.Table);
        Assert.Contains("100038", FailureReason.Describe(error), StringComparison.Ordinal);
        Assert.DoesNotContain("12345", FailureReason.Describe(error), StringComparison.Ordinal);
        Assert.Empty(await RowsAsync(account, "items"));
        var checkpoint = await destination.ClaimAsync(CancellationToken.None);
        Assert.Null(checkpoint.Position);
    }

    [Fact]
    public async Task EnsureTableAsync_AddsColumnsUnderPropagate_AndQuarantinesUnderQuarantine()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var destination = await ReadyAsync(account, epoch: 1, tables: Items);
        var wider = Table("items", Key("id"), Column("name", ValueKind.Text), Column("body", ValueKind.Text), Column("qty", ValueKind.Int64), Column("added", ValueKind.Date));

        var refused = await destination.EnsureTableAsync(wider, SchemaChangePolicy.Quarantine, CancellationToken.None);
        var followed = await destination.EnsureTableAsync(wider, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(wider, 10, 0, 1, "one", "b", 10_000_000_000L, new DateOnly(2025, 1, 2))), CancellationToken.None);

        Assert.Equal("the source table changed: added added; retyped qty (NUMBER(10,0) → NUMBER(19,0))", refused.QuarantineReason);
        Assert.Equal(["added"], followed.Added);
        Assert.Equal(["qty"], followed.Retyped);
        var row = Assert.Single(await account.Emulator.QueryAsync("""SELECT CAST("qty" AS VARCHAR), CAST("added" AS VARCHAR) FROM "FRESHET"."PUBLIC"."items" """));
        Assert.Equal<object?>(["10000000000", "2025-01-02"], row);
    }

    [Fact]
    public void LatencyTarget_OfASnowflakeConnection_IsTheLeastABatchWaits()
    {
        var spec = new PipelineSpec(Guid.NewGuid(), Guid.NewGuid(), "p", 1, 1,
            new EndpointSpec(ConnectionType.Postgres, new Dictionary<string, string>(), new Dictionary<string, string>()),
            Endpoint(new Uri("http://127.0.0.1:1/"), "unused", new() { ["batch_latency_target_s"] = "45" }), [], DeleteMode.Hard, SchemaChangePolicy.Propagate);

        Assert.Equal(45_000, PipelineRunner.DeliveryFor(spec).MaxBatchDelayMilliseconds);
        Assert.Equal(30_000, PipelineRunner.DeliveryFor(spec with { Destination = Endpoint(new Uri("http://127.0.0.1:1/"), "unused") }).MaxBatchDelayMilliseconds);
        Assert.Equal(90_000, PipelineRunner.DeliveryFor(spec with { Delivery = new DeliverySpec(MaxBatchDelayMilliseconds: 90_000) }).MaxBatchDelayMilliseconds);
        var bad = Assert.Throws<ArgumentException>(() => SnowflakeDestinationSettings.From(Endpoint(new Uri("http://127.0.0.1:1/"), "unused", new() { ["batch_latency_target_s"] = "0", ["database"] = "" })));
        Assert.Contains("'batch_latency_target_s': '0' must be a number of seconds above 0", bad.Message, StringComparison.Ordinal);
        Assert.Contains("setting 'database' is required", bad.Message, StringComparison.Ordinal);
    }

    internal static EndpointSpec Endpoint(Uri emulator, string privateKeyPem, Dictionary<string, string>? settings = null)
    {
        var all = new Dictionary<string, string>
        {
            ["account"] = SnowflakeTestAccount.Account.Identifier,
            ["user"] = "loader",
            ["warehouse"] = "LOADING",
            ["database"] = "FRESHET",
            ["schema"] = "PUBLIC",
            ["endpoint"] = emulator.ToString(),
        };
        foreach (var (name, value) in settings ?? [])
        {
            all[name] = value;
        }

        return new EndpointSpec(ConnectionType.Snowflake, all, new Dictionary<string, string> { ["private_key"] = privateKeyPem });
    }

    private static SnowflakeDestination Create(SnowflakeTestAccount account, long epoch, Guid pipelineId, DeleteMode deleteMode = DeleteMode.Hard, Dictionary<string, string>? settings = null) =>
        new(new DestinationContext(pipelineId, epoch, deleteMode, Endpoint(account.Emulator.BaseAddress, account.Key.ExportPkcs8PrivateKeyPem(), settings), TimeProvider.System),
            NullLoggerFactory.Instance);

    private static async Task<SnowflakeDestination> ReadyAsync(
        SnowflakeTestAccount account, long epoch, TableSchema[] tables, Guid? pipelineId = null, DeleteMode deleteMode = DeleteMode.Hard, Dictionary<string, string>? settings = null)
    {
        var destination = Create(account, epoch, pipelineId ?? Guid.NewGuid(), deleteMode, settings);
        await destination.ClaimAsync(CancellationToken.None);
        foreach (var table in tables)
        {
            var setup = await destination.EnsureTableAsync(table, SchemaChangePolicy.Propagate, CancellationToken.None);
            Assert.Null(setup.QuarantineReason);
        }

        return destination;
    }

    private static Task<SnowflakeDestination> ReadyAsync(SnowflakeTestAccount account, long epoch, TableSchema tables, Guid? pipelineId = null, DeleteMode deleteMode = DeleteMode.Hard,
        Dictionary<string, string>? settings = null) => ReadyAsync(account, epoch, [tables], pipelineId, deleteMode, settings);

    /// <summary>Rows of a test table as id|name|body|qty|position|sequence, ordered by id (∅ for null).</summary>
    private static async Task<List<string>> RowsAsync(SnowflakeTestAccount account, string table)
    {
        var rows = await account.Emulator.QueryAsync(
            $"""SELECT "id", "name", "body", "qty", "{MetadataColumns.Position}", "{MetadataColumns.Sequence}" FROM "FRESHET"."PUBLIC"."{table}" ORDER BY "id" """);
        return [.. rows.Select(r => string.Join("|", r.Select(v => v is null ? "∅" : Convert.ToString(v, CultureInfo.InvariantCulture))))];
    }
}
