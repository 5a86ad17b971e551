using System.Globalization;
using System.Security.Cryptography;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.BigQuery;
using Freshet.DataPlane.Destinations.Snowflake;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Schema;
using Freshet.Emulators.BigQuery;
using Freshet.Emulators.Snowflake;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Freshet.Bench;

/// <summary>
/// bench/run warehouses — PostgreSQL into the warehouse emulators through a real worker process: rows per second and
/// requests per destination batch for 1,000,000 streamed rows, and what a trickle costs per minute at a 1-second and a
/// 30-second batch latency target.
///
/// Both emulators (tests/Freshet.Emulators.Snowflake and .BigQuery, DuckDB in memory) run inside this process, one
/// emulated database or dataset per phase; the worker is the Release executable as a separate process, pointed at them
/// by the connections' worker-only endpoint settings and signed in as against the services (a registered key pair's
/// JWT; a service-account key through the token endpoint).
///
/// For each warehouse:
/// 1. Stream: the worker streams an empty table; after BENCH_WARMUP_ROWS (100,000, not counted) 1,000,000 rows arrive as
///    100 transactions of 10,000 (as in pg-stream). rows/s = rows / (the slot's acknowledgement of the last commit, which
///    the worker gives after the warehouse committed it − the moment before the first insert). Requests per batch = the
///    emulator's data requests over the load (Snowflake: SQL API requests; BigQuery: AppendRows requests) / the worker's
///    destination batches over it. Latency target BENCH_STREAM_LATENCY_TARGET_S (1): with the default (30 s) the last,
///    partial batch would wait 30 s.
/// 2. Baseline, same run, worker stopped: the emulator's ceiling for the same rows through the same client with no engine.
///    Snowflake: the destination's SQL API client and staging format (one TEXT binding holding a JSON array, flattened by
///    INSERT … SELECT) in requests as large as the destination's request limit (8 MiB), the next built while one runs.
///    BigQuery: the destination's Storage Write client (BigQueryStorageWriter) appending the rows as CDC UPSERTs to a
///    table with a primary key, 100,000 rows a call (cut under 9 MB a request), the next slice built while one is sent.
///    For Snowflake DuckDB inserting the rows into the emulator's storage directly (no API, no JSON) is printed too.
/// 3. Trickle: BENCH_TRICKLE_ROWS_PER_S (5) one-row transactions a second for BENCH_TRICKLE_SECONDS (120) at
///    batch_latency_target_s=1 and then =30, each with a fresh worker and pipeline (table set-up and the first batch happen
///    before the window, on a priming row). Counted in the window: Snowflake's SQL statements (each statement of a
///    multi-statement request, BEGIN and COMMIT included — what the account's query history lists) and BigQuery's query
///    jobs (each a script billed on its own) and AppendRows requests, per minute.
/// </summary>
internal static class WarehousesBench
{
    private const string Name = "warehouses";
    private const string SnowflakeUser = "LOADER";
    private const string ServiceAccount = "loader@freshet-emulator.iam.gserviceaccount.com";
    private const int BaselineSliceRows = 100_000;

    private static readonly SnowflakeAccount Account = SnowflakeAccount.Parse("xy12345.us-east-1");

    /// <summary>The bench table's columns as the PostgreSQL source describes them, for the baselines' bare clients.</summary>
    private static readonly ColumnSchema[] Columns =
    [
        new("id", new ColumnType(ValueKind.Int64, false, "bigint"), IsKey: true),
        new("k", new ColumnType(ValueKind.Int32, false, "integer"), IsKey: false),
        new("name", new ColumnType(ValueKind.Text, false, "text"), IsKey: false),
        new("amount", new ColumnType(ValueKind.Decimal, false, "numeric(12,2)", Precision: 12, Scale: 2), IsKey: false),
        new("ts", new ColumnType(ValueKind.TimestampTz, false, "timestamp with time zone"), IsKey: false),
    ];

    /// <summary>
    /// One emulated warehouse as the phases see it: where a phase's pipeline writes (<c>place</c>: a Snowflake database or
    /// a BigQuery dataset), how many data requests and billed statements the emulator has executed, how to count the
    /// streamed rows that landed.
    /// </summary>
    private sealed record Warehouse(
        string Label,
        string RequestsName,
        string StatementsName,
        Func<string, double, EndpointSpec> Destination,
        Func<long> Requests,
        Func<long> Statements,
        Func<string, string> TableSql,
        Func<string, CancellationToken, Task<List<object?[]>>> Query);

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
        var stream = new Phase("stream", streamLatencyTarget);
        Phase[] trickles = [new("trickle_1s", 1), new("trickle_30s", 30)];
        const string baselinePlace = "baseline";

