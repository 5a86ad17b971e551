using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Freshet.Contracts;
using Freshet.DataPlane.Tests.Destinations.Snowflake;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// PostgreSQL → Snowflake (the SQL API emulator) with a real worker process: the randomized workload snapshotted while
/// it writes and then streamed while the service throttles and fails requests (429 and 503 with Retry-After), and the
/// same under a SIGKILL crash loop. At the end the Snowflake tables equal the source value by value.
/// </summary>
public sealed partial class SnowflakeReplicationTests
{
    [Fact]
    public async Task RandomWorkload_WithThrottlingAndOutagesWhileStreaming_DestinationEqualsSource()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var harness = await PipelineHarness.CreateAsync(Target.Snowflake, "sf_e2e");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        var shop = new TestShop(harness.SourceConnectionString, seed: 42);
        await shop.LoadAsync(items: 3000, lines: 1000, events: 600);
        var spec = await harness.WriteSpecAsync(harness.Spec(
            delivery: new(MaxBatchDelayMilliseconds: 100, SnapshotChunkRows: 400, SnapshotParallelism: 2),
            destination: Destination(account)));

        await using var worker = WorkerProcess.Start(spec);
        var workload = shop.RunAsync(transactions: 400);
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(120));
        // Bursts of a throttled and an unavailable answer, the next burst only once requests got through again, so that
        // the client's retries (same requestId, Retry-After honoured) carry every request through.
        var bursts = 0;
        while (!workload.IsCompleted || bursts < 8)
        {
            var served = account.Emulator.FaultsServed;
            account.Emulator.InjectFaults(429, 1, TimeSpan.FromSeconds(1));
            account.Emulator.InjectFaults(503, 1);
            bursts++;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (account.Emulator.FaultsServed < served + 2 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }

            var executed = account.Emulator.ExecutedRequests;
            while (account.Emulator.ExecutedRequests < executed + 3 && DateTime.UtcNow < deadline)
            {
                await Task.Delay(50);
            }
        }

        await workload;
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(90), worker);

        var differences = await DifferencesAsync(harness, account);
        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
        Assert.True(account.Emulator.FaultsServed >= 16 && !worker.Output.Contains("transient failure", StringComparison.Ordinal), 
            $"{account.Emulator.FaultsServed} injected faults reached the worker (at least 16 expected), each to be absorbed by the client's retries\n{worker.Output}");
        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(10));
        Assert.True(report.Tables["public.items"].SnapshotChunksTotal > 1, "the snapshot of items should take several chunks");
    }

    [Fact]
    public async Task KilledRepeatedlyDuringSnapshotAndStreaming_DestinationEqualsSource()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        await using var harness = await PipelineHarness.CreateAsync(Target.Snowflake, "sf_crash");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        await new TestShop(harness.SourceConnectionString, seed: 7).LoadAsync(items: 6000, lines: 2000, events: 1000);
        // A small request limit, so that some batches and chunks travel in several requests and are merged from the stage.
        var spec = await harness.WriteSpecAsync(harness.Spec(
            delivery: new(MaxBatchDelayMilliseconds: 50, SnapshotChunkRows: 600, SnapshotParallelism: 2),
            destination: Destination(account, new() { ["max_request_bytes"] = "262144" })));

        using var stopWorkload = new CancellationTokenSource();
        var workload = Task.Run(() => new TestShop(harness.SourceConnectionString, seed: 8).RunUntilAsync(stopWorkload.Token));
        var crashes = await CrashLoop.RunAsync(spec, kills: 10);
        await stopWorkload.CancelAsync();
        await workload;
        await using var final = WorkerProcess.Start(spec);
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(120), final);

        var differences = await DifferencesAsync(harness, account);
        Assert.True(differences.Length == 0, $"{differences}\n{crashes.Describe()}\n=== final\n{final.Output}");
        Assert.Contains(PipelineRunState.Snapshotting, crashes.KilledDuring);
        Assert.Contains(PipelineRunState.Streaming, crashes.KilledDuring);
    }

    private static EndpointSpec Destination(SnowflakeTestAccount account, Dictionary<string, string>? settings = null)
    {
        var all = new Dictionary<string, string> { ["batch_latency_target_s"] = "0.1" };
        foreach (var (name, value) in settings ?? [])
        {
            all[name] = value;
        }

        return SnowflakeDestinationTests.Endpoint(account.Emulator.BaseAddress, account.Key.ExportPkcs8PrivateKeyPem(), all);
    }

    /// <summary>
    /// Every difference between the shop's source tables and their Snowflake tables. JSON is compared by content on both
    /// sides (VARIANT keeps a json column's value, not its text), arrays are read from their VARIANT and intervals from
    /// their ISO 8601 text.
    /// </summary>
    private static async Task<string> DifferencesAsync(PipelineHarness harness, SnowflakeTestAccount account)
    {
        var json = new HashSet<string>(TestShop.JsonColumns) { "doc" };
        var report = "";
        foreach (var (table, columns, keys) in new[]
        {
            ("items", TestShop.ItemColumns, new[] { "id" }),
            ("order_lines", TestShop.LineColumns, ["order_id", "line"]),
            ("events", TestShop.EventColumns, ["id"]),
        })
        {
            var source = await TableContents.FromPostgresAsync(harness.SourceConnectionString, table, columns, keys, TestShop.TextColumns, json);
            var destination = await ReadAsync(account, table, columns, keys, json);
            report += destination.DifferencesFrom(source);
        }

        return report;
    }

    private static async Task<TableContents> ReadAsync(SnowflakeTestAccount account, string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys, IReadOnlySet<string> json)
    {
        var rows = await account.Emulator.QueryAsync($"SELECT {string.Join(", ", columns.Select(c => $"\"{c}\""))} FROM \"FRESHET\".\"PUBLIC\".\"{table}\"");
        var keyIndexes = keys.Select(k => columns.ToList().IndexOf(k)).ToArray();
        var contents = new Dictionary<string, string[]>();
        foreach (var row in rows)
        {
            var values = columns.Select((column, i) => column switch
            {
                _ when row[i] is null => Canonical.Of(null),
                "ints" or "tags" or "moods" => Array((string)row[i]!),
                "span" => Interval((string)row[i]!),
                _ when json.Contains(column) => Canonical.Json(row[i]),
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

    private static string Array(string variant) =>
        "[" + string.Join(",", JsonDocument.Parse(variant).RootElement.EnumerateArray().Select(e => e.ValueKind switch
        {
            JsonValueKind.Null => Canonical.Of(null),
            JsonValueKind.String => e.GetString()!,
            _ => e.GetRawText(),
        })) + "]";

    private static string Interval(string iso)
    {
        var match = IsoInterval().Match(iso);
        Assert.True(match.Success, $"'{iso}' is not the ISO 8601 interval the destination writes");
        var micros = decimal.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture) * 1_000_000m;
        return $"{match.Groups[1].Value}mon {match.Groups[2].Value}d {micros.ToString("0", CultureInfo.InvariantCulture)}us";
    }

    [GeneratedRegex(@"^P(-?\d+)M(-?\d+)DT(-?\d+(?:\.\d+)?)S$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoInterval();
}
