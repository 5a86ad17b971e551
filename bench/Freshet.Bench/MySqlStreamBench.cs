using System.Diagnostics;
using System.Globalization;
using DuckDB.NET.Data;
using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Runtime;
using Freshet.Testing;
using MySqlConnector;

namespace Freshet.Bench;

/// <summary>
/// bench/run mysql-stream — streaming throughput and latency from MariaDB (binlog) into DuckDB, with two ceilings
/// measured in the same run.
///
/// Starts a private MariaDB (tests/Freshet.Testing <see cref="MariaDbServer"/>: the machine's mariadbd on a free loopback
/// port under a temp folder, row binlog with full image and metadata, removed when this process exits) and the worker as
/// a separate Release process. The rows are loaded while the pipeline streams (not loaded first and replayed): that is
/// the situation a CDC pipeline is in, and the same method as pg-stream, so the two figures compare; the binlog
/// baseline, by contrast, replays the same range afterwards with the machine to itself, so it is an upper bound.
///
/// 1. Warm-up: BENCH_WARMUP_ROWS (300,000, not counted) streamed first, so the measured rows meet optimized code.
/// 2. Live: 1,000,000 rows as 100 transactions of 10,000 (INSERT … SELECT from the sequence engine, one session);
///    ours = rows / (last measured row's _freshet_synced_at − the moment before the first insert). The moment the
///    worker's status file first counted every row is printed too.
/// 3. Latency: BENCH_RATE rows/s (5,000) as transactions of 50 rows paced by a timer for BENCH_SECONDS (60) after
///    BENCH_WARMUP_SECONDS (5), same worker. The binlog carries commit times in whole seconds only, so each row carries
///    its own source time: ts = NOW(6) of its (autocommitted, single-statement) transaction; latency = _freshet_synced_at − ts.
/// 4. With the worker stopped: (a) mariadb-binlog --read-from-remote-server reads the live load's byte range of the
///    binlog (the same events) to /dev/null; (b) DuckDB bulk-inserts the same 1,000,000 rows (INSERT … SELECT from the
///    destination file, attached read-only) into a fresh file's table with the same key. live_ratio = live / the lower:
///    bounded by the source, which commits the rows at a fraction of either ceiling (live_of_load = live / that rate).
/// 5. Catch-up, BENCH_CATCHUP rounds (5; 0 skips it): each round loads 1,000,000 more rows with the worker stopped, drains
///    them with a freshly started worker, then measures both ceilings over those rows; each round's ratio is taken against
///    its own ceilings, and the summary gives the medians over the rounds.
///    rows_per_s (the headline) = rows / (last destination commit − the moment the worker's line "streaming the binlog
///    from …" arrived, written just before it reads the first event of the backlog): like for like with the ceilings,
///    which read the same backlog, and with ceiling (b) in excluding process start and opening DuckDB (the destination
///    is open and its tables set up before the worker streams); ratio = that / the lower ceiling (target ≥ 0.8).
///    from_launch_rows_per_s = rows / (last destination commit − worker launch): process start, JIT, claim and the
///    source's checks included.
/// </summary>
internal static class MySqlStreamBench
{
    /// <summary>One catch-up round: rows/s from the worker's launch and like for like, and the ceilings over its rows.</summary>
    private sealed record CatchUpRound(double FromLaunch, double LikeForLike, double Binlog, double Decoded, double Bulk, double LoadSeconds);

    private const string Name = "mysql-stream";
    private const string Table = "bench_rows";
    private const long WarmUpFirstId = 10_000_001;
    private const long LatencyFirstId = 20_000_001;
    private const long CatchUpFirstId = 30_000_001;

    public static async Task RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var transactions = BenchSettings.Number("BENCH_TRANSACTIONS", 100);
        var rowsPerTransaction = BenchSettings.Number("BENCH_ROWS_PER_TRANSACTION", 10_000);
        var warmUpRows = BenchSettings.Number("BENCH_WARMUP_ROWS", 300_000);
        var rate = BenchSettings.Number("BENCH_RATE", 5000);
        var seconds = BenchSettings.Number("BENCH_SECONDS", 60);
        var warmUpSeconds = BenchSettings.Number("BENCH_WARMUP_SECONDS", 5);
        // Catch-up rounds: each drains its own backlog with a fresh worker and measures the ceilings over the same rows, and
        // the summary gives the medians (one round's ratio scattered 0.70–0.86 on a quiet machine, mostly the ceiling's own
        // spread). 0 skips the catch-up.
        var catchUpRounds = BenchSettings.Number("BENCH_CATCHUP", 5);
        var catchUp = catchUpRounds > 0;
        // BENCH_LIVE=0: only the catch-up run (and the ceilings over its rows), for measuring the pipeline alone quickly.
        var liveRun = BenchSettings.Number("BENCH_LIVE", 1) != 0;
        if (!liveRun && !catchUp)
        {
            throw new BenchException("BENCH_LIVE=0 with BENCH_CATCHUP=0 leaves nothing to measure");
        }

