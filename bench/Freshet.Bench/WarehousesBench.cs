using System.Globalization;
using System.Security.Cryptography;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.Snowflake;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Schema;
using Freshet.Emulators.Snowflake;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Freshet.Bench;

/// <summary>
/// bench/run warehouses — PostgreSQL into the warehouse emulators through a real worker process: rows per second and
/// requests per destination batch for 1,000,000 streamed rows, and the warehouse statements a trickle costs per minute at
/// a 1-second and a 30-second batch latency target.
///
/// The Snowflake SQL API emulator (tests/Freshet.Emulators.Snowflake, DuckDB in memory) runs inside this process, one
/// emulated database per phase; the worker is the Release executable as a separate process, pointed at it by the
/// connection's <c>endpoint</c> setting with a registered key pair (the same JWT path as against Snowflake).
///
/// 1. Stream: the worker streams an empty table; after BENCH_WARMUP_ROWS (100,000, not counted) 1,000,000 rows arrive as
///    100 transactions of 10,000 (as in pg-stream). rows/s = rows / (the slot's acknowledgement of the last commit, which
///    the worker gives after the emulator committed it − the moment before the first insert). requests per batch =
///    the emulator's executed requests over the load / the worker's destination batches over it. Latency target
///    BENCH_STREAM_LATENCY_TARGET_S (1): with the connection's default (30 s) the last, partial batch would wait 30 s.
/// 2. Baseline, same run, worker stopped: the emulator's own ceiling for the same rows. A bare SQL API client (the one the
///    destination uses, no engine) sends the same 1,000,000 rows as the destination stages them — one TEXT binding
///    holding a JSON array flattened by INSERT … SELECT, each request as large as the destination's request limit allows
///    (8 MiB) — the next request's JSON built while one runs. Also printed: DuckDB inserting the same rows into the
///    emulator's storage directly (no API, no JSON), the storage's own ceiling.
/// 3. Statements per minute: a steady trickle of BENCH_TRICKLE_ROWS_PER_S (5) one-row transactions for
///    BENCH_TRICKLE_SECONDS (120), at batch_latency_target_s=1 and then =30, each with a fresh worker and pipeline; the
///    SQL statements the emulator executed during the window (each statement of a multi-statement request, BEGIN and
///    COMMIT included — what the account's query history lists), per minute.
///
/// BigQuery: the BigQuery destination and its worker wiring are not on this branch yet, so its figures are n/a.
/// </summary>
internal static class WarehousesBench
{
    private const string Name = "warehouses";
    private const string User = "LOADER";
    private const string StreamDatabase = "STREAM";
    private const string BaselineDatabase = "BASELINE";
    private const string BigQueryMissing = "the BigQuery destination's worker wiring (connection type bigquery) is not merged into this branch yet";

    private static readonly SnowflakeAccount Account = SnowflakeAccount.Parse("xy12345.us-east-1");

    /// <summary>The bench table's columns as the PostgreSQL source describes them, for the baseline's bare client.</summary>
    private static readonly ColumnSchema[] Columns =
    [
        new("id", new ColumnType(ValueKind.Int64, false, "bigint"), IsKey: true),
        new("k", new ColumnType(ValueKind.Int32, false, "integer"), IsKey: false),
        new("name", new ColumnType(ValueKind.Text, false, "text"), IsKey: false),
        new("amount", new ColumnType(ValueKind.Decimal, false, "numeric(12,2)", Precision: 12, Scale: 2), IsKey: false),
        new("ts", new ColumnType(ValueKind.TimestampTz, false, "timestamp with time zone"), IsKey: false),
    ];

    public static async Task RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var transactions = BenchSettings.Number("BENCH_TRANSACTIONS", 100);
        var rowsPerTransaction = BenchSettings.Number("BENCH_ROWS_PER_TRANSACTION", 10_000);
        var warmUpRows = BenchSettings.Number("BENCH_WARMUP_ROWS", 100_000);
        var streamLatencyTarget = Seconds("BENCH_STREAM_LATENCY_TARGET_S", 1);
        var trickleSeconds = BenchSettings.Number("BENCH_TRICKLE_SECONDS", 120);
        var trickleRate = BenchSettings.Number("BENCH_TRICKLE_ROWS_PER_S", 5);
        if (transactions < 1 || rowsPerTransaction < 1 || trickleSeconds < 10 || trickleRate < 1)
        {
            throw new BenchException("BENCH_TRANSACTIONS and BENCH_ROWS_PER_TRANSACTION must be at least 1, BENCH_TRICKLE_SECONDS at least 10, BENCH_TRICKLE_ROWS_PER_S at least 1");
        }

