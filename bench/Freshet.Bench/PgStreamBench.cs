using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.Bench;

/// <summary>
/// bench/run pg-stream — streaming throughput from PostgreSQL into DuckDB.
///
/// Live: the worker streams an empty table; 1,000,000 rows arrive as 100 transactions of 10,000 (one session, INSERT …
/// SELECT generate_series); ours = rows / (last row's destination commit − the moment before the first transaction).
/// Baseline: pg_recvlogical reads the same transactions through pgoutput from a second slot on the same publication,
/// created before the load and read after the worker stopped (so it has the machine alone), to the load's end LSN;
/// rows / its wall time. Because the live figure includes the load itself (both cores shared by the inserting backend,
/// the walsender and the worker), a catch-up run follows: another 1,000,000 rows are loaded while the worker is stopped,
/// then the worker starts and drains them alone; rows / (last destination commit − worker launch), the same situation
/// as the baseline's. BENCH_TRANSACTIONS / BENCH_ROWS_PER_TRANSACTION change the load; BENCH_CATCHUP=0 skips the
/// catch-up run; BENCH_MAX_BATCH_DELAY_MS overrides the latency target (default: the delivery default).
/// Before the live load the worker streams BENCH_WARMUP_ROWS (300,000; negative ids, 0 skips it) that are not counted:
/// a worker in service has long since compiled its hot paths to optimized code, while a process seconds old still
/// runs them as unoptimized or instrumented code and spends a core on the JIT. The catch-up run measures a cold
/// worker, start-up included.
/// </summary>
internal static class PgStreamBench
{
    private const string Name = "pg-stream";

    public static async Task RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var transactions = BenchSettings.Number("BENCH_TRANSACTIONS", 100);
        var rowsPerTransaction = BenchSettings.Number("BENCH_ROWS_PER_TRANSACTION", 10_000);
        var catchUp = BenchSettings.Number("BENCH_CATCHUP", 1) != 0;
        var warmUpRows = BenchSettings.Number("BENCH_WARMUP_ROWS", 300_000);
        var warmUpTransactions = warmUpRows > 0 ? Math.Max(1, warmUpRows / rowsPerTransaction) : 0;
        var warmUpTotal = (long)warmUpTransactions * rowsPerTransaction;
        var busyBefore = await Machine.CheckAsync(Name, cancellationToken);
        long rows = (long)transactions * rowsPerTransaction;

        await using var database = await BenchDatabase.CreateAsync(settings, "bench_stream", cancellationToken);
        // No autovacuum: nothing but the load writes WAL, so the load's end LSN is where the last commit ends.
        await database.ExecuteAsync(BenchPipeline.CreateTable + " WITH (autovacuum_enabled = off)", cancellationToken);
        var pipelineId = Guid.NewGuid();
        var slot = BenchPipeline.SlotName(pipelineId);
        var baselineSlot = "bench_baseline_" + pipelineId.ToString("N")[..8];
        var duckDb = Path.Combine(settings.WorkDir, "stream.duckdb");
        var defaults = new DeliverySpec();
        var delivery = defaults with
        {
            MaxBatchDelayMilliseconds = BenchSettings.Number("BENCH_MAX_BATCH_DELAY_MS", defaults.MaxBatchDelayMilliseconds),
            MaxBatchRows = BenchSettings.Number("BENCH_MAX_BATCH_ROWS", defaults.MaxBatchRows),
        };
        var spec = await BenchPipeline.WriteSpecAsync(settings, pipelineId, database.Name, duckDb, delivery, cancellationToken);
        Report.Line(
            Name,
            $"{rows:N0} rows as {transactions} transactions of {rowsPerTransaction:N0}; destination {duckDb}; latency target {delivery.MaxBatchDelayMilliseconds} ms, batches up to {delivery.MaxBatchRows:N0} rows{(delivery == defaults ? " (defaults)" : string.Empty)}, other delivery settings default");