        const int rowsPerLatencyTransaction = 50;
        long rows = (long)transactions * rowsPerTransaction;
        var warmUpTransactions = warmUpRows > 0 ? Math.Max(1, warmUpRows / rowsPerTransaction) : 0;
        var warmUpTotal = (long)warmUpTransactions * rowsPerTransaction;

        var busyBefore = await Machine.CheckAsync(Name, cancellationToken);

        MariaDbServer server;
        try
        {
            server = await MariaDbServer.SharedAsync();
        }
        catch (InvalidOperationException e)
        {
            throw new BenchException(e.Message);
        }

        var database = await server.CreateDatabaseAsync("bench_stream");
        var connectionString = server.ConnectionString(database);
        Report.Line(Name, $"MariaDB {server.Version} on 127.0.0.1:{server.Port} (private, temp folder; innodb_flush_log_at_trx_commit=2, sync_binlog=0, 64 MB buffer pool: the test fixture's settings)");
        await ExecuteAsync(connectionString, $"""
            CREATE TABLE {Table} (
                id bigint NOT NULL PRIMARY KEY,
                k int NOT NULL,
                name varchar(64) NOT NULL,
                amount decimal(12,2) NOT NULL,
                ts timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB
            """, cancellationToken);

        var pipelineId = Guid.NewGuid();
        var duckDb = Path.Combine(settings.WorkDir, "mysql-stream.duckdb");
        var defaults = new DeliverySpec();
        var delivery = defaults with
        {
            MaxBatchDelayMilliseconds = BenchSettings.Number("BENCH_MAX_BATCH_DELAY_MS", defaults.MaxBatchDelayMilliseconds),
            MaxBatchRows = BenchSettings.Number("BENCH_MAX_BATCH_ROWS", defaults.MaxBatchRows),
        };
        var spec = await WriteSpecAsync(settings, server, database, pipelineId, duckDb, delivery, cancellationToken);
        Report.Line(Name, $"{rows:N0} rows as {transactions} transactions of {rowsPerTransaction:N0}, loaded while the worker streams; destination {duckDb}; delivery: latency target {delivery.MaxBatchDelayMilliseconds} ms, batches up to {delivery.MaxBatchRows:N0} rows (defaults unless BENCH_MAX_BATCH_DELAY_MS / BENCH_MAX_BATCH_ROWS)");

        // One pooled session for everything the harness asks the server (positions, loads): no connection set-up per poll.
        await using var session = new MySqlConnection(connectionString);
        await session.OpenAsync(cancellationToken);

