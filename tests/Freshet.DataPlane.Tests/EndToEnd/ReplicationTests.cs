using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// The whole path with a real worker process: snapshot while the source is being written, then streaming of a random
/// workload (every supported type, TOAST-unchanged values, key changes, truncates, rollbacks, aborted savepoints,
/// transactions streamed in progress); at the end the destination equals the source value by value.
/// </summary>
public sealed class ReplicationTests
{
    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task RandomWorkload_SnapshotDuringWritesThenStream_DestinationEqualsSource(Target target)
    {
        await using var harness = await PipelineHarness.CreateAsync(target, "e2e");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        var shop = new TestShop(harness.SourceConnectionString, seed: 42);
        await shop.LoadAsync(items: 3000, lines: 1000, events: 600);

        var spec = await harness.WriteSpecAsync(harness.Spec(delivery: new(MaxBatchDelayMilliseconds: 100, SnapshotChunkRows: 400, SnapshotParallelism: 2)));
        var workload = shop.RunAsync(transactions: 400);
        await using var worker = WorkerProcess.Start(spec);

        // While changes flow, other processes can read the DuckDB file: the writer lets them in between batches.
        var reads = 0;
        while (!workload.IsCompleted && target == Target.DuckDb)
        {
            if (File.Exists(harness.DuckDbPath))
            {
                try
                {
                    await TableContents.FromDuckDbAsync(harness.DuckDbPath, "order_lines", TestShop.LineColumns, ["order_id", "line"]);
                    reads++;
                }
                catch (DuckDB.NET.Data.DuckDBException e) when (e.Message.Contains("does not exist", StringComparison.Ordinal))
                {
                    // The table is not created yet.
                }
                catch (TimeoutException e)
                {
                    // A reader locked out for the whole timeout: keep what the writer was doing for the diagnosis.
                    throw new TimeoutException($"{e.Message}\nWorker output:\n{worker.Output}", e);
                }
            }

            await Task.Delay(300);
        }

        await workload;
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), worker);

        var differences = await harness.ShopDifferencesAsync();
        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(10));
        // order_lines may have been truncated by the workload before the snapshot was taken; the others are big enough for several chunks.
        Assert.True(report.Tables.Values.All(t => t.SnapshotChunksDone == t.SnapshotChunksTotal)
            && report.Tables["public.items"].SnapshotChunksTotal > 1 && report.Tables["public.events"].SnapshotChunksTotal > 1,
            string.Join(", ", report.Tables.Select(t => $"{t.Key}: {t.Value.SnapshotChunksDone}/{t.Value.SnapshotChunksTotal} chunks")));
        Assert.True(await harness.ScalarAsync<long>($"SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '{harness.SlotName}'") > 0,
            "no transaction was streamed in progress, so that path went untested");
        Assert.True(target != Target.DuckDb || reads > 0, "the DuckDB file could never be read while the pipeline ran");
    }

    /// <summary>
    /// A table of scalar columns only snapshots into DuckDB through the typed path (the COPY's bytes straight into
    /// DuckDB's vectors); every kind lands as the object path would land it, NULLs, extremes and non-ASCII text included.
    /// </summary>
    [Fact]
    public async Task ScalarTable_SnapshotIntoDuckDbValueByValue_EqualsSource()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.DuckDb, "typed");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        await new TestShop(harness.SourceConnectionString, seed: 11).LoadAsync(items: 3000, lines: 0, events: 0);
        string[] columns =
        [
            "id", "small", "qty", "price", "wide", "ratio", "score", "name", "code", "grade", "active", "day", "at_time", "at", "at_tz",
            "ref", "doc", "docb", "blob", "mood", "notes",
        ];
        await harness.ExecuteAsync($"""
            CREATE TABLE scalars AS SELECT {string.Join(", ", columns)} FROM items;
            ALTER TABLE scalars ADD PRIMARY KEY (id);
            INSERT INTO scalars (id, small, qty, price, ratio, score, name, day, at, at_tz) VALUES
                (100001, -32768, -2147483648, -999999999.999, 'NaN', '-Infinity', '', '0001-01-01', '2000-01-01', '1970-01-01+00'),
                (100002, 32767, 2147483647, 999999999.999, 'Infinity', 'NaN', 'ü', '9999-12-31', 'infinity', '-infinity'),
                (100003, 1, 1, 0.001, 0, 0, 'after the infinities: staged', '2026-12-04', '2026-12-04 21:00', '2026-12-04 21:00+00');
            """);

        var spec = await harness.WriteSpecAsync(harness.Spec(
            tables: [new TableSpec("public", "scalars")],
            delivery: new(MaxBatchDelayMilliseconds: 100, SnapshotChunkRows: 700, SnapshotParallelism: 2)));
        await using var worker = WorkerProcess.Start(spec);
        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));

        Assert.True(report.Tables["public.scalars"].SnapshotChunksTotal > 1);

        // The last chunk meets the row with infinities (a value the typed path hands on) and stages the rest of it.
        const string finite = "id <> 100002";
        var source = await TableContents.FromPostgresAsync(harness.SourceConnectionString, "scalars", columns, ["id"], TestShop.TextColumns, TestShop.JsonColumns, finite);
        var destination = await TableContents.FromDuckDbAsync(harness.DuckDbPath, "scalars", columns, ["id"], TestShop.JsonColumns, finite);
        var differences = destination.DifferencesFrom(source);
        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
        Assert.Equal(3000 + 2, source.Rows.Count);
        Assert.Equal(
            "infinity -infinity",
            await TableContents.ScalarFromDuckDbAsync(harness.DuckDbPath, "SELECT CAST(\"at\" AS VARCHAR) || ' ' || CAST(at_tz AS VARCHAR) FROM scalars WHERE id = 100002"));
    }
}