        var busyBefore = await Machine.CheckAsync(Name, cancellationToken);
        long rows = (long)transactions * rowsPerTransaction;

        using var key = RSA.Create(2048);
        await using var emulator = await SnowflakeEmulator.StartAsync(new SnowflakeEmulatorOptions
        {
            Account = Account.JwtAccountName,
            Databases = [StreamDatabase, BaselineDatabase, TrickleDatabase(1), TrickleDatabase(30)],
        }, cancellationToken);
        emulator.RegisterPublicKey(User, key);
        var privateKey = key.ExportPkcs8PrivateKeyPem();
        Report.Line(Name, $"Snowflake emulator (in this process, DuckDB in memory) at {emulator.BaseAddress}");

        var stream = await StreamAsync(settings, emulator, privateKey, rows, transactions, rowsPerTransaction, warmUpRows, streamLatencyTarget, cancellationToken);
        var baseline = await BaselineAsync(emulator, privateKey, rows, cancellationToken);
        var direct = await DirectInsertAsync(emulator, rows, cancellationToken);
        var ratio = stream.RowsPerSecond / baseline.RowsPerSecond;
        Report.Line(Name, $"snowflake: pipeline / bare client = {ratio:0.00}; pipeline / emulator storage = {stream.RowsPerSecond / direct:0.00}");

        var oneSecond = await TrickleAsync(settings, emulator, privateKey, 1, trickleSeconds, trickleRate, cancellationToken);
        var thirtySeconds = await TrickleAsync(settings, emulator, privateKey, 30, trickleSeconds, trickleRate, cancellationToken);
        var fewer = thirtySeconds.StatementsPerMinute > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{oneSecond.StatementsPerMinute / thirtySeconds.StatementsPerMinute:0.#} times fewer at 30 s")
            : "no batch fell in the 30 s window: make BENCH_TRICKLE_SECONDS longer than 30";
        Report.Line(Name, $"statements per minute: {oneSecond.StatementsPerMinute:0.#} at a 1 s latency target, {thirtySeconds.StatementsPerMinute:0.#} at 30 s ({fewer})");
        Report.Line(Name, $"bigquery: not measured: {BigQueryMissing}");

        Report.Summary(Name,
            ("snowflake_rows_per_s", Report.Format(stream.RowsPerSecond)),
            ("bigquery_rows_per_s", "n/a"),
            ("statements_per_min_1s", Report.Format(oneSecond.StatementsPerMinute)),
            ("statements_per_min_30s", Report.Format(thirtySeconds.StatementsPerMinute)),
            ("snowflake_requests_per_batch", Report.Format(stream.RequestsPerBatch)),
            ("snowflake_batches", Report.Format(stream.Batches)),
            ("snowflake_baseline_rows_per_s", Report.Format(baseline.RowsPerSecond)),
            ("snowflake_ratio", Report.Format(ratio)),
            ("snowflake_storage_rows_per_s", Report.Format(direct)),
            ("snowflake_synced_rows_per_s", Report.Format(stream.SyncedRowsPerSecond)),
            ("requests_per_min_1s", Report.Format(oneSecond.RequestsPerMinute)),
            ("requests_per_min_30s", Report.Format(thirtySeconds.RequestsPerMinute)),
            ("batches_per_min_1s", Report.Format(oneSecond.BatchesPerMinute)),
            ("batches_per_min_30s", Report.Format(thirtySeconds.BatchesPerMinute)),
            ("peak_rss_mb", Report.Format(stream.PeakRssMb)),
            ("busy_before_pct", Report.Format(busyBefore)));
    }

    private static string TrickleDatabase(int latencyTargetSeconds) => $"TRICKLE_{latencyTargetSeconds}S";