        var nan = double.NaN;
        double live = nan, liveRatio = nan, p50 = nan, p99 = nan, achieved = nan, loadRate = nan;
        var peakRss = 0.0;
        if (liveRun)
        {
            Load load;
            DateTimeOffset allCountedSeenAt;
            (double PeakRssMb, double CpuSeconds) final;
            double workerCpuLive;
            double workerCpuLatency;
            LatencyLoad latency;
            await using (var worker = WorkerProcess.Start(settings, spec, "worker"))
            {
                var streaming = await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
                Report.Line(Name, $"worker streaming {(streaming.ReportedAt - worker.LaunchedAt).TotalSeconds:0.0} s after launch");
                if (warmUpTransactions > 0)
                {
                    var warmUp = await LoadAsync(session, WarmUpFirstId, warmUpTransactions, rowsPerTransaction, cancellationToken);
                    await worker.WaitForAsync(r => Inserted(r) >= warmUpTotal, TimeSpan.FromMinutes(5), "the warm-up rows", cancellationToken);
                    Report.Line(Name, $"warm-up: {warmUpTotal:N0} rows (not counted) streamed in {(TimeProvider.System.GetUtcNow() - warmUp.StartedAt).TotalSeconds:0.00} s");
                }

                var cpuBefore = ProcStats.CpuSeconds(worker.Id) ?? 0;
                load = await LoadAsync(session, 1, transactions, rowsPerTransaction, cancellationToken);
                Report.Line(Name, $"load: {load.Elapsed.TotalSeconds:0.00} s ({rows / load.Elapsed.TotalSeconds:N0} rows/s), binlog {load.File} {load.StartPosition}..{load.EndPosition} ({(load.EndPosition - load.StartPosition) / 1048576.0:0} MB)");
                await worker.WaitForAsync(r => Inserted(r) >= warmUpTotal + rows, TimeSpan.FromMinutes(10), $"{rows:N0} rows counted", cancellationToken);
                allCountedSeenAt = TimeProvider.System.GetUtcNow();
                var cpuAfterLive = ProcStats.CpuSeconds(worker.Id) ?? 0;
                workerCpuLive = cpuAfterLive - cpuBefore;

                latency = await LatencyLoadAsync(session, rate, rowsPerLatencyTransaction, warmUpSeconds, seconds, cancellationToken);
                var latencyRowsTotal = latency.WarmUpRows + latency.MeasuredRows;
                await worker.WaitForAsync(r => Inserted(r) >= warmUpTotal + rows + latencyRowsTotal, TimeSpan.FromMinutes(2), "the latency rows", cancellationToken);
                await Task.Delay(300, cancellationToken);
                await worker.StopAsync();
                final = worker.Final!.Value;
                workerCpuLatency = final.CpuSeconds - cpuAfterLive;
            }

            var liveRows = await DestinationFile.RowAsync(duckDb, $"""
                SELECT count(*), {DestinationFile.Seconds("max(_freshet_synced_at)")}, count(DISTINCT _freshet_synced_at)
                FROM {Table} WHERE id BETWEEN 1 AND {rows}
                """, cancellationToken);
            if (liveRows[0] != rows)
            {
                throw new BenchException($"the destination holds {liveRows[0]} of the {rows} live rows");
            }

            var startedAt = load.StartedAt.ToUnixTimeMilliseconds() / 1000.0;
            var liveSeconds = liveRows[1] - startedAt;
            live = rows / liveSeconds;
            loadRate = rows / load.Elapsed.TotalSeconds;
            peakRss = final.PeakRssMb;
            var seenSeconds = (allCountedSeenAt - load.StartedAt).TotalSeconds;
            Report.Line(Name, $"ours (live): {rows:N0} rows in {liveSeconds:0.00} s from the first insert to the last destination commit = {live:N0} rows/s ({live / loadRate:0.00} of the source's insert rate), {liveRows[2]:0} destination commits");
            Report.Line(Name, $"  the worker's status file counted all of them {seenSeconds:0.00} s after the first insert = {rows / seenSeconds:N0} rows/s (includes the status file's write interval and the 50 ms poll)");
            Report.Line(Name, $"  worker CPU during the live run: {workerCpuLive:0.00} s over {seenSeconds:0.00} s");

            var lat = await DestinationFile.RowAsync(duckDb, $"""
                SELECT count(*),
                       quantile_cont(l, 0.5), quantile_cont(l, 0.99), max(l), min(t), max(t)
                FROM (SELECT {DestinationFile.Seconds("_freshet_synced_at")} - {DestinationFile.Seconds("ts")} AS l, {DestinationFile.Seconds("ts")} AS t
                      FROM {Table} WHERE id >= {latency.MeasuredFirstId} AND id < {latency.MeasuredFirstId + latency.MeasuredRows})
                """, cancellationToken);
            if (lat[0] != latency.MeasuredRows)
            {
                throw new BenchException($"the destination holds {lat[0]} of the {latency.MeasuredRows} measured latency rows");
            }

            var sourceSpan = lat[5] - lat[4];
            achieved = latency.MeasuredRows / latency.Elapsed.TotalSeconds;
            (p50, p99) = (lat[1], lat[2]);
            Report.Line(Name, $"latency: {latency.MeasuredRows:N0} rows in {latency.Elapsed.TotalSeconds:0.0} s = {achieved:N0} rows/s (target {rate:N0}; {latency.Late} of {latency.Transactions} transactions started late), source span {sourceSpan:0.0} s; p50 {lat[1]:0.000} s, p99 {lat[2]:0.000} s, max {lat[3]:0.000} s (ts = NOW(6) at the insert, committed at once; binlog commit times are whole seconds)");
            Report.Line(Name, $"  worker CPU during the latency run: {workerCpuLatency:0.0} s ({workerCpuLatency / latency.TotalElapsed.TotalSeconds * 100:0}% of a core); worker peak RSS {final.PeakRssMb:0} MB; targets p50 <= 0.5 s, p99 <= 1.5 s");

            var (liveBinlog, _, liveBulk) = await CeilingsAsync(settings, server, load, duckDb, 1, rows, cancellationToken);
            liveRatio = live / Math.Min(liveBinlog, liveBulk);
            Report.Line(Name, $"live / the lower ceiling ({(liveBinlog <= liveBulk ? "the binlog read" : "DuckDB's bulk insert")}): {liveRatio:0.00}; bounded by the source, which took the rows at {loadRate:N0} rows/s ({loadRate / Math.Min(liveBinlog, liveBulk):0.00} of that ceiling)");
        }
        else
        {
            // The catch-up worker must find the pipeline streaming (a checkpoint past its snapshot), as after the live run.
            await using var worker = WorkerProcess.Start(settings, spec, "worker");
            var streaming = await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
            Report.Line(Name, $"BENCH_LIVE=0: no live or latency run; worker streaming {(streaming.ReportedAt - worker.LaunchedAt).TotalSeconds:0.0} s after launch, stopped again");
            await worker.StopAsync();
        }

        await session.CloseAsync();

        // Catch-up: a backlog loaded with the worker stopped, drained by a fresh worker (the ceilings' situation: the
        // rows are already in the binlog and the load no longer shares the cores), start-up and JIT included.
        var rounds = new List<CatchUpRound>();
        for (var round = 0; round < catchUpRounds; round++)
        {
            var firstId = CatchUpFirstId + (round * rows);
            await using var backlogSession = new MySqlConnection(connectionString);
            await backlogSession.OpenAsync(cancellationToken);
            var backlog = await LoadAsync(backlogSession, firstId, transactions, rowsPerTransaction, cancellationToken);
            await backlogSession.CloseAsync();
            Report.Line(Name, $"catch-up {round + 1}/{catchUpRounds}: loaded another {rows:N0} rows with the worker stopped ({backlog.Elapsed.TotalSeconds:0.00} s); starting it again");
            await using var worker = WorkerProcess.Start(settings, spec, $"worker-catchup-{round + 1}");
            await worker.WaitForAsync(r => Inserted(r) >= rows, TimeSpan.FromMinutes(10), $"{rows:N0} rows counted", cancellationToken);
            await worker.StopAsync();
            var caught = worker.Final!.Value;
            peakRss = Math.Max(peakRss, caught.PeakRssMb);
            var result = await DestinationFile.RowAsync(duckDb, $"""
                SELECT count(*), {DestinationFile.Seconds("min(_freshet_synced_at)")}, {DestinationFile.Seconds("max(_freshet_synced_at)")}, count(DISTINCT _freshet_synced_at)
                FROM {Table} WHERE id BETWEEN {firstId} AND {firstId + rows - 1}
                """, cancellationToken);
            if (result[0] != rows)
            {
                throw new BenchException($"the destination holds {result[0]} of the {rows} catch-up rows of round {round + 1}");
            }

            // The ceilings over this round's rows, measured right after it: the ratio compares with the same moment.
            var (roundBinlog, roundDecoded, roundBulk) = await CeilingsAsync(settings, server, backlog, duckDb, firstId, rows, cancellationToken);
            var lower = Math.Min(roundBinlog, roundBulk);
            var launched = worker.LaunchedAt.ToUnixTimeMilliseconds() / 1000.0;
            var catchUpSeconds = result[2] - launched;
            var fromLaunch = rows / catchUpSeconds;
            var drain = rows / (result[2] - result[1]);
            Report.Line(Name, $"ours (catch-up {round + 1}): {rows:N0} rows in {catchUpSeconds:0.00} s from worker launch to the last destination commit = {fromLaunch:N0} rows/s ({fromLaunch / lower:0.00} of the lower ceiling); first commit {result[1] - launched:0.00} s after launch, first to last commit {drain:N0} rows/s; {result[3]:0} destination commits; worker CPU {caught.CpuSeconds:0.00} s, peak RSS {caught.PeakRssMb:0} MB");
            var likeForLike = double.NaN;
            if (worker.StreamingAt is { } streamingAt)
            {
                var streamSeconds = result[2] - streamingAt.ToUnixTimeMilliseconds() / 1000.0;
                likeForLike = rows / streamSeconds;
                Report.Line(Name, $"ours (catch-up {round + 1}, like for like with ceiling (b)): {rows:N0} rows in {streamSeconds:0.00} s from the worker's 'streaming the binlog' line ({(streamingAt - worker.LaunchedAt).TotalSeconds:0.00} s after launch) to the last destination commit = {likeForLike:N0} rows/s ({likeForLike / lower:0.00} of the lower ceiling)");
            }

            rounds.Add(new CatchUpRound(fromLaunch, likeForLike, roundBinlog, roundDecoded, roundBulk, backlog.Elapsed.TotalSeconds));
        }

        if (rounds.Count > 0)
        {
            var streamRatios = rounds.Select(r => r.LikeForLike / Math.Min(r.Binlog, r.Bulk)).Order().ToList();
            Report.Line(Name, $"catch-up over {rounds.Count} round(s), like-for-like ratios: {string.Join(", ", streamRatios.Select(r => r.ToString("0.00", CultureInfo.InvariantCulture)))}; the summary gives medians (target >= 0.8)");
            if (!liveRun)
            {
                loadRate = rows / Stats.Median(rounds.Select(r => r.LoadSeconds));
            }
        }

        // The headline is the backlog's drain, like for like with the ceilings: both ceilings read 1,000,000 rows that are
        // already in the binlog and in a file, so only a pipeline reading the same backlog is measured against them. The
        // live run cannot be: MariaDB takes the rows at a fraction of either ceiling, and the pipeline can stream no faster
        // than they are committed (live_of_load shows how closely it keeps up).
        double Median(Func<CatchUpRound, double> figure) => rounds.Count > 0 ? Stats.Median(rounds.Select(figure)) : double.NaN;
        DestinationFile.Delete(duckDb);
        Report.Summary(Name,
            ("rows_per_s", Median(r => r.LikeForLike)),
            ("binlog_rows_per_s", Median(r => r.Binlog)),
            ("duckdb_bulk_rows_per_s", Median(r => r.Bulk)),
            ("ratio", Median(r => r.LikeForLike / Math.Min(r.Binlog, r.Bulk))),
            ("p50_s", p50),
            ("p99_s", p99),
            ("peak_rss_mb", peakRss),
            ("latency_rows_per_s", achieved),
            ("live_rows_per_s", live),
            ("live_ratio", liveRatio),
            ("load_rows_per_s", loadRate),
            ("live_of_load", live / loadRate),
            ("from_launch_rows_per_s", Median(r => r.FromLaunch)),
            ("from_launch_ratio", Median(r => r.FromLaunch / Math.Min(r.Binlog, r.Bulk))),
            ("binlog_decoded_rows_per_s", Median(r => r.Decoded)),
            ("rounds", rounds.Count),
            ("busy_before_pct", busyBefore));
    }