        // Live: the worker streams while the load runs.
        Load load;
        (double PeakRssMb, double CpuSeconds) live;
        double walsenderCpu;
        double workerCpuBeforeLoad;
        TimeSpan caughtUpAfter;
        await using (var walsender = CpuTracker.Single(ct => database.SlotHolderAsync(slot, ct)))
        {
            await using var worker = WorkerProcess.Start(settings, spec, "worker-live");
            var streaming = await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
            Report.Line(Name, $"worker streaming {(streaming.ReportedAt - worker.LaunchedAt).TotalSeconds:0.0} s after launch");
            if (warmUpTransactions > 0)
            {
                // Before the baseline's slot exists, so pg_recvlogical never reads these.
                var warmUp = await LoadAsync(database, -warmUpTotal, warmUpTransactions, rowsPerTransaction, cancellationToken);
                var warmedAfter = await WaitForAcknowledgementAsync(database, slot, warmUp, worker, cancellationToken) - warmUp.StartedAt;
                Report.Line(Name, $"warm-up: {warmUpTotal:N0} rows (not counted) streamed in {warmedAfter.TotalSeconds:0.00} s");
            }

            await database.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{baselineSlot}', 'pgoutput')", cancellationToken);
            workerCpuBeforeLoad = ProcStats.CpuSeconds(worker.Id) ?? 0;

            load = await LoadAsync(database, 1, transactions, rowsPerTransaction, cancellationToken);
            Report.Line(Name, $"load: {load.Elapsed.TotalSeconds:0.00} s ({rows / load.Elapsed.TotalSeconds:N0} rows/s), end LSN {load.EndLsn}, inserting backend CPU {load.BackendCpuSeconds:0.00} s");
            caughtUpAfter = await WaitForAcknowledgementAsync(database, slot, load, worker, cancellationToken) - load.StartedAt;
            await worker.WaitForAsync(r => Inserted(r) >= warmUpTotal + rows, TimeSpan.FromMinutes(1), $"{rows:N0} rows counted", cancellationToken);
            await worker.StopAsync();
            live = worker.Final!.Value;
            walsenderCpu = walsender.Seconds;
        }

        var liveResult = await DestinationFile.RowAsync(duckDb, $"""
            SELECT count(*), {DestinationFile.Seconds("max(_freshet_synced_at)")}, count(DISTINCT _freshet_synced_at)
            FROM {BenchPipeline.Table} WHERE id BETWEEN 1 AND {rows}
            """, cancellationToken);
        Expect(liveResult[0], rows, "live");
        var liveSeconds = liveResult[1] - load.StartedAt.ToUnixTimeMilliseconds() / 1000.0;
        var ours = rows / liveSeconds;
        Report.Line(Name, $"ours (live): {rows:N0} rows in {liveSeconds:0.00} s from the first insert to the last destination commit = {ours:N0} rows/s, {liveResult[2]:0} destination commits");
        Report.Line(Name, $"  the last commit was acknowledged to the source {caughtUpAfter.TotalSeconds:0.00} s after the first insert = {rows / caughtUpAfter.TotalSeconds:N0} rows/s end to end (synced_at is stamped before a batch's rows are written, so the figure above leaves out the last batch's write and commit)");
        Report.Line(Name, $"  CPU during the live run: worker {live.CpuSeconds - workerCpuBeforeLoad:0.00} s, its walsender {walsenderCpu:0.00} s, inserting backend {load.BackendCpuSeconds:0.00} s; worker peak RSS {live.PeakRssMb:0} MB");

        // Baseline: pgoutput decoding to a client that discards it, alone on the machine.
        int? receiverPid = null;
        ExternalTool.Result baseline;
        double baselineWalsenderCpu;
        double receiverCpu;
        await using (var baselineWalsender = CpuTracker.Single(ct => database.SlotHolderAsync(baselineSlot, ct)))
        await using (var receiver = CpuTracker.Single(_ => Task.FromResult(receiverPid)))
        {
            baseline = await ExternalTool.RunCheckedAsync(settings.Tool("pg_recvlogical"), [
                "-d", settings.LibpqConnection(database.Name), $"--slot={baselineSlot}", "--start", $"--endpos={load.EndLsn}",
                "-o", "proto_version=1", "-o", $"publication_names={slot}", "-o", "binary=true", "--no-loop", "-f", "/dev/null"],
                cancellationToken, pid => receiverPid = pid);
            await Task.Delay(150, cancellationToken);
            baselineWalsenderCpu = baselineWalsender.Seconds;
            receiverCpu = receiver.Seconds;
        }

