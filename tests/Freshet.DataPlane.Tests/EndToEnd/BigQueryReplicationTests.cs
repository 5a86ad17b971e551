using Freshet.Contracts;
using Freshet.DataPlane.Tests.Destinations.BigQuery;
using Freshet.DataPlane.Tests.Support;
using Freshet.Emulators.BigQuery;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// MariaDB → BigQuery (the emulator: REST and Storage Write) with a real worker process: the randomized workload
/// snapshotted while it writes and then streamed while both APIs throttle and fail (RESOURCE_EXHAUSTED/UNAVAILABLE with
/// RetryInfo on AppendRows, 429/503 with Retry-After on REST), and the same under a SIGKILL crash loop. At the end the
/// BigQuery tables equal the source value by value.
/// </summary>
public sealed class BigQueryReplicationTests
{
    [Fact]
    public async Task MariaDb_RandomWorkload_WithThrottlingAndOutagesWhileStreaming_DestinationEqualsSource()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var shop = await MariaDbShop.CreateAsync("bq_e2e");
        await shop.LoadAsync(items: 3000, lines: 1000, seed: 42);
        var spec = await shop.WriteSpecAsync(shop.Spec(new DeliverySpec(MaxBatchDelayMilliseconds: 100, SnapshotChunkRows: 400)) with { Destination = Destination(bq) });