    /// <summary>
    /// The two ceilings, with the worker stopped: (a) the server's binlog dump of <paramref name="load"/>'s byte range to a
    /// client that writes nothing (and, for context, the same read decoding every row to text); (b) DuckDB inserting the
    /// same rows (ids from <paramref name="firstId"/>, read from the destination file attached read-only) in one statement
    /// into a fresh file's table with the same key.
    /// </summary>
    private static async Task<(double Binlog, double Decoded, double Bulk)> CeilingsAsync(
        BenchSettings settings, MariaDbServer server, Load load, string duckDb, long firstId, long rows, CancellationToken cancellationToken)
    {
        var binlog = await ExternalTool.RunCheckedAsync("mariadb-binlog", [
            "--read-from-remote-server", "--host=127.0.0.1", $"--port={server.Port}",
            $"--user={MariaDbServer.AdminUser}", $"--password={MariaDbServer.AdminPassword}",
            $"--start-position={load.StartPosition}", $"--stop-position={load.EndPosition}",
            "--result-file=/dev/null", load.File], cancellationToken);
        var binlogRate = rows / binlog.Elapsed.TotalSeconds;
        var decoded = await ExternalTool.RunCheckedAsync("mariadb-binlog", [
            "--read-from-remote-server", "--host=127.0.0.1", $"--port={server.Port}",
            $"--user={MariaDbServer.AdminUser}", $"--password={MariaDbServer.AdminPassword}",
            $"--start-position={load.StartPosition}", $"--stop-position={load.EndPosition}",
            "--base64-output=DECODE-ROWS", "--verbose", "--result-file=/dev/null", load.File], cancellationToken);
        var decodedRate = rows / decoded.Elapsed.TotalSeconds;
        Report.Line(Name, $"ceiling (a): mariadb-binlog --read-from-remote-server read the same {rows:N0} rows ({(load.EndPosition - load.StartPosition) / 1048576.0:0} MB of binlog) in {binlog.Elapsed.TotalSeconds:0.00} s = {binlogRate:N0} rows/s (row events printed as base64 BINLOG statements, not decoded; process start included)");
        Report.Line(Name, $"  for context: the same read with --base64-output=DECODE-ROWS --verbose (every row decoded and printed as text) took {decoded.Elapsed.TotalSeconds:0.00} s = {decodedRate:N0} rows/s");

        var bulkFile = Path.Combine(settings.WorkDir, "bulk.duckdb");
        DestinationFile.Delete(bulkFile);
        double bulkSeconds;
        await using (var bulk = new DuckDBConnection($"Data Source={bulkFile}"))
        {
            await bulk.OpenAsync(cancellationToken);
            await using (var prepare = bulk.CreateCommand())
            {
                prepare.CommandText = $"""
                    ATTACH '{duckDb}' AS src (READ_ONLY);
                    CREATE TABLE {Table} (id BIGINT PRIMARY KEY, k INTEGER NOT NULL, name VARCHAR NOT NULL, amount DECIMAL(12,2) NOT NULL, ts TIMESTAMPTZ NOT NULL);
                    """;
                await prepare.ExecuteNonQueryAsync(cancellationToken);
            }

            await using var insert = bulk.CreateCommand();
            insert.CommandText = $"INSERT INTO {Table} SELECT id, k, name, amount, ts FROM src.{Table} WHERE id BETWEEN {firstId} AND {firstId + rows - 1}";
            var started = Stopwatch.GetTimestamp();
            var inserted = await insert.ExecuteNonQueryAsync(cancellationToken);
            bulkSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
            if (inserted != rows)
            {
                throw new BenchException($"DuckDB's bulk insert wrote {inserted} rows, expected {rows}");
            }
        }

        DestinationFile.Delete(bulkFile);
        var bulkRate = rows / bulkSeconds;
        Report.Line(Name, $"ceiling (b): DuckDB INSERT … SELECT of the same {rows:N0} rows (from the destination file, attached read-only) into a fresh keyed table in {bulkSeconds:0.00} s = {bulkRate:N0} rows/s");
        return (binlogRate, decodedRate, bulkRate);
    }

