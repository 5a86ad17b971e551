using Freshet.Contracts;
using Freshet.DataPlane.Engine;

namespace Freshet.Bench;

/// <summary>
/// bench/run pg-snapshot — initial copy of a 5,000,000-row table into DuckDB.
///
/// Ours: from the worker's launch to the last snapshot chunk's done_at in the destination (read after the worker
/// stopped). Baseline: `psql -c "COPY … TO STDOUT" | psql -c "COPY … FROM STDIN"` into an identical empty table (same
/// primary key) in another database of the same cluster, timed. Both read the same table, vacuumed and analyzed after
/// the load, with a checkpoint before each copy. BENCH_ROWS, BENCH_SNAPSHOT_CHUNK_ROWS, BENCH_SNAPSHOT_PARALLELISM
/// change the run (the delivery defaults otherwise).
/// </summary>
internal static class PgSnapshotBench
{
    private const string Name = "pg-snapshot";
    private const int LoadStatementRows = 1_000_000;

    public static async Task RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var defaults = new DeliverySpec();
        var rows = BenchSettings.Number("BENCH_ROWS", 5_000_000);
        var delivery = defaults with
        {
            SnapshotChunkRows = BenchSettings.Number("BENCH_SNAPSHOT_CHUNK_ROWS", defaults.SnapshotChunkRows),
            SnapshotParallelism = BenchSettings.Number("BENCH_SNAPSHOT_PARALLELISM", defaults.SnapshotParallelism),
        };
        var busyBefore = await Machine.CheckAsync(Name, cancellationToken);

        await using var source = await BenchDatabase.CreateAsync(settings, "bench_snapshot_src", cancellationToken);
        await using var copy = await BenchDatabase.CreateAsync(settings, "bench_snapshot_copy", cancellationToken);
        await source.ExecuteAsync(BenchPipeline.CreateTable, cancellationToken);
        await copy.ExecuteAsync(BenchPipeline.CreateTable, cancellationToken);
        var time = TimeProvider.System;
        var loadStarted = time.GetTimestamp();
        for (long first = 1; first <= rows; first += LoadStatementRows)
        {
            await source.ExecuteAsync(BenchPipeline.InsertRange(first, Math.Min(rows, first + LoadStatementRows - 1)), cancellationToken);
        }

        await source.ExecuteAsync($"VACUUM (ANALYZE) {BenchPipeline.Table}", cancellationToken);
        var size = await source.ScalarAsync<string>($"SELECT pg_size_pretty(pg_table_size('{BenchPipeline.Table}'))", cancellationToken);
        Report.Line(Name, $"source table: {rows:N0} rows, {size} (loaded and vacuumed in {time.GetElapsedTime(loadStarted).TotalSeconds:0.0} s)");