    private static double Seconds(string name, double fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;

    /// <summary>The worker's destination: the emulator's database <paramref name="database"/>, signed in with the registered key.</summary>
    private static EndpointSpec Destination(SnowflakeEmulator emulator, string privateKey, string database, double latencyTargetSeconds) =>
        new(ConnectionType.Snowflake,
            new Dictionary<string, string>
            {
                ["account"] = "xy12345.us-east-1",
                ["user"] = User.ToLowerInvariant(),
                ["warehouse"] = "LOADING",
                ["database"] = database,
                ["schema"] = "PUBLIC",
                ["endpoint"] = emulator.BaseAddress.ToString(),
                ["batch_latency_target_s"] = latencyTargetSeconds.ToString(CultureInfo.InvariantCulture),
            },
            new Dictionary<string, string> { ["private_key"] = privateKey });

    private sealed record StreamResult(double RowsPerSecond, double SyncedRowsPerSecond, double RequestsPerBatch, double Batches, double PeakRssMb);

    private static async Task<StreamResult> StreamAsync(
        BenchSettings settings, SnowflakeEmulator emulator, string privateKey, long rows, int transactions, int rowsPerTransaction, int warmUpRows,
        double latencyTarget, CancellationToken cancellationToken)
    {
        await using var database = await BenchDatabase.CreateAsync(settings, "bench_wh_stream", cancellationToken);
        // No autovacuum: nothing but the load writes WAL, so the load's end LSN is where the last commit ends.
        await database.ExecuteAsync(BenchPipeline.CreateTable + " WITH (autovacuum_enabled = off)", cancellationToken);
        var pipelineId = Guid.NewGuid();
        var slot = BenchPipeline.SlotName(pipelineId);
        var spec = await BenchPipeline.WriteSpecAsync(settings, pipelineId, database.Name,
            Destination(emulator, privateKey, StreamDatabase, latencyTarget), new DeliverySpec(), cancellationToken);
        var warmUpTransactions = warmUpRows > 0 ? Math.Max(1, warmUpRows / rowsPerTransaction) : 0;
        var warmUpTotal = (long)warmUpTransactions * rowsPerTransaction;
        Report.Line(Name, $"snowflake stream: {rows:N0} rows as {transactions} transactions of {rowsPerTransaction:N0} after {warmUpTotal:N0} warm-up rows; batch_latency_target_s={latencyTarget}, other settings default");

        await using var worker = WorkerProcess.Start(settings, spec, "worker-snowflake-stream");
        var streaming = await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
        Report.Line(Name, $"  worker streaming {(streaming.ReportedAt - worker.LaunchedAt).TotalSeconds:0.0} s after launch");
        if (warmUpTransactions > 0)
        {
            var warmUp = await PgStreamBench.LoadAsync(database, -warmUpTotal, warmUpTransactions, rowsPerTransaction, cancellationToken);
            var warmedAfter = await PgStreamBench.WaitForAcknowledgementAsync(database, slot, warmUp, worker, cancellationToken) - warmUp.StartedAt;
            Report.Line(Name, $"  warm-up: {warmUpTotal:N0} rows (not counted) in {warmedAfter.TotalSeconds:0.00} s");
        }

        // The worker is idle once the warm-up is acknowledged and counted: nothing reaches the emulator in between.
        var before = await worker.WaitForAsync(r => PgStreamBench.Inserted(r) >= warmUpTotal, TimeSpan.FromMinutes(1), "the warm-up counted", cancellationToken);
        var requestsBefore = emulator.ExecutedRequests;
        var statementsBefore = emulator.ExecutedStatements;
        var cpuBefore = ProcStats.CpuSeconds(worker.Id) ?? 0;

        var load = await PgStreamBench.LoadAsync(database, 1, transactions, rowsPerTransaction, cancellationToken);
        Report.Line(Name, $"  load: {load.Elapsed.TotalSeconds:0.00} s ({rows / load.Elapsed.TotalSeconds:N0} rows/s)");
        var acknowledged = await PgStreamBench.WaitForAcknowledgementAsync(database, slot, load, worker, cancellationToken);
        var after = await worker.WaitForAsync(r => PgStreamBench.Inserted(r) >= warmUpTotal + rows, TimeSpan.FromMinutes(1), $"{rows:N0} rows counted", cancellationToken);
        var requests = emulator.ExecutedRequests - requestsBefore;
        var statements = emulator.ExecutedStatements - statementsBefore;
        await worker.StopAsync();
        var final = worker.Final!.Value;

        var table = $"\"{StreamDatabase}\".\"PUBLIC\".\"{BenchPipeline.Table}\"";
        var landed = await emulator.QueryAsync(
            $"SELECT count(*), epoch(max(\"{MetadataColumns.SyncedAt}\")), count(DISTINCT \"{MetadataColumns.SyncedAt}\") FROM {table} WHERE id BETWEEN 1 AND {rows}",
            cancellationToken);
        var count = Convert.ToInt64(landed[0][0], CultureInfo.InvariantCulture);
        if (count != rows)
        {
            throw new BenchException($"the Snowflake emulator holds {count:N0} of the {rows:N0} streamed rows");
        }

        var seconds = (acknowledged - load.StartedAt).TotalSeconds;
        var syncedSeconds = Convert.ToDouble(landed[0][1], CultureInfo.InvariantCulture) - load.StartedAt.ToUnixTimeMilliseconds() / 1000.0;
        var commits = Convert.ToDouble(landed[0][2], CultureInfo.InvariantCulture);
        var batches = after.Batches - before.Batches;
        var rate = rows / seconds;
        Report.Line(Name, $"  ours: {rows:N0} rows in {seconds:0.00} s from the first insert to the slot's acknowledgement of the last commit = {rate:N0} rows/s");
        Report.Line(Name, $"  the last batch's _freshet_synced_at (stamped before it is sent) {syncedSeconds:0.00} s after the first insert = {rows / syncedSeconds:N0} rows/s");
        Report.Line(Name, $"  {batches:N0} destination batches ({commits:0} distinct commit times in the table), {requests:N0} SQL API requests = {(double)requests / batches:0.00} per batch, {statements:N0} statements = {(double)statements / batches:0.0} per batch; {rows / (double)batches:N0} rows per batch");
        Report.Line(Name, $"  worker CPU {final.CpuSeconds - cpuBefore:0.00} s during the load, peak RSS {final.PeakRssMb:0} MB");
        return new StreamResult(rate, rows / syncedSeconds, (double)requests / batches, batches, final.PeakRssMb);
    }

    private sealed record BaselineResult(double RowsPerSecond, int Requests);

    /// <summary>
    /// The same rows sent by the destination's own SQL API client and staging format with no engine around them: JSON
    /// arrays under the destination's default request limit, INSERT … SELECT … FLATTEN(PARSE_JSON(?)), one request at a
    /// time (the emulator runs one at a time anyway), the next array built while a request runs.
    /// </summary>
    private static async Task<BaselineResult> BaselineAsync(SnowflakeEmulator emulator, string privateKey, long rows, CancellationToken cancellationToken)
    {
        using var connection = SnowflakeDestinationSettings.Connect(Destination(emulator, privateKey, BaselineDatabase, 1), TimeProvider.System, NullLogger.Instance);
        var client = connection.Client;
        var maxRequestBytes = connection.Settings.MaxRequestBytes;
        await client.ExecuteAsync(new SnowflakeStatement(SnowflakeStaging.CreateTable(BenchPipeline.Table, Columns, ifNotExists: false)), cancellationToken);
        var insert = SnowflakeStaging.InsertFromJson(BenchPipeline.Table, Columns);

        var chunks = Channel.CreateBounded<string>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var producer = Task.Run(async () =>
        {
            try
            {
                foreach (var chunk in SnowflakeStaging.Chunks(BenchPipeline.Table, Columns, GenerateRows(1, rows), maxRequestBytes))
                {
                    await chunks.Writer.WriteAsync(chunk, cancellationToken);
                }
            }
            finally
            {
                chunks.Writer.Complete();
            }
        }, cancellationToken);
        var requests = 0;
        await foreach (var chunk in chunks.Reader.ReadAllAsync(cancellationToken))
        {
            await client.ExecuteAsync(new SnowflakeStatement(insert) { Bindings = [SnowflakeBinding.Text(chunk)] }, cancellationToken);
            requests++;
        }

        await producer;
        var elapsed = time.GetElapsedTime(started);
        var landed = await emulator.QueryAsync($"SELECT count(*) FROM \"{BaselineDatabase}\".\"PUBLIC\".\"{BenchPipeline.Table}\"", cancellationToken);
        if (Convert.ToInt64(landed[0][0], CultureInfo.InvariantCulture) != rows)
        {
            throw new BenchException($"the baseline's table holds {landed[0][0]} rows, expected {rows:N0}");
        }

        var rate = rows / elapsed.TotalSeconds;
        Report.Line(Name, $"snowflake baseline: a bare SQL API client sent the same {rows:N0} rows in {requests:N0} requests of at most {maxRequestBytes / (1024 * 1024.0):0.#} MiB in {elapsed.TotalSeconds:0.00} s = {rate:N0} rows/s");
        return new BaselineResult(rate, requests);
    }

    /// <summary>The bench table's rows <paramref name="first"/>..<paramref name="last"/>, as <see cref="BenchPipeline.InsertRange"/> generates them in PostgreSQL.</summary>
    private static IEnumerable<object?[]> GenerateRows(long first, long last)
    {
        var epoch = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (var i = first; i <= last; i++)
        {
            // MD5 only because the source's rows are named md5(i::text); nothing here is security.
#pragma warning disable CA5351
            var name = Convert.ToHexStringLower(MD5.HashData(System.Text.Encoding.ASCII.GetBytes(i.ToString(CultureInfo.InvariantCulture))));
#pragma warning restore CA5351
            yield return [i, (int)(i % 100_000), name, i % 1_000_000 / 100m, epoch.AddSeconds(i)];
        }
    }

    /// <summary>DuckDB inserting the same rows into the emulator's storage with no API in front: what the storage alone takes.</summary>
    private static async Task<double> DirectInsertAsync(SnowflakeEmulator emulator, long rows, CancellationToken cancellationToken)
    {
        var table = $"\"{BaselineDatabase}\".\"PUBLIC\".direct_rows";
        await emulator.QueryAsync($"CREATE TABLE {table} (id DECIMAL(38,0) NOT NULL, k DECIMAL(38,0), name VARCHAR, amount DECIMAL(12,2), ts TIMESTAMPTZ)", cancellationToken);
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        await emulator.QueryAsync($"""
            INSERT INTO {table}
            SELECT i, i % 100000, md5(i::VARCHAR), ((i % 1000000) / 100.0)::DECIMAL(12,2), TIMESTAMPTZ '2024-01-01 00:00:00+00' + to_seconds(i)
            FROM range(1, {rows + 1}) t(i)
            """, cancellationToken);
        var rate = rows / time.GetElapsedTime(started).TotalSeconds;
        Report.Line(Name, $"snowflake storage: DuckDB inserted the same {rows:N0} rows into the emulator's database directly at {rate:N0} rows/s (no API, no JSON)");
        return rate;
    }

    private sealed record TrickleResult(double StatementsPerMinute, double RequestsPerMinute, double BatchesPerMinute);

    /// <summary>
    /// A steady trickle of one-row transactions into a fresh pipeline at the given latency target; counts what reaches the
    /// emulator during the window (table set-up and the first batch happen before it, on a priming row).
    /// </summary>
    private static async Task<TrickleResult> TrickleAsync(
        BenchSettings settings, SnowflakeEmulator emulator, string privateKey, int latencyTargetSeconds, int seconds, int rowsPerSecond, CancellationToken cancellationToken)
    {
        await using var database = await BenchDatabase.CreateAsync(settings, $"bench_wh_trickle_{latencyTargetSeconds}s", cancellationToken);
        await database.ExecuteAsync(BenchPipeline.CreateTable, cancellationToken);
        var pipelineId = Guid.NewGuid();
        var spec = await BenchPipeline.WriteSpecAsync(settings, pipelineId, database.Name,
            Destination(emulator, privateKey, TrickleDatabase(latencyTargetSeconds), latencyTargetSeconds), new DeliverySpec(), cancellationToken);
        await using var worker = WorkerProcess.Start(settings, spec, $"worker-snowflake-trickle-{latencyTargetSeconds}s");
        await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
        await database.ExecuteAsync(BenchPipeline.InsertRange(1, 1), cancellationToken);
        var primed = await worker.WaitForAsync(r => PgStreamBench.Inserted(r) >= 1, TimeSpan.FromSeconds(latencyTargetSeconds + 60), "the priming row", cancellationToken);

        var statementsBefore = emulator.ExecutedStatements;
        var requestsBefore = emulator.ExecutedRequests;
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var inserted = 0L;
        await using (var connection = await database.OpenAsync(cancellationToken))
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1.0 / rowsPerSecond), time);
            while (time.GetElapsedTime(started).TotalSeconds < seconds && await timer.WaitForNextTickAsync(cancellationToken))
            {
                var id = 2 + inserted;
                await using var insert = new NpgsqlCommand(BenchPipeline.InsertRange(id, id), connection);
                await insert.ExecuteNonQueryAsync(cancellationToken);
                inserted++;
            }
        }

        var window = time.GetElapsedTime(started);
        var statements = emulator.ExecutedStatements - statementsBefore;
        var requests = emulator.ExecutedRequests - requestsBefore;
        var atEnd = worker.Report() ?? primed;
        // Every trickled row must arrive (the last ones within one latency target), or the count above meant nothing.
        await worker.WaitForAsync(r => PgStreamBench.Inserted(r) >= 1 + inserted, TimeSpan.FromSeconds(latencyTargetSeconds + 60), $"{inserted} trickled rows", cancellationToken);
        await worker.StopAsync();

        var minutes = window.TotalMinutes;
        var batches = atEnd.Batches - primed.Batches;
        var result = new TrickleResult(statements / minutes, requests / minutes, batches / minutes);
        Report.Line(Name, $"trickle at batch_latency_target_s={latencyTargetSeconds}: {inserted:N0} one-row transactions in {window.TotalSeconds:0.0} s; the emulator executed {statements:N0} statements in {requests:N0} requests = {result.StatementsPerMinute:0.#} statements/min, {result.RequestsPerMinute:0.#} requests/min; about {batches:N0} batches ({result.BatchesPerMinute:0.#}/min, from the worker's status file)");
        return result;
    }
}