    private static long Inserted(PipelineProgressReport report) => report.Tables.Values.Sum(t => t.Inserted);

    private static async Task<string> WriteSpecAsync(
        BenchSettings settings, MariaDbServer server, string database, Guid pipelineId, string duckDbPath, DeliverySpec delivery, CancellationToken cancellationToken)
    {
        var source = new EndpointSpec(
            ConnectionType.Mysql,
            new Dictionary<string, string>
            {
                ["host"] = "127.0.0.1",
                ["port"] = server.Port.ToString(CultureInfo.InvariantCulture),
                ["database"] = database,
                ["username"] = MariaDbServer.AdminUser,
                ["ssl_mode"] = "disabled",
            },
            new Dictionary<string, string> { ["password"] = MariaDbServer.AdminPassword });
        var destination = new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string> { ["path"] = duckDbPath }, new Dictionary<string, string>());
        var spec = new PipelineSpec(pipelineId, Guid.NewGuid(), "benchmark", 1, 1, source, destination,
            [new TableSpec(database, Table, DestinationName: Table)], DeleteMode.Hard, SchemaChangePolicy.Propagate, delivery);
        var path = Path.Combine(settings.WorkDir, $"pipeline-{pipelineId:N}.json");
        await SpecFileFeed.WriteAsync(path, spec, cancellationToken);
        return path;
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new MySqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>A finished load and the binlog byte range its transactions occupy (from SHOW MASTER STATUS before and after).</summary>
    private sealed record Load(DateTimeOffset StartedAt, TimeSpan Elapsed, string File, long StartPosition, long EndPosition);