        // Writes run from before the worker starts (the snapshot is taken while they go on) until the last burst of faults,
        // at a pace the emulator (which applies CDC rows one by one in DuckDB) keeps up with.
        using var stop = new CancellationTokenSource();
        var workload = PacedWorkloadAsync(shop, seed: 43, stop.Token);
        await using var worker = WorkerProcess.Start(spec);
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(120));
        // Bursts of one throttled and one unavailable answer on each API in turn, the next burst only once requests got
        // through again, so that the clients' retries (after RetryInfo / Retry-After) carry every request through.
        for (var bursts = 0; bursts < 8; bursts++)
        {
            var served = bq.Emulator.FaultsServed;
            var target = bursts % 2 == 0 ? FaultTarget.Storage : FaultTarget.Rest;
            bq.Emulator.InjectFaults(target, FaultKind.Throttled, 1, TimeSpan.FromMilliseconds(500));
            bq.Emulator.InjectFaults(target, FaultKind.Unavailable, 1, TimeSpan.FromMilliseconds(200));
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (bq.Emulator.FaultsServed < served + 2 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            var queries = bq.Emulator.ExecutedQueries;
            while (bq.Emulator.ExecutedQueries < queries + 2 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }

        await stop.CancelAsync();
        var committed = await workload;
        var differences = await WaitForEqualAsync(shop, bq, TimeSpan.FromSeconds(90));

        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
        Assert.True(bq.Emulator.FaultsServed >= 16 && !worker.Output.Contains("transient failure", StringComparison.Ordinal),
            $"{bq.Emulator.FaultsServed} injected faults reached the worker (at least 16 expected), each to be absorbed by the clients' retries\n{worker.Output}");
        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(10));
        var items = report.Tables[$"{shop.Source.Database}.items"];
        Assert.True(items.SnapshotChunksTotal > 1, "the snapshot of items should take several chunks");
        Assert.True(committed > 300, $"only {committed} transactions committed");
    }

    [Fact]
    public async Task MariaDb_KilledRepeatedlyDuringSnapshotAndStreaming_DestinationEqualsSource()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await using var shop = await MariaDbShop.CreateAsync("bq_crash");
        await shop.LoadAsync(items: 4000, lines: 1000, seed: 7);
        // Small chunks, so that kills land inside the snapshot (MariaDB serves it quickly).
        var spec = await shop.WriteSpecAsync(shop.Spec(new DeliverySpec(MaxBatchDelayMilliseconds: 50, SnapshotChunkRows: 150)) with { Destination = Destination(bq) });

        using var stop = new CancellationTokenSource();
        var workload = PacedWorkloadAsync(shop, seed: 8, stop.Token);
        var crashes = await CrashLoop.RunAsync(spec, kills: 8, snapshotKills: 3);
        await stop.CancelAsync();
        var committed = await workload;
        await using var final = WorkerProcess.Start(spec);
        var differences = await WaitForEqualAsync(shop, bq, TimeSpan.FromSeconds(120));

        Assert.True(differences.Length == 0, $"{differences}\n{crashes.Describe()}\n=== final\n{final.Output}");
        Assert.Contains(PipelineRunState.Snapshotting, crashes.KilledDuring);
        Assert.Contains(PipelineRunState.Streaming, crashes.KilledDuring);
        Assert.True(committed > 100, $"only {committed} transactions committed during the kills");
    }

    /// <summary>Random transactions in groups of ten, a pause after each, until <paramref name="stop"/>; returns how many committed.</summary>
    private static Task<int> PacedWorkloadAsync(MariaDbShop shop, int seed, CancellationToken stop) => Task.Run(async () =>
    {
        var committed = 0;
        for (var group = 0; !stop.IsCancellationRequested; group++)
        {
            committed += await shop.RunUntilAsync(seed + group * 7919, stop, transactions: 10);
            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
            }
        }

        return committed;
    });

    private static EndpointSpec Destination(BigQueryTestProject bq) =>
        BigQueryDestinationTests.Endpoint(bq.Emulator.RestAddress, bq.Emulator.StorageAddress, bq.KeyJson, new() { ["batch_latency_target_s"] = "0.1" });

    private static async Task<string> WaitForEqualAsync(MariaDbShop shop, BigQueryTestProject bq, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var differences = await DifferencesAsync(shop, bq);
        while (differences.Length > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            differences = await DifferencesAsync(shop, bq);
        }

        return differences;
    }

    /// <summary>
    /// Every difference between the shop's MariaDB tables and their BigQuery tables. JSON is compared by content (BigQuery
    /// keeps a JSON value, not its text), DATE read back as a date.
    /// </summary>
    private static async Task<string> DifferencesAsync(MariaDbShop shop, BigQueryTestProject bq)
    {
        var report = "";
        foreach (var (table, columns, keys) in new[] { ("items", MariaDbShop.ItemColumns, new[] { "id" }), ("order_lines", MariaDbShop.LineColumns, ["order_id", "line"]) })
        {
            var source = await TableContents.FromMariaDbAsync(shop.ConnectionString, table, columns, keys);
            var json = columns.ToList().IndexOf("doc");
            var expected = new TableContents(table, columns, source.Rows.ToDictionary(r => r.Key, r => json < 0 || r.Value[json] == Canonical.Of(null)
                ? r.Value
                : [.. r.Value.Select((v, i) => i == json ? Canonical.Json(v) : v)]));
            TableContents destination;
            try
            {
                destination = await ReadAsync(bq, table, columns, keys);
            }
            catch (DuckDB.NET.Data.DuckDBException e) when (e.Message.Contains("does not exist", StringComparison.Ordinal))
            {
                return $"{table} does not exist in BigQuery yet";
            }

            report += destination.DifferencesFrom(expected);
        }

        return report;
    }

    private static async Task<TableContents> ReadAsync(BigQueryTestProject bq, string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys)
    {
        var rows = await bq.Emulator.QueryAsync($"SELECT {string.Join(", ", columns.Select(c => $"\"{c}\""))} FROM \"freshet\".\"{table}\"");
        var keyIndexes = keys.Select(k => columns.ToList().IndexOf(k)).ToArray();
        var contents = new Dictionary<string, string[]>();
        foreach (var row in rows)
        {
            var values = columns.Select((column, i) => column switch
            {
                _ when row[i] is null => Canonical.Of(null),
                "doc" => Canonical.Json(row[i]),
                "day" when row[i] is DateTime date => Canonical.Of(DateOnly.FromDateTime(date)),
                _ => Canonical.Of(row[i]),
            }).ToArray();
            var key = string.Join("/", keyIndexes.Select(i => values[i]));
            if (!contents.TryAdd(key, values))
            {
                throw new InvalidOperationException($"{table} holds key {key} twice.");
            }
        }

        return new TableContents(table, columns, contents);
    }
}