        using var key = RSA.Create(2048);
        await using var snowflakeEmulator = await SnowflakeEmulator.StartAsync(new SnowflakeEmulatorOptions
        {
            Account = Account.JwtAccountName,
            Databases = [.. new[] { stream.Place, baselinePlace }.Concat(trickles.Select(t => t.Place)).Select(p => p.ToUpperInvariant())],
        }, cancellationToken);
        snowflakeEmulator.RegisterPublicKey(SnowflakeUser, key);
        var snowflake = Snowflake(snowflakeEmulator, key.ExportPkcs8PrivateKeyPem());

        await using var bigQueryEmulator = await BigQueryEmulator.StartAsync(new BigQueryEmulatorOptions
        {
            Datasets = [.. new[] { stream.Place, baselinePlace }.Concat(trickles.Select(t => t.Place))],
        }, cancellationToken);
        var bigQuery = BigQuery(bigQueryEmulator, bigQueryEmulator.CreateServiceAccountKey(ServiceAccount));
        Report.Line(Name, $"emulators in this process (DuckDB in memory): Snowflake SQL API at {snowflakeEmulator.BaseAddress}, BigQuery REST at {bigQueryEmulator.RestAddress} and Storage Write at {bigQueryEmulator.StorageAddress}");

        var snowflakeStream = await StreamAsync(settings, snowflake, stream, rows, transactions, rowsPerTransaction, warmUpRows, cancellationToken);
        var snowflakeBaseline = await SnowflakeBaselineAsync(snowflake, baselinePlace, rows, cancellationToken);
        var snowflakeStorage = await SnowflakeStorageAsync(snowflakeEmulator, baselinePlace, rows, cancellationToken);
        var snowflakeRatio = snowflakeStream.RowsPerSecond / snowflakeBaseline;
        Report.Line(Name, $"snowflake: pipeline / bare client = {snowflakeRatio:0.00}; pipeline / emulator storage = {snowflakeStream.RowsPerSecond / snowflakeStorage:0.00}");

        var bigQueryStream = await StreamAsync(settings, bigQuery, stream, rows, transactions, rowsPerTransaction, warmUpRows, cancellationToken);
        var bigQueryBaseline = await BigQueryBaselineAsync(bigQuery, baselinePlace, rows, cancellationToken);
        var bigQueryRatio = bigQueryStream.RowsPerSecond / bigQueryBaseline;
        Report.Line(Name, $"bigquery: pipeline / bare Storage Write client = {bigQueryRatio:0.00}");

        var snowflakeTrickles = new List<TrickleResult>();
        var bigQueryTrickles = new List<TrickleResult>();
        foreach (var trickle in trickles)
        {
            snowflakeTrickles.Add(await TrickleAsync(settings, snowflake, trickle, trickleSeconds, trickleRate, cancellationToken));
            bigQueryTrickles.Add(await TrickleAsync(settings, bigQuery, trickle, trickleSeconds, trickleRate, cancellationToken));
        }

        Report.Line(Name, $"snowflake statements per minute: {snowflakeTrickles[0].StatementsPerMinute:0.#} at a 1 s latency target, {snowflakeTrickles[1].StatementsPerMinute:0.#} at 30 s ({Fewer(snowflakeTrickles)})");
        Report.Line(Name, $"bigquery query jobs per minute: {bigQueryTrickles[0].StatementsPerMinute:0.#} at a 1 s latency target, {bigQueryTrickles[1].StatementsPerMinute:0.#} at 30 s ({Fewer(bigQueryTrickles)})");