    private static async Task<(string File, long Position)> BinlogPositionAsync(MySqlConnection session, CancellationToken cancellationToken)
    {
        await using var command = new MySqlCommand("SHOW MASTER STATUS", session);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new BenchException("SHOW MASTER STATUS returned nothing: the binlog is off");
        }

        return (reader.GetString(0), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture));
    }

    /// <summary>Inserts ids from <paramref name="firstId"/> on as consecutive autocommitted statements of <paramref name="rowsPerTransaction"/> rows.</summary>
    private static async Task<Load> LoadAsync(MySqlConnection session, long firstId, int transactions, int rowsPerTransaction, CancellationToken cancellationToken)
    {
        var (file, startPosition) = await BinlogPositionAsync(session, cancellationToken);
        var time = TimeProvider.System;
        var startedAt = time.GetUtcNow();
        var started = time.GetTimestamp();
        for (var i = 0; i < transactions; i++)
        {
            var first = firstId + ((long)i * rowsPerTransaction);
            await using var insert = new MySqlCommand(string.Create(CultureInfo.InvariantCulture, $"""
                INSERT INTO {Table} (id, k, name, amount, ts)
                SELECT seq, seq % 100000, md5(seq), (seq % 1000000) / 100.0, TIMESTAMP '2024-01-01 00:00:00' + INTERVAL (seq % 100000000) SECOND
                FROM seq_{first}_to_{first + rowsPerTransaction - 1}
                """), session);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        var elapsed = time.GetElapsedTime(started);
        var (endFile, endPosition) = await BinlogPositionAsync(session, cancellationToken);
        if (endFile != file)
        {
            throw new BenchException($"the binlog rotated during the load ({file} → {endFile}); the baseline reads one file");
        }

        return new Load(startedAt, elapsed, file, startPosition, endPosition);
    }

    private sealed record LatencyLoad(long MeasuredFirstId, long WarmUpRows, long MeasuredRows, long Transactions, long Late, TimeSpan Elapsed, TimeSpan TotalElapsed);

    /// <summary>
    /// Transactions of <paramref name="rowsPerTransaction"/> rows at <paramref name="rowsPerSecond"/>, paced on a fixed
    /// schedule (a timer wait, no spinning): warm-up seconds first (ids not measured), then the measured seconds.
    /// </summary>
    private static async Task<LatencyLoad> LatencyLoadAsync(
        MySqlConnection session, int rowsPerSecond, int rowsPerTransaction, int warmUpSeconds, int seconds, CancellationToken cancellationToken)
    {
        var perSecond = Math.Max(1, rowsPerSecond / rowsPerTransaction);
        var interval = TimeSpan.FromSeconds(1.0 / perSecond);
        var warmUpTransactions = (long)perSecond * warmUpSeconds;
        var measuredTransactions = (long)perSecond * seconds;
        var total = warmUpTransactions + measuredTransactions;
        var measuredFirstId = LatencyFirstId + (warmUpTransactions * rowsPerTransaction);
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        long measuredStarted = 0;
        long late = 0;
        await using var insert = new MySqlCommand { Connection = session };
        for (long i = 0; i < total; i++)
        {
            if (i == warmUpTransactions)
            {
                measuredStarted = time.GetTimestamp();
            }

            var due = interval * i;
            var wait = due - time.GetElapsedTime(started);
            if (wait > TimeSpan.FromMilliseconds(1))
            {
                await Task.Delay(wait, cancellationToken);
            }
            else if (wait < -interval)
            {
                late++;
            }

            var first = LatencyFirstId + (i * rowsPerTransaction);
            insert.CommandText = string.Create(CultureInfo.InvariantCulture, $"""
                INSERT INTO {Table} (id, k, name, amount, ts)
                SELECT seq, seq % 100000, md5(seq), (seq % 1000000) / 100.0, NOW(6)
                FROM seq_{first}_to_{first + rowsPerTransaction - 1}
                """);
            await insert.ExecuteNonQueryAsync(cancellationToken);
        }

        var now = time.GetTimestamp();
        return new LatencyLoad(measuredFirstId, warmUpTransactions * rowsPerTransaction, measuredTransactions * rowsPerTransaction, total, late,
            time.GetElapsedTime(measuredStarted, now), time.GetElapsedTime(started, now));
    }
}