        // Ours.
        var pipelineId = Guid.NewGuid();
        var duckDb = Path.Combine(settings.WorkDir, "snapshot.duckdb");
        var spec = await BenchPipeline.WriteSpecAsync(settings, pipelineId, source.Name, duckDb, delivery, cancellationToken);
        await source.ExecuteAsync("CHECKPOINT", cancellationToken);
        (double PeakRssMb, double CpuSeconds) final;
        double readerCpu;
        DateTimeOffset launchedAt;
        double snapshottingAfter;
        DateTimeOffset? sessionsClosedAt;
        var harnessCpuBefore = Environment.CpuUsage.TotalTime;
        await using (var readers = new CpuTracker(ct => source.BackendsAsync("freshet-worker", ct)))
        {
            using var stopWatching = new CancellationTokenSource();
            var sessionsClosed = WatchSnapshotSessionsAsync(source, stopWatching.Token);
            await using var worker = WorkerProcess.Start(settings, spec, "worker");
            launchedAt = worker.LaunchedAt;
            var snapshotting = await worker.WaitForAsync(r => r.State is PipelineRunState.Snapshotting or PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "the snapshot", cancellationToken);
            snapshottingAfter = (snapshotting.ReportedAt - launchedAt).TotalSeconds;
            await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(15), "the end of the snapshot", cancellationToken);
            await stopWatching.CancelAsync();
            sessionsClosedAt = await sessionsClosed;
            await worker.StopAsync();
            final = worker.Final!.Value;
            readerCpu = readers.Seconds;
        }

        var harnessCpu = (Environment.CpuUsage.TotalTime - harnessCpuBefore).TotalSeconds;

        var chunks = await DestinationFile.RowAsync(duckDb, $"""
            SELECT count(*), sum(row_count), {DestinationFile.Seconds("min(done_at)")}, {DestinationFile.Seconds("max(done_at)")}
            FROM _freshet_snapshot_chunks
            """, cancellationToken);
        var copied = await DestinationFile.RowAsync(duckDb, $"SELECT count(*) FROM {BenchPipeline.Table}", cancellationToken);
        if (copied[0] != rows || chunks[1] != rows)
        {
            throw new BenchException($"the destination holds {copied[0]} rows ({chunks[1]} in its chunk records), expected {rows}");
        }

        var launched = launchedAt.ToUnixTimeMilliseconds() / 1000.0;
        var oursSeconds = chunks[3] - launched;
        var ours = rows / oursSeconds;
        var duckDbMb = new FileInfo(duckDb).Length / 1024.0 / 1024.0;
        Report.Line(Name, $"ours: {rows:N0} rows in {oursSeconds:0.00} s from worker launch to the last chunk = {ours:N0} rows/s ({chunks[0]:0} chunks of {delivery.SnapshotChunkRows:N0}, parallelism {delivery.SnapshotParallelism}; snapshotting state {snapshottingAfter:0.0} s and first chunk done {chunks[2] - launched:0.0} s after launch; DuckDB file {duckDbMb:0} MB)");
        if (sessionsClosedAt is { } closed)
        {
            var endToEnd = (closed - launchedAt).TotalSeconds;
            Report.Line(Name, $"  the snapshot's source transactions closed {endToEnd:0.00} s after launch = {rows / endToEnd:N0} rows/s end to end (done_at is stamped before a chunk's rows are inserted into the target, so the figure above leaves out the last chunk's insert and commit)");
        }

        Report.Line(Name, $"  CPU: worker {final.CpuSeconds:0.0} s (process total), its COPY backends {readerCpu:0.0} s, this harness {harnessCpu:0.0} s; worker peak RSS {final.PeakRssMb:0} MB");
        DestinationFile.Delete(duckDb);

        // Baseline.
        await source.ExecuteAsync("CHECKPOINT", cancellationToken);
        ExternalTool.Result baseline;
        double baselineBackendCpu;
        await using (var backends = new CpuTracker(ct => source.BackendsAsync("psql", ct)))
        {
            var psql = settings.Tool("psql");
            baseline = await ExternalTool.RunCheckedAsync("bash", ["-c",
                $"set -o pipefail; '{psql}' -X -q -v ON_ERROR_STOP=1 -d {source.Name} -c 'COPY {BenchPipeline.Table} TO STDOUT' "
                + $"| '{psql}' -X -q -v ON_ERROR_STOP=1 -d {copy.Name} -c 'COPY {BenchPipeline.Table} FROM STDIN'"], cancellationToken);
            baselineBackendCpu = backends.Seconds;
        }

        var baselineRows = await copy.ScalarAsync<long>($"SELECT count(*) FROM {BenchPipeline.Table}", cancellationToken);
        if (baselineRows != rows)
        {
            throw new BenchException($"the baseline copied {baselineRows} rows, expected {rows}");
        }

        var baselineRate = rows / baseline.Elapsed.TotalSeconds;
        Report.Line(Name, $"baseline: psql COPY TO STDOUT | psql COPY FROM STDIN (same cluster, table with its primary key) {rows:N0} rows in {baseline.Elapsed.TotalSeconds:0.00} s = {baselineRate:N0} rows/s; CPU of both backends {baselineBackendCpu:0.0} s");
        var ratio = ours / baselineRate;
        Report.Line(Name, $"ratio: {ratio:0.00} (target >= 1.0)");
        Report.Summary(Name,
            ("rows_per_s", ours),
            ("baseline_rows_per_s", baselineRate),
            ("ratio", ratio),
            ("peak_rss_mb", final.PeakRssMb),
            ("end_to_end_rows_per_s", sessionsClosedAt is { } end ? rows / (end - launchedAt).TotalSeconds : double.NaN),
            ("chunk_rows", delivery.SnapshotChunkRows),
            ("parallelism", delivery.SnapshotParallelism),
            ("busy_before_pct", busyBefore));
    }

    /// <summary>
    /// Polls every 50 ms for the worker's snapshot transactions (REPEATABLE READ sessions held open for the whole copy);
    /// returns when they were first seen gone after having been open, i.e. after the last chunk and the snapshot's
    /// checkpoint were committed to the destination.
    /// </summary>
    private static async Task<DateTimeOffset?> WatchSnapshotSessionsAsync(BenchDatabase source, CancellationToken cancellationToken)
    {
        var seen = false;
        try
        {
            while (true)
            {
                var open = await source.OpenSnapshotSessionsAsync(cancellationToken);
                if (open > 0)
                {
                    seen = true;
                }
                else if (seen)
                {
                    return TimeProvider.System.GetUtcNow();
                }

                await Task.Delay(50, cancellationToken);
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
    }
}
