using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.DataPlane.Tests.Destinations.BigQuery;
using Freshet.DataPlane.Tests.Destinations.Snowflake;
using Freshet.DataPlane.Tests.Support;
using Npgsql;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// A real worker process under the heap limit .NET gives itself in the Helm chart's 512Mi worker container (75 %:
/// 384 MiB, set here with DOTNET_GCHeapHardLimit) takes a burst of PostgreSQL transactions into a warehouse emulator:
/// every row arrives and the pipeline never fails, for each kind of destination. Before Snowflake's requests were
/// written into small segments, its worker ran out of memory on the first batches of such a burst, again and again.
/// </summary>
public sealed class MemoryLimitTests
{
    private const string ChartHeapLimit = "0x18000000";
    private const int Transactions = 10;
    private const int RowsPerTransaction = 10_000;
    private const int Rows = Transactions * RowsPerTransaction;

    [Fact]
    public async Task DuckDb_BurstUnderTheChartsHeapLimit_EveryRowArrivesWithoutAFailure()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.DuckDb, "duck_mem");
        await using var worker = await StreamBurstAsync(harness, destination: null);
        var report = await LastReportAsync(worker);
        await worker.StopAsync();

        await using var connection = await DuckDbFile.OpenReadOnlyAsync(harness.DuckDbPath, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = Checks("burst");
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        await AssertArrivedAsync(harness, worker, report, [.. Enumerable.Range(0, reader.FieldCount).Select(reader.GetValue)]);
    }

    [Fact]
    public async Task Postgres_BurstUnderTheChartsHeapLimit_EveryRowArrivesWithoutAFailure()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.Postgres, "pg_mem");
        await using var worker = await StreamBurstAsync(harness, destination: null);
        var report = await LastReportAsync(worker);

        await using var connection = new NpgsqlConnection(harness.DestinationConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(Checks("analytics.burst"), connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        await AssertArrivedAsync(harness, worker, report, [.. Enumerable.Range(0, reader.FieldCount).Select(reader.GetValue)]);
    }

    [Fact]
    public async Task Snowflake_BurstUnderTheChartsHeapLimit_EveryRowArrivesWithoutAFailure()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var harness = await PipelineHarness.CreateAsync(Target.Snowflake, "sf_mem");
        var destination = SnowflakeDestinationTests.Endpoint(account.Emulator.BaseAddress, account.Key.ExportPkcs8PrivateKeyPem(),
            new() { ["batch_latency_target_s"] = "1" });

        await using var worker = await StreamBurstAsync(harness, destination);
        var report = await LastReportAsync(worker);

        var found = await account.Emulator.QueryAsync(Checks("\"FRESHET\".\"PUBLIC\".\"burst\""));
        await AssertArrivedAsync(harness, worker, report, found.Single());
    }

    [Fact]
    public async Task BigQuery_BurstUnderTheChartsHeapLimit_EveryRowArrivesWithoutAFailure()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var harness = await PipelineHarness.CreateAsync(Target.BigQuery, "bq_mem");
        var destination = BigQueryDestinationTests.Endpoint(bq.Emulator.RestAddress, bq.Emulator.StorageAddress, bq.KeyJson,
            new() { ["batch_latency_target_s"] = "1" });

        await using var worker = await StreamBurstAsync(harness, destination);
        var report = await LastReportAsync(worker);

        var found = await bq.Emulator.QueryAsync(Checks("\"freshet\".\"burst\""));
        await AssertArrivedAsync(harness, worker, report, found.Single());
    }

    /// <summary>
    /// Starts the worker on an empty table under the limit, then commits the burst as fast as PostgreSQL takes it (the
    /// worker falls behind, so its batches grow to their limits while one is written) and waits until all of it is applied.
    /// </summary>
    private static async Task<WorkerProcess> StreamBurstAsync(PipelineHarness harness, EndpointSpec? destination)
    {
        await harness.ExecuteAsync("""
            CREATE TABLE burst (id bigint PRIMARY KEY, k integer NOT NULL, name text NOT NULL, amount numeric(12,2) NOT NULL, ts timestamptz NOT NULL)
            """);
        var spec = await harness.WriteSpecAsync(harness.Spec(
            tables: [new TableSpec("public", "burst")],
            delivery: new DeliverySpec(),
            destination: destination));
        var worker = WorkerProcess.Start(spec, new Dictionary<string, string> { ["DOTNET_GCHeapHardLimit"] = ChartHeapLimit });
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        for (var t = 0; t < Transactions; t++)
        {
            var first = (long)t * RowsPerTransaction + 1;
            await harness.ExecuteAsync(string.Create(CultureInfo.InvariantCulture, $"""
                INSERT INTO burst SELECT i, (i % 100000)::int, md5(i::text), ((i % 1000000) / 100.0)::numeric(12,2), timestamptz '2024-01-01 00:00:00+00' + i * interval '1 second'
                FROM generate_series({first}::bigint, {first + RowsPerTransaction - 1}::bigint) AS i
                """));
        }

        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(90), worker);
        return worker;
    }

    /// <summary>Rows, distinct keys, key range, names that match their key, and the amounts' sum, in one row.</summary>
    private static string Checks(string table) => $"""
        SELECT count(*), count(DISTINCT "id"), min("id"), max("id"),
               count(*) FILTER (WHERE "name" = md5(CAST(CAST("id" AS BIGINT) AS VARCHAR))), sum("amount")
        FROM {table}
        """;

    private static Task<PipelineProgressReport> LastReportAsync(WorkerProcess worker) =>
        worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(10));

    private static async Task AssertArrivedAsync(PipelineHarness harness, WorkerProcess worker, PipelineProgressReport report, object?[] found)
    {
        var amounts = await harness.ScalarAsync<decimal>("SELECT sum(amount) FROM burst");
        var values = found.Select(v => Convert.ToDecimal(v, CultureInfo.InvariantCulture)).ToArray();

        Assert.True(report.Errors == 0 && !worker.Output.Contains(" failed (", StringComparison.Ordinal),
            $"the pipeline failed {report.Errors} time(s) under a {ChartHeapLimit}-byte heap\n{worker.Output}");
        Assert.Equal<decimal[]>([Rows, Rows, 1, Rows, Rows, amounts], values);
    }
}