        var baselineRate = rows / baseline.Elapsed.TotalSeconds;
        var confirmed = await database.ConfirmedFlushAsync(baselineSlot, cancellationToken);
        if (confirmed is not { } reached || reached < load.EndLsn)
        {
            throw new BenchException($"pg_recvlogical stopped at {confirmed}, before the load's end {load.EndLsn}: {baseline.Error}");
        }

        Report.Line(Name, $"baseline: pg_recvlogical (pgoutput v1, binary) read the same {rows:N0} rows in {baseline.Elapsed.TotalSeconds:0.00} s = {baselineRate:N0} rows/s; CPU: walsender {baselineWalsenderCpu:0.00} s, pg_recvlogical {receiverCpu:0.00} s");
        var ratio = ours / baselineRate;
        Report.Line(Name, $"ratio (live / baseline): {ratio:0.00} (target >= 0.8)");

        var peakRss = live.PeakRssMb;
        var catchUpRate = double.NaN;
        if (catchUp)
        {
            var backlog = await LoadAsync(database, rows + 1, transactions, rowsPerTransaction, cancellationToken);
            Report.Line(Name, $"catch-up: loaded another {rows:N0} rows with the worker stopped ({backlog.Elapsed.TotalSeconds:0.00} s); starting it again");
            await using var walsender = CpuTracker.Single(ct => database.SlotHolderAsync(slot, ct));
            await using var worker = WorkerProcess.Start(settings, spec, "worker-catchup");
            var streaming = await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
            var acknowledged = await WaitForAcknowledgementAsync(database, slot, backlog, worker, cancellationToken);
            await worker.WaitForAsync(r => Inserted(r) >= rows, TimeSpan.FromMinutes(1), $"{rows:N0} rows counted", cancellationToken);
            await worker.StopAsync();
            var final = worker.Final!.Value;
            peakRss = Math.Max(peakRss, final.PeakRssMb);
            var result = await DestinationFile.RowAsync(duckDb, $"""
                SELECT count(*), {DestinationFile.Seconds("min(_freshet_synced_at)")}, {DestinationFile.Seconds("max(_freshet_synced_at)")}, count(DISTINCT _freshet_synced_at)
                FROM {BenchPipeline.Table} WHERE id > {rows}
                """, cancellationToken);
            Expect(result[0], rows, "catch-up");
            var launched = worker.LaunchedAt.ToUnixTimeMilliseconds() / 1000.0;
            var seconds = result[2] - launched;
            catchUpRate = rows / seconds;
            Report.Line(Name, $"ours (catch-up): {rows:N0} rows in {seconds:0.00} s from worker launch to the last destination commit = {catchUpRate:N0} rows/s ({catchUpRate / baselineRate:0.00} of the baseline); streaming state {(streaming.ReportedAt - worker.LaunchedAt).TotalSeconds:0.0} s and first commit {result[1] - launched:0.00} s after launch; {result[3]:0} destination commits; last commit acknowledged {(acknowledged - worker.LaunchedAt).TotalSeconds:0.00} s after launch");
            Report.Line(Name, $"  CPU: worker {final.CpuSeconds:0.00} s (process total), its walsender {walsender.Seconds:0.00} s; worker peak RSS {final.PeakRssMb:0} MB");
        }