        Report.Summary(Name,
            ("snowflake_rows_per_s", snowflakeStream.RowsPerSecond),
            ("bigquery_rows_per_s", bigQueryStream.RowsPerSecond),
            ("statements_per_min_1s", snowflakeTrickles[0].StatementsPerMinute),
            ("statements_per_min_30s", snowflakeTrickles[1].StatementsPerMinute),
            ("snowflake_requests_per_batch", snowflakeStream.RequestsPerBatch),
            ("snowflake_baseline_rows_per_s", snowflakeBaseline),
            ("snowflake_ratio", snowflakeRatio),
            ("snowflake_storage_rows_per_s", snowflakeStorage),
            ("bigquery_appendrows_per_batch", bigQueryStream.RequestsPerBatch),
            ("bigquery_jobs_per_batch", bigQueryStream.StatementsPerBatch),
            ("bigquery_baseline_rows_per_s", bigQueryBaseline),
            ("bigquery_ratio", bigQueryRatio),
            ("bigquery_jobs_per_min_1s", bigQueryTrickles[0].StatementsPerMinute),
            ("bigquery_jobs_per_min_30s", bigQueryTrickles[1].StatementsPerMinute),
            ("snowflake_requests_per_min_1s", snowflakeTrickles[0].RequestsPerMinute),
            ("snowflake_requests_per_min_30s", snowflakeTrickles[1].RequestsPerMinute),
            ("snowflake_batches", snowflakeStream.Batches),
            ("bigquery_batches", bigQueryStream.Batches),
            ("peak_rss_mb", Math.Max(snowflakeStream.PeakRssMb, bigQueryStream.PeakRssMb)),
            ("busy_before_pct", busyBefore));
    }

    /// <summary>A phase's pipeline: where it writes (a Snowflake database, upper-cased, or a BigQuery dataset) and its latency target.</summary>
    private sealed record Phase(string Place, double LatencyTargetSeconds);

    private static string Fewer(List<TrickleResult> trickles) =>
        trickles[1].StatementsPerMinute > 0
            ? string.Create(CultureInfo.InvariantCulture, $"{trickles[0].StatementsPerMinute / trickles[1].StatementsPerMinute:0.#} times fewer at 30 s")
            : "none fell in the 30 s window: make BENCH_TRICKLE_SECONDS longer than 30";

    private static double Seconds(string name, double fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text ? double.Parse(text, CultureInfo.InvariantCulture) : fallback;

    private static Warehouse Snowflake(SnowflakeEmulator emulator, string privateKey) => new(
        "snowflake", "SQL API requests", "SQL statements",
        (place, latency) => new EndpointSpec(ConnectionType.Snowflake,
            new Dictionary<string, string>
            {
                ["account"] = "xy12345.us-east-1",
                ["user"] = SnowflakeUser.ToLowerInvariant(),
                ["warehouse"] = "LOADING",
                ["database"] = place.ToUpperInvariant(),
                ["schema"] = "PUBLIC",
                ["endpoint"] = emulator.BaseAddress.ToString(),
                ["batch_latency_target_s"] = latency.ToString(CultureInfo.InvariantCulture),
            },
            new Dictionary<string, string> { ["private_key"] = privateKey }),
        () => emulator.ExecutedRequests,
        () => emulator.ExecutedStatements,
        place => $"\"{place.ToUpperInvariant()}\".\"PUBLIC\".\"{BenchPipeline.Table}\"",
        emulator.QueryAsync);

    private static Warehouse BigQuery(BigQueryEmulator emulator, string serviceAccountJson) => new(
        "bigquery", "AppendRows requests", "query jobs",
        (place, latency) => new EndpointSpec(ConnectionType.Bigquery,
            new Dictionary<string, string>
            {
                ["project_id"] = emulator.Options.ProjectId,
                ["dataset"] = place,
                ["location"] = emulator.Options.Location,
                ["rest_endpoint"] = emulator.RestAddress.ToString(),
                ["storage_endpoint"] = emulator.StorageAddress.ToString(),
                ["batch_latency_target_s"] = latency.ToString(CultureInfo.InvariantCulture),
            },
            new Dictionary<string, string> { ["service_account_json"] = serviceAccountJson }),
        () => emulator.Storage.AppendedRequests,
        () => emulator.ExecutedQueries,
        place => $"\"{place}\".\"{BenchPipeline.Table}\"",
        emulator.QueryAsync);

    private sealed record StreamResult(double RowsPerSecond, double RequestsPerBatch, double StatementsPerBatch, double Batches, double PeakRssMb);

    private static async Task<StreamResult> StreamAsync(
        BenchSettings settings, Warehouse warehouse, Phase phase, long rows, int transactions, int rowsPerTransaction, int warmUpRows, CancellationToken cancellationToken)
    {
        var label = warehouse.Label;
        await using var database = await BenchDatabase.CreateAsync(settings, $"bench_wh_{label}_stream", cancellationToken);
        // No autovacuum: nothing but the load writes WAL, so the load's end LSN is where the last commit ends.
        await database.ExecuteAsync(BenchPipeline.CreateTable + " WITH (autovacuum_enabled = off)", cancellationToken);
        var pipelineId = Guid.NewGuid();
        var slot = BenchPipeline.SlotName(pipelineId);
        var spec = await BenchPipeline.WriteSpecAsync(settings, pipelineId, database.Name,
            warehouse.Destination(phase.Place, phase.LatencyTargetSeconds), new DeliverySpec(), cancellationToken);
        var warmUpTransactions = warmUpRows > 0 ? Math.Max(1, warmUpRows / rowsPerTransaction) : 0;
        var warmUpTotal = (long)warmUpTransactions * rowsPerTransaction;
        Report.Line(Name, $"{label} stream: {rows:N0} rows as {transactions} transactions of {rowsPerTransaction:N0} after {warmUpTotal:N0} warm-up rows; batch_latency_target_s={phase.LatencyTargetSeconds}, other settings default");

        await using var worker = WorkerProcess.Start(settings, spec, $"worker-{label}-stream");
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
        var requestsBefore = warehouse.Requests();
        var statementsBefore = warehouse.Statements();
        var cpuBefore = ProcStats.CpuSeconds(worker.Id) ?? 0;
        var emulatorCpuBefore = ProcStats.CpuSeconds(Environment.ProcessId) ?? 0;

        var load = await PgStreamBench.LoadAsync(database, 1, transactions, rowsPerTransaction, cancellationToken);
        Report.Line(Name, $"  load: {load.Elapsed.TotalSeconds:0.00} s ({rows / load.Elapsed.TotalSeconds:N0} rows/s)");
        var acknowledged = await PgStreamBench.WaitForAcknowledgementAsync(database, slot, load, worker, cancellationToken);
        var after = await worker.WaitForAsync(r => PgStreamBench.Inserted(r) >= warmUpTotal + rows, TimeSpan.FromMinutes(1), $"{rows:N0} rows counted", cancellationToken);
        var requests = warehouse.Requests() - requestsBefore;
        var statements = warehouse.Statements() - statementsBefore;
        var emulatorCpu = (ProcStats.CpuSeconds(Environment.ProcessId) ?? double.NaN) - emulatorCpuBefore;
        await worker.StopAsync();
        var final = worker.Final!.Value;

        var landed = await warehouse.Query(
            $"SELECT count(*), epoch(max(\"{MetadataColumns.SyncedAt}\")), count(DISTINCT \"{MetadataColumns.SyncedAt}\") FROM {warehouse.TableSql(phase.Place)} WHERE id BETWEEN 1 AND {rows}",
            cancellationToken);
        var count = Convert.ToInt64(landed[0][0], CultureInfo.InvariantCulture);
        if (count != rows)
        {
            throw new BenchException($"the {label} emulator holds {count:N0} of the {rows:N0} streamed rows");
        }

        var seconds = (acknowledged - load.StartedAt).TotalSeconds;
        var syncedSeconds = Convert.ToDouble(landed[0][1], CultureInfo.InvariantCulture) - load.StartedAt.ToUnixTimeMilliseconds() / 1000.0;
        var commits = Convert.ToDouble(landed[0][2], CultureInfo.InvariantCulture);
        var batches = after.Batches - before.Batches;
        var rate = rows / seconds;
        Report.Line(Name, $"  ours: {rows:N0} rows in {seconds:0.00} s from the first insert to the slot's acknowledgement of the last commit = {rate:N0} rows/s");
        Report.Line(Name, $"  the last batch's _freshet_synced_at (stamped before it is sent) {syncedSeconds:0.00} s after the first insert = {rows / syncedSeconds:N0} rows/s");
        Report.Line(Name, $"  {batches:N0} destination batches ({commits:0} distinct _freshet_synced_at), {rows / (double)batches:N0} rows each; {requests:N0} {warehouse.RequestsName} = {(double)requests / batches:0.00} per batch; {statements:N0} {warehouse.StatementsName} = {(double)statements / batches:0.0} per batch");
        Report.Line(Name, $"  CPU from the first insert to the last row counted: worker {final.CpuSeconds - cpuBefore:0.00} s, emulator {emulatorCpu:0.00} s (this process: the emulators and the harness's polling); worker peak RSS {final.PeakRssMb:0} MB");
        return new StreamResult(rate, (double)requests / batches, (double)statements / batches, batches, final.PeakRssMb);
    }

    /// <summary>
    /// The same rows sent by the destination's own SQL API client and staging format with no engine around them: JSON
    /// arrays under the destination's default request limit, INSERT … SELECT … FLATTEN(PARSE_JSON(?)), one request at a
    /// time (the emulator runs one at a time anyway), the next array built while a request runs.
    /// </summary>
    private static async Task<double> SnowflakeBaselineAsync(Warehouse snowflake, string place, long rows, CancellationToken cancellationToken)
    {
        using var connection = SnowflakeDestinationSettings.Connect(snowflake.Destination(place, 1), TimeProvider.System, NullLogger.Instance);
        var client = connection.Client;
        var maxRequestBytes = connection.Settings.MaxRequestBytes;
        await client.ExecuteAsync(new SnowflakeStatement(SnowflakeStaging.CreateTable(BenchPipeline.Table, Columns, ifNotExists: false)), cancellationToken);
        var insert = SnowflakeStaging.InsertFromJson(BenchPipeline.Table, Columns);

        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var requests = 0;
        await foreach (var chunk in Prepared(() => SnowflakeStaging.Chunks(BenchPipeline.Table, Columns, GenerateRows(1, rows), maxRequestBytes), cancellationToken))
        {
            await client.ExecuteAsync(new SnowflakeStatement(insert) { Bindings = [SnowflakeBinding.Text(chunk)] }, cancellationToken);
            requests++;
        }

        var elapsed = time.GetElapsedTime(started);
        await ExpectRowsAsync(snowflake, place, rows, cancellationToken);
        var rate = rows / elapsed.TotalSeconds;
        Report.Line(Name, $"snowflake baseline: the bare SQL API client sent the same {rows:N0} rows in {requests:N0} requests of at most {maxRequestBytes / (1024 * 1024.0):0.#} MiB in {elapsed.TotalSeconds:0.00} s = {rate:N0} rows/s");
        return rate;
    }

    /// <summary>
    /// The same rows appended by the destination's Storage Write client with no engine: CDC UPSERTs with sequence
    /// numbers into a table with a primary key (what the destination writes for a keyed table), in calls of
    /// <see cref="BaselineSliceRows"/> rows that the writer cuts into requests under its 9 MB limit.
    /// </summary>
    private static async Task<double> BigQueryBaselineAsync(Warehouse bigQuery, string place, long rows, CancellationToken cancellationToken)
    {
        using var connection = BigQueryDestinationSettings.Connect(bigQuery.Destination(place, 1), TimeProvider.System, NullLogger.Instance);
        var columns = Columns.Select(c => BigQueryTypes.Column(c.Name, c.Type, c.IsKey)).ToList();
        await connection.Rest.CreateTableAsync(place, BenchPipeline.Table, columns, ["id"], null, cancellationToken);
        var schema = new StorageWriteRows(columns, changeData: true);

        var requestsBefore = bigQuery.Requests();
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        await foreach (var slice in Prepared(() => Slices(rows), cancellationToken))
        {
            await connection.Writer.AppendAsync(place, BenchPipeline.Table, schema, slice, cancellationToken);
        }

        var elapsed = time.GetElapsedTime(started);
        var requests = bigQuery.Requests() - requestsBefore;
        await ExpectRowsAsync(bigQuery, place, rows, cancellationToken);
        var rate = rows / elapsed.TotalSeconds;
        Report.Line(Name, $"bigquery baseline: the bare Storage Write client appended the same {rows:N0} rows as CDC UPSERTs in {requests:N0} AppendRows requests in {elapsed.TotalSeconds:0.00} s = {rate:N0} rows/s");
        return rate;

        static IEnumerable<List<StorageWriteRow>> Slices(long rows)
        {
            for (var first = 1L; first <= rows; first += BaselineSliceRows)
            {
                yield return [.. GenerateRows(first, Math.Min(rows, first + BaselineSliceRows - 1))
                    .Select(values => new StorageWriteRow(values, ChangeType.Upsert, StorageWriteRows.SequenceNumber((long)values[0]!, 0)))];
            }
        }
    }

    /// <summary>Items of <paramref name="produce"/> built on another thread, at most two ahead of the consumer.</summary>
    private static async IAsyncEnumerable<T> Prepared<T>(Func<IEnumerable<T>> produce, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<T>(new BoundedChannelOptions(2) { SingleReader = true, SingleWriter = true });
        var producer = Task.Run(async () =>
        {
            try
            {
                foreach (var item in produce())
                {
                    await channel.Writer.WriteAsync(item, cancellationToken);
                }
            }
            finally
            {
                channel.Writer.Complete();
            }
        }, cancellationToken);
        await foreach (var item in channel.Reader.ReadAllAsync(cancellationToken))
        {
            yield return item;
        }

        await producer;
    }

    private static async Task ExpectRowsAsync(Warehouse warehouse, string place, long rows, CancellationToken cancellationToken)
    {
        var landed = await warehouse.Query($"SELECT count(*) FROM {warehouse.TableSql(place)}", cancellationToken);
        if (Convert.ToInt64(landed[0][0], CultureInfo.InvariantCulture) != rows)
        {
            throw new BenchException($"the {warehouse.Label} baseline's table holds {landed[0][0]} rows, expected {rows:N0}");
        }
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

    /// <summary>DuckDB inserting the same rows into the Snowflake emulator's storage with no API in front: what the storage alone takes.</summary>
    private static async Task<double> SnowflakeStorageAsync(SnowflakeEmulator emulator, string place, long rows, CancellationToken cancellationToken)
    {
        var table = $"\"{place.ToUpperInvariant()}\".\"PUBLIC\".direct_rows";
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
    /// A steady trickle of one-row transactions into a fresh pipeline at the phase's latency target; counts what reaches
    /// the emulator during the window (table set-up and the first batch happen before it, on a priming row).
    /// </summary>
    private static async Task<TrickleResult> TrickleAsync(
        BenchSettings settings, Warehouse warehouse, Phase phase, int seconds, int rowsPerSecond, CancellationToken cancellationToken)
    {
        var label = warehouse.Label;
        await using var database = await BenchDatabase.CreateAsync(settings, $"bench_wh_{label}_{phase.Place}", cancellationToken);
        await database.ExecuteAsync(BenchPipeline.CreateTable, cancellationToken);
        var pipelineId = Guid.NewGuid();
        var spec = await BenchPipeline.WriteSpecAsync(settings, pipelineId, database.Name,
            warehouse.Destination(phase.Place, phase.LatencyTargetSeconds), new DeliverySpec(), cancellationToken);
        await using var worker = WorkerProcess.Start(settings, spec, $"worker-{label}-{phase.Place}");
        await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
        var allowance = TimeSpan.FromSeconds(phase.LatencyTargetSeconds + 60);
        await database.ExecuteAsync(BenchPipeline.InsertRange(1, 1), cancellationToken);
        var primed = await worker.WaitForAsync(r => PgStreamBench.Inserted(r) >= 1, allowance, "the priming row", cancellationToken);

        var statementsBefore = warehouse.Statements();
        var requestsBefore = warehouse.Requests();
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
        var statements = warehouse.Statements() - statementsBefore;
        var requests = warehouse.Requests() - requestsBefore;
        var atEnd = worker.Report() ?? primed;
        // Every trickled row must arrive (the last ones within one latency target), or the counts above meant nothing.
        await worker.WaitForAsync(r => PgStreamBench.Inserted(r) >= 1 + inserted, allowance, $"{inserted} trickled rows", cancellationToken);
        await worker.StopAsync();

        var minutes = window.TotalMinutes;
        var batches = atEnd.Batches - primed.Batches;
        var result = new TrickleResult(statements / minutes, requests / minutes, batches / minutes);
        Report.Line(Name, $"{label} trickle at batch_latency_target_s={phase.LatencyTargetSeconds}: {inserted:N0} one-row transactions in {window.TotalSeconds:0.0} s; {statements:N0} {warehouse.StatementsName} = {result.StatementsPerMinute:0.#}/min, {requests:N0} {warehouse.RequestsName} = {result.RequestsPerMinute:0.#}/min; about {batches:N0} batches ({result.BatchesPerMinute:0.#}/min, from the worker's status file)");
        return result;
    }
}
