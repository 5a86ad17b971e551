using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.BigQuery;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>
/// The BigQuery destination against the emulator: keyed tables through Storage Write CDC with the checkpoint after the
/// rows, replays, unchanged values and soft deletes through the MERGE path, keyless tables and write_method=merge, the
/// epoch fence against a zombie, snapshot chunks written again, re-snapshots, schema policies and a table whose rows
/// BigQuery refuses.
/// </summary>
public sealed class BigQueryDestinationTests
{
    private static readonly DateTimeOffset SnapshotTakenAt = new(2025, 3, 4, 5, 6, 7, 123, TimeSpan.Zero);

    private static readonly TableSchema Items = Table("items", Key("id"), Column("name", ValueKind.Text), Column("body", ValueKind.Text), Column("qty", ValueKind.Int32));

    private static readonly TableSchema Prices = Table("prices", Key("id"), Column("price", ValueKind.Decimal, "numeric(4,1)", precision: 4, scale: 1));

    [Fact]
    public async Task ApplyAsync_KeyedTable_GoesByStorageWriteCdc_AndTheCheckpointFollowsTheRows()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: Items);
        var queriesBefore = bq.Emulator.ExecutedQueries;
        var rowsBefore = bq.Emulator.Storage.Rows;
        await destination.ApplyAsync(Batch(
            Insert(Items, 10, 0, 1, "one", "body 1", 1),
            Insert(Items, 10, 1, 2, "two", "body 2", 2),
            Insert(Items, 10, 2, 3, "three", "body 3", 3),
            Insert(Items, 10, 3, 4, "four", "body 4", 4)), CancellationToken.None);

        await destination.ApplyAsync(Batch(
            Update(Items, 20, 0, 2, "two v2", "body 2b", 22),
            // Written and deleted in one batch: folded to a DELETE.
            Insert(Items, 20, 2, 5, "five", "body 5", 5),
            Delete(Items, 20, 3, 5),
            Delete(Items, 20, 4, 4),
            Insert(Items, 20, 5, 6, "six", null, 6)), CancellationToken.None);

        Assert.Equal(["1|one|body 1|1|10|0", "2|two v2|body 2b|22|20|0", "3|three|body 3|3|10|2", "6|six|∅|6|20|5"], await RowsAsync(bq, "items"));
        // Rows through Storage Write (4, then 2 upserts and 2 deletes); one query job (the fenced checkpoint script) per batch.
        Assert.Equal(8, bq.Emulator.Storage.Rows - rowsBefore);
        Assert.Equal(2, bq.Emulator.ExecutedQueries - queriesBefore);
        var checkpoint = await destination.ClaimAsync(CancellationToken.None);
        Assert.Equal(("resume-20", 20L, 5L), (checkpoint.Position, checkpoint.AppliedPosition, checkpoint.AppliedSequence));
        var table = await bq.Rest.GetTableAsync("freshet", "items", CancellationToken.None);
        Assert.Equal(["id"], table!.PrimaryKey);
    }

    [Fact]
    public async Task ReplayedAndReorderedBatches_ChangeNothing()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: Items);
        var first = Batch(Insert(Items, 10, 0, 1, "one", "b", 1), Insert(Items, 10, 1, 2, "two", "b", 2));
        var second = Batch(Update(Items, 20, 0, 1, "one v2", "b", 11), Delete(Items, 20, 1, 2));
        await destination.ApplyAsync(first, CancellationToken.None);
        await destination.ApplyAsync(second, CancellationToken.None);
        var after = await RowsAsync(bq, "items");

        // A crash before the checkpoint replays batches; the default stream may also deliver a request twice.
        await destination.ApplyAsync(first, CancellationToken.None);
        await destination.ApplyAsync(second, CancellationToken.None);
        await destination.ApplyAsync(first, CancellationToken.None);

        Assert.Equal(["1|one v2|b|11|20|0"], after);
        Assert.Equal(after, await RowsAsync(bq, "items"));
    }

    [Fact]
    public async Task UnchangedValues_AndKeyChanges_GoThroughMerge_AndKeepTheTargetsValues()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: Items);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "body 1", 1), Insert(Items, 10, 1, 2, "two", "body 2", 2),
            Insert(Items, 10, 2, 3, "three", "body 3", 3)), CancellationToken.None);

        await destination.ApplyAsync(Batch(
            // Older than the target row: the MERGE's guard ignores it.
            Update(Items, 5, 0, 1, "stale", "x", 0),
            Update(Items, 20, 0, 2, "two v2", Unchanged, Unchanged),
            // Key 3 becomes 30, carrying its unchanged body from the old key's row.
            KeyChange(Items, 20, 1, [3], 30, "thirty", Unchanged, 33)), CancellationToken.None);

        Assert.Equal(["1|one|body 1|1|10|0", "2|two v2|body 2|2|20|0", "30|thirty|body 3|33|20|1"], await RowsAsync(bq, "items"));
        // The placement's staging table is left empty.
        var staged = await bq.Emulator.QueryAsync("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_freshet_stage_%'");
        var stage = (string)Assert.Single(staged)[0]!;
        Assert.Equal(0L, Convert.ToInt64((await bq.Emulator.QueryAsync($"""SELECT count(*) FROM "freshet"."{stage}" """)).Single()[0], CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task SoftDeletesAndTruncate_MarkRowsAndKeepNewerOnes()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: Items, deleteMode: DeleteMode.Soft);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "b", 1), Insert(Items, 10, 1, 2, "two", "b", 2), Insert(Items, 30, 0, 3, "three", "b", 3)),
            CancellationToken.None);

        await destination.ApplyAsync(Batch(Delete(Items, 20, 0, 1), Truncate(Items, 25, 0), Insert(Items, 25, 1, 4, "four", "b", 4)), CancellationToken.None);
        // Written and deleted in one batch: the values travel with the delete (CDC, no MERGE needed).
        await destination.ApplyAsync(Batch(Insert(Items, 40, 0, 5, "five", "b", 5), Delete(Items, 40, 1, 5)), CancellationToken.None);

        var rows = await bq.Emulator.QueryAsync(
            $"""SELECT "id", "name", "{MetadataColumns.Deleted}", "{MetadataColumns.DeletedAt}" IS NOT NULL FROM "freshet"."items" ORDER BY "id" """);
        Assert.Equal(["1|one|True|True", "2|two|True|True", "3|three|False|False", "4|four|False|False", "5|five|True|True"],
            rows.Select(r => string.Join("|", r)).ToList());
    }

    [Fact]
    public async Task KeylessTargetTable_AndWriteMethodMerge_GoThroughStagingAndMerge()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        // A target table made by hand without a primary key: Storage Write CDC is impossible there.
        await bq.Rest.CreateTableAsync("freshet", "items",
            [new("id", "INT64", null, null, true, ProtoEncoding.Int64), new("name", "STRING", null, null, false, ProtoEncoding.String),
             new("body", "STRING", null, null, false, ProtoEncoding.String), new("qty", "INT64", null, null, false, ProtoEncoding.Int64)],
            [], null, CancellationToken.None);
        await using var keyless = await ReadyAsync(bq, epoch: 1, tables: Items);
        await using var merging = await ReadyAsync(bq, epoch: 1, tables: Prices, settings: new() { ["write_method"] = "merge" });
        var batch = Batch(Insert(Items, 10, 0, 1, "one", "b", 1), Insert(Items, 10, 1, 2, "two", "b", 2), Update(Items, 10, 2, 1, "one v2", "b", 11), Delete(Items, 10, 3, 2));
        var rowsBefore = bq.Emulator.Storage.Rows;

        await keyless.ApplyAsync(batch, CancellationToken.None);
        await keyless.ApplyAsync(batch, CancellationToken.None);
        await keyless.ApplyAsync(Batch(Insert(Items, 20, 0, 3, "three", "b", 3)), CancellationToken.None);
        await merging.ApplyAsync(Batch(Insert(Prices, 10, 0, 1, 1.5m), Insert(Prices, 10, 1, 2, 2.5m)), CancellationToken.None);
        await merging.ApplyAsync(Batch(Update(Prices, 20, 0, 1, 9.5m)), CancellationToken.None);

        Assert.Equal(["1|one v2|b|11|10|2", "3|three|b|3|20|0"], await RowsAsync(bq, "items"));
        Assert.Equal(["1|9.5|20", "2|2.5|10"],
            (await bq.Emulator.QueryAsync($"""SELECT "id", "price", "{MetadataColumns.Position}" FROM "freshet"."prices" ORDER BY "id" """))
            .Select(r => string.Join("|", r.Select(v => Convert.ToString(v, CultureInfo.InvariantCulture)))).ToList());
        // Staged rows only: the folded batch twice (2 rows each), then 1, 2 and 1.
        Assert.Equal(8, bq.Emulator.Storage.Rows - rowsBefore);
        var prices = await bq.Rest.GetTableAsync("freshet", "prices", CancellationToken.None);
        Assert.Equal(["id"], prices!.PrimaryKey);
    }

    [Fact]
    public async Task ZombieWorker_IsFencedBeforeItsCheckpointLands_AndItsRowsAreHarmless()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        var pipeline = Guid.NewGuid();
        await using var zombie = await ReadyAsync(bq, epoch: 3, tables: Items, pipelineId: pipeline);
        await zombie.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "b", 1)), CancellationToken.None);
        await using var successor = await ReadyAsync(bq, epoch: 4, tables: Items, pipelineId: pipeline);
        var resumeFrom = await successor.ClaimAsync(CancellationToken.None);

        // The zombie's rows reach BigQuery (Storage Write has no transaction), its checkpoint does not.
        var replayed = Batch(Update(Items, 20, 0, 1, "one v2", "b", 11), Insert(Items, 20, 1, 2, "two", "b", 2));
        var fenced = await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.ApplyAsync(replayed, CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.FinishSnapshotAsync("zombie", CancellationToken.None));
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None));
        await using (var late = Create(bq, epoch: 2, pipeline))
        {
            await Assert.ThrowsAsync<PipelineFencedException>(() => late.ClaimAsync(CancellationToken.None));
        }

        // The successor resumes from the checkpoint and replays the same changes, then newer ones; the zombie writes once more.
        await successor.ApplyAsync(replayed, CancellationToken.None);
        await successor.ApplyAsync(Batch(Update(Items, 30, 0, 2, "two v3", "b", 22)), CancellationToken.None);
        await Assert.ThrowsAsync<PipelineFencedException>(() => zombie.ApplyAsync(replayed, CancellationToken.None));

        Assert.Equal(4, fenced.OwnerEpoch);
        Assert.Equal(("resume-10", 10L), (resumeFrom.Position, resumeFrom.AppliedPosition));
        Assert.Equal(["1|one v2|b|11|20|0", "2|two v3|b|22|30|0"], await RowsAsync(bq, "items"));
        var checkpoint = await successor.ClaimAsync(CancellationToken.None);
        Assert.Equal((4L, "resume-30"), (checkpoint.Epoch, checkpoint.Position));
    }

    [Fact]
    public async Task RefusedRow_NamesItsTable_WithoutItsValue_AndNoCheckpointIsWritten()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: [Items, Prices]);

        // NUMERIC(4,1) holds at most 999.9.
        var error = await Assert.ThrowsAsync<TableApplyException>(() => destination.ApplyAsync(
            Batch(Insert(Items, 10, 0, 1, "one", "b", 1), Insert(Prices, 10, 1, 1, 12345.6m)), CancellationToken.None));

        Assert.Equal(Prices.Source, error.Table);
        Assert.Contains("refused 1 row(s) of prices", FailureReason.Describe(error), StringComparison.Ordinal);
        Assert.DoesNotContain("12345", FailureReason.Describe(error), StringComparison.Ordinal);
        Assert.Empty(await RowsAsync(bq, "prices", "price"));
        var checkpoint = await destination.ClaimAsync(CancellationToken.None);
        Assert.Null(checkpoint.Position);

        // The engine quarantines the table (after its attempts) and the batch goes on without it; the quarantine outlives the run.
        await destination.SaveQuarantineAsync(new Dictionary<TableId, string> { [Prices.Source] = FailureReason.Describe(error) }, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "b", 1)), CancellationToken.None);
        var after = await destination.ClaimAsync(CancellationToken.None);
        Assert.Equal(FailureReason.Describe(error), after.Quarantined[Prices.Source]);
        Assert.Equal(["1|one|b|1|10|0"], await RowsAsync(bq, "items"));
    }

    [Fact]
    public async Task SnapshotChunks_WrittenAgainWhenResumed_LeaveOneRowPerKey_AndResnapshotRecordsItsRequestOnce()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await bq.Rest.CreateTableAsync("freshet", "prices",
            [new("id", "INT64", null, null, true, ProtoEncoding.Int64), new("price", "NUMERIC", 4, 1, false, ProtoEncoding.String)], [], null, CancellationToken.None);
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: [Items, Prices]);
        await destination.BeginSnapshotAsync([Items, Prices], "first plan", CancellationToken.None);
        var items = Enumerable.Range(1, 50).Select(i => new object?[] { i, $"name {i}", "b", i }).ToArray();
        var prices = Enumerable.Range(1, 30).Select(i => new object?[] { i, i + 0.5m }).ToArray();
        await destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(0, 7, SnapshotTakenAt), items.ToAsyncEnumerable(), CancellationToken.None);
        await destination.CopySnapshotChunkAsync(Prices, new SnapshotChunk(0, 7, SnapshotTakenAt), prices.ToAsyncEnumerable(), CancellationToken.None);
        // A crash after the rows but before the run learnt of the records: the chunks are copied again.
        Assert.Equal(50, await destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(0, 7, SnapshotTakenAt, Resumed: true), items.ToAsyncEnumerable(), CancellationToken.None));
        Assert.Equal(30, await destination.CopySnapshotChunkAsync(Prices, new SnapshotChunk(0, 7, SnapshotTakenAt, Resumed: true), prices.ToAsyncEnumerable(), CancellationToken.None));
        await destination.FinishSnapshotAsync("after-first", CancellationToken.None);
        await destination.ApplyAsync(Batch(Update(Items, 10, 0, 2, "two v2", "b", 2)), CancellationToken.None);
        var counts = await bq.Emulator.QueryAsync("""SELECT (SELECT count(*) FROM "freshet"."items"), (SELECT count(DISTINCT id) FROM "freshet"."items"), (SELECT count(*) FROM "freshet"."prices") """);
        var chunks = await destination.ReadCompletedChunksAsync(CancellationToken.None);
        var request = Guid.NewGuid();

        await destination.BeginSnapshotAsync([Items], "again", [request], CancellationToken.None);
        await destination.BeginSnapshotAsync([Items], "again", [request], CancellationToken.None);
        var during = await destination.ClaimAsync(CancellationToken.None);
        var chunksDuring = await destination.ReadCompletedChunksAsync(CancellationToken.None);
        await destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(0, 40, SnapshotTakenAt), items.Take(3).ToAsyncEnumerable(), CancellationToken.None);
        await destination.FinishSnapshotAsync("after-whole", restartsStream: true, CancellationToken.None);
        var after = await destination.ClaimAsync(CancellationToken.None);

        Assert.Equal<object?>([50L, 50L, 30L], counts.Single());
        Assert.Equal([(Items.Source, 0), (Prices.Source, 0)], chunks.OrderBy(c => c.Table.Name));
        Assert.Equal(["1|name 1|b|1|40|0", "2|name 2|b|2|40|0", "3|name 3|b|3|40|0"], await RowsAsync(bq, "items"));
        Assert.Equal((Prices.Source, 0), Assert.Single(chunksDuring));
        Assert.Equal(request, Assert.Single(await destination.ReadHandledResnapshotsAsync(CancellationToken.None)));
        Assert.Equal(("again", 10L), (during.Snapshot, during.AppliedPosition));
        Assert.Equal(((string?)null, "after-whole", 0L, 0L), (after.Snapshot, after.Position, after.AppliedPosition, after.AppliedSequence));
    }

    [Fact]
    public async Task SnapshotFromNothing_WhoseSourcePositionsRestartedLower_StillReplacesTheRowsAndStreamsOn()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: Items);
        await destination.ApplyAsync(Batch(Insert(Items, 5000, 0, 1, "old one", "b", 1), Insert(Items, 5000, 1, 2, "old two", "b", 2)), CancellationToken.None);

        // A MySQL binlog renumbered by RESET MASTER: the new snapshot and the changes after it carry lower positions than
        // the rows BigQuery holds, so only the generation section of their sequence numbers lets them win.
        await destination.BeginSnapshotAsync([Items], "from nothing", CancellationToken.None);
        await destination.CopySnapshotChunkAsync(Items, new SnapshotChunk(0, 7, SnapshotTakenAt),
            new[] { new object?[] { 1, "one", "b", 1 }, new object?[] { 2, "two", "b", 2 } }.ToAsyncEnumerable(), CancellationToken.None);
        await destination.FinishSnapshotAsync("after-whole", restartsStream: true, CancellationToken.None);
        await destination.ApplyAsync(Batch(Update(Items, 9, 0, 1, "one v2", "b", 11), Delete(Items, 9, 1, 2)), CancellationToken.None);

        Assert.Equal(["1|one v2|b|11|9|0"], await RowsAsync(bq, "items"));
    }

    [Fact]
    public async Task EnsureTableAsync_FollowsThePolicy_AddingAndDroppingColumns_AndRefusingWhatBigQueryCannotDo()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var destination = await ReadyAsync(bq, epoch: 1, tables: Items, settings: new() { ["max_staleness_minutes"] = "90" });
        var wider = Table("items", Key("id"), Column("name", ValueKind.Text), Column("qty", ValueKind.Int32), Column("added", ValueKind.Date));
        var retyped = Table("items", Key("id"), Column("name", ValueKind.Text), Column("qty", ValueKind.Text), Column("added", ValueKind.Date));

        var refused = await destination.EnsureTableAsync(wider, SchemaChangePolicy.Quarantine, CancellationToken.None);
        var ignored = await destination.EnsureTableAsync(wider, SchemaChangePolicy.Ignore, CancellationToken.None);
        var followed = await destination.EnsureTableAsync(wider, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(wider, 10, 0, 1, "one", 5, new DateOnly(2025, 1, 2))), CancellationToken.None);
        var notRetyped = await destination.EnsureTableAsync(retyped, SchemaChangePolicy.Propagate, CancellationToken.None);
        var rekeyed = Table("items", Column("id", ValueKind.Int32), Key("name", ValueKind.Text), Column("qty", ValueKind.Int32), Column("added", ValueKind.Date));
        var keyRefused = await destination.EnsureTableAsync(rekeyed, SchemaChangePolicy.AddColumnsOnly, CancellationToken.None);
        var keyFollowed = await destination.EnsureTableAsync(rekeyed, SchemaChangePolicy.Propagate, CancellationToken.None);
        Assert.Null(keyFollowed.QuarantineReason);
        await destination.ApplyAsync(Batch(Update(rekeyed, 20, 0, 1, "one", 6, new DateOnly(2025, 1, 3))), CancellationToken.None);

        Assert.Equal("the source table changed: added added; dropped body", refused.QuarantineReason);
        Assert.Equal(["added"], ignored.Ignored);
        Assert.Empty(ignored.Dropped);
        Assert.Equal(["added"], followed.Added);
        Assert.Equal(["body"], followed.Dropped);
        Assert.StartsWith("the target could not follow the source (retyped qty (INT64 → STRING))", notRetyped.QuarantineReason, StringComparison.Ordinal);
        Assert.Equal("the source table's key changed, which policy AddColumnsOnly cannot follow: key (id) → (name)", keyRefused.QuarantineReason);
        // Followed by MERGE on the new key: the row whose name is "one" was updated.
        var row = Assert.Single(await bq.Emulator.QueryAsync("""SELECT "id", "name", "qty", CAST("added" AS VARCHAR) FROM "freshet"."items" """));
        Assert.Equal<object?>([1L, "one", 6L, "2025-01-03"], row);
        var table = await bq.Rest.GetTableAsync("freshet", "items", CancellationToken.None);
        Assert.Equal("0-0 0 1:30:0", table!.MaxStaleness);
        Assert.DoesNotContain(table.Columns, c => c.Name == "body");
    }

    [Fact]
    public void Settings_AreCheckedTogether_AndTheLatencyTargetIsTheLeastABatchWaits()
    {
        var spec = new PipelineSpec(Guid.NewGuid(), Guid.NewGuid(), "p", 1, 1,
            new EndpointSpec(ConnectionType.Postgres, new Dictionary<string, string>(), new Dictionary<string, string>()),
            Endpoint(new Uri("http://127.0.0.1:1/"), new Uri("http://127.0.0.1:2/"), "{}", new() { ["batch_latency_target_s"] = "45" }), [], DeleteMode.Hard, SchemaChangePolicy.Propagate);

        Assert.Equal(45_000, PipelineRunner.DeliveryFor(spec).MaxBatchDelayMilliseconds);
        Assert.Equal(30_000, PipelineRunner.DeliveryFor(spec with { Destination = Endpoint(new Uri("http://127.0.0.1:1/"), new Uri("http://127.0.0.1:2/"), "{}") })
            .MaxBatchDelayMilliseconds);
        var bad = Assert.Throws<ArgumentException>(() => BigQueryDestinationSettings.From(Endpoint(new Uri("http://127.0.0.1:1/"), new Uri("http://127.0.0.1:2/"), "",
            new() { ["batch_latency_target_s"] = "0", ["write_method"] = "insert_all", ["max_staleness_minutes"] = "2000", ["dataset"] = "" })));
        foreach (var expected in new[]
            {
                "setting 'dataset' is required", "'batch_latency_target_s': '0' must be a number of seconds above 0", "'write_method': 'insert_all' must be storage_write or merge",
                "'max_staleness_minutes': '2000' must be a whole number of minutes from 0 to 1440", "secret 'service_account_json' is required",
            })
        {
            Assert.Contains(expected, bad.Message, StringComparison.Ordinal);
        }
    }

    internal static EndpointSpec Endpoint(Uri rest, Uri storage, string keyJson, Dictionary<string, string>? settings = null)
    {
        var all = new Dictionary<string, string>
        {
            ["project_id"] = "freshet-emulator",
            ["dataset"] = "freshet",
            ["location"] = "US",
            ["rest_endpoint"] = rest.ToString(),
            ["storage_endpoint"] = storage.ToString(),
        };
        foreach (var (name, value) in settings ?? [])
        {
            all[name] = value;
        }

        return new EndpointSpec(ConnectionType.Bigquery, all, new Dictionary<string, string> { ["service_account_json"] = keyJson });
    }

    private static BigQueryDestination Create(BigQueryTestProject bq, long epoch, Guid pipelineId, DeleteMode deleteMode = DeleteMode.Hard, Dictionary<string, string>? settings = null) =>
        new(new DestinationContext(pipelineId, epoch, deleteMode, Endpoint(bq.Emulator.RestAddress, bq.Emulator.StorageAddress, bq.KeyJson, settings), TimeProvider.System),
            NullLoggerFactory.Instance);

    private static async Task<BigQueryDestination> ReadyAsync(
        BigQueryTestProject bq, long epoch, TableSchema[] tables, Guid? pipelineId = null, DeleteMode deleteMode = DeleteMode.Hard, Dictionary<string, string>? settings = null)
    {
        var destination = Create(bq, epoch, pipelineId ?? Guid.NewGuid(), deleteMode, settings);
        await destination.ClaimAsync(CancellationToken.None);
        foreach (var table in tables)
        {
            var setup = await destination.EnsureTableAsync(table, SchemaChangePolicy.Propagate, CancellationToken.None);
            Assert.Null(setup.QuarantineReason);
        }

        return destination;
    }

    private static Task<BigQueryDestination> ReadyAsync(BigQueryTestProject bq, long epoch, TableSchema tables, Guid? pipelineId = null, DeleteMode deleteMode = DeleteMode.Hard,
        Dictionary<string, string>? settings = null) => ReadyAsync(bq, epoch, [tables], pipelineId, deleteMode, settings);

    /// <summary>Rows of a test table as id|columns…|position|sequence, ordered by id (∅ for null).</summary>
    private static async Task<List<string>> RowsAsync(BigQueryTestProject bq, string table, string columns = "\"name\", \"body\", \"qty\"")
    {
        var rows = await bq.Emulator.QueryAsync(
            $"""SELECT "id", {columns}, "{MetadataColumns.Position}", "{MetadataColumns.Sequence}" FROM "freshet"."{table}" ORDER BY "id" """);
        return [.. rows.Select(r => string.Join("|", r.Select(v => v is null ? "∅" : Convert.ToString(v, CultureInfo.InvariantCulture))))];
    }
}