        DestinationFile.Delete(duckDb);
        Report.Summary(Name,
            ("rows_per_s", ours),
            ("baseline_rows_per_s", baselineRate),
            ("ratio", ratio),
            ("peak_rss_mb", peakRss),
            ("acked_rows_per_s", rows / caughtUpAfter.TotalSeconds),
            ("load_rows_per_s", rows / load.Elapsed.TotalSeconds),
            ("catchup_rows_per_s", catchUpRate),
            ("catchup_ratio", catchUpRate / baselineRate),
            ("busy_before_pct", busyBefore));
    }

    internal static long Inserted(PipelineProgressReport report) => report.Tables.Values.Sum(t => t.Inserted);

    private static void Expect(double found, long rows, string run)
    {
        if (found != rows)
        {
            throw new BenchException($"the destination holds {found} rows of the {run} run, expected {rows}");
        }
    }

    /// <summary>
    /// A finished load. <c>LastCommitAfter</c> is a position inside the last transaction, just before its commit record:
    /// the slot's confirmed position passes it only when the worker has acknowledged that commit, which it does after the
    /// destination committed it. <c>EndLsn</c> is the end of WAL after the last commit (pg_recvlogical's end position).
    /// </summary>
    internal sealed record Load(DateTimeOffset StartedAt, TimeSpan Elapsed, NpgsqlLogSequenceNumber EndLsn, NpgsqlLogSequenceNumber LastCommitAfter, double BackendCpuSeconds);

    /// <summary>Inserts the rows from <paramref name="firstId"/> on as consecutive transactions of one statement each, in one session.</summary>
    internal static async Task<Load> LoadAsync(BenchDatabase database, long firstId, int transactions, int rowsPerTransaction, CancellationToken cancellationToken)
    {
        await using var connection = await database.OpenAsync(cancellationToken);
        var backend = connection.ProcessID;
        var cpuBefore = ProcStats.CpuSeconds(backend) ?? 0;
        var time = TimeProvider.System;
        var startedAt = time.GetUtcNow();
        var started = time.GetTimestamp();
        for (var i = 0; i < transactions - 1; i++)
        {
            var first = firstId + ((long)i * rowsPerTransaction);
            await using var insert = new NpgsqlCommand(BenchPipeline.InsertRange(first, first + rowsPerTransaction - 1), connection);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        NpgsqlLogSequenceNumber lastCommitAfter;
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken))
        {
            var first = firstId + ((long)(transactions - 1) * rowsPerTransaction);
            await using var insert = new NpgsqlCommand(BenchPipeline.InsertRange(first, first + rowsPerTransaction - 1), connection, transaction);
            await insert.ExecuteNonQueryAsync(cancellationToken);
            await using var position = new NpgsqlCommand("SELECT pg_current_wal_insert_lsn()", connection, transaction);
            lastCommitAfter = (NpgsqlLogSequenceNumber)(await position.ExecuteScalarAsync(cancellationToken))!;
            await transaction.CommitAsync(cancellationToken);
        }

        var elapsed = time.GetElapsedTime(started);
        await using var end = new NpgsqlCommand("SELECT pg_current_wal_lsn()", connection);
        var endLsn = (NpgsqlLogSequenceNumber)(await end.ExecuteScalarAsync(cancellationToken))!;
        return new Load(startedAt, elapsed, endLsn, lastCommitAfter, (ProcStats.CpuSeconds(backend) ?? double.NaN) - cpuBefore);
    }

    /// <summary>Polls the slot every 20 ms until the worker acknowledged the load's last commit; returns when that was seen.</summary>
    internal static async Task<DateTimeOffset> WaitForAcknowledgementAsync(BenchDatabase database, string slot, Load load, WorkerProcess worker, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var deadline = time.GetUtcNow() + TimeSpan.FromMinutes(10);
        while (time.GetUtcNow() < deadline)
        {
            if (await database.ConfirmedFlushAsync(slot, cancellationToken) is { } confirmed && confirmed > load.LastCommitAfter)
            {
                return time.GetUtcNow();
            }

            if (worker.Report() is { State: PipelineRunState.Failed } failed)
            {
                throw new BenchException($"the pipeline failed: {failed.Reason}\n{worker.Tail()}");
            }

            await Task.Delay(20, cancellationToken);
        }

        throw new BenchException($"the worker did not acknowledge the load's last commit within 10 minutes\n{worker.Tail()}");
    }
}
