using System.Globalization;
using System.Text.RegularExpressions;
using Freshet.Contracts;
using Freshet.DataPlane.Engine;

namespace Freshet.Bench;

/// <summary>
/// bench/run pg-latency — commit-to-destination latency under a steady load.
///
/// pgbench inserts 50 rows per transaction at 100 transactions/s (5,000 rows/s, Poisson-paced by -R) for 60 s into a
/// table the worker streams into DuckDB with the default latency target. Per row, latency = _freshet_synced_at (taken
/// just before the destination commit) − _freshet_committed_at (the source commit time); p50 and p99 over every row of
/// the measured minute, read from the DuckDB file after the worker stopped. A short warm-up at the same rate comes first
/// (not counted) so the figures are the steady state, not the JIT's first seconds. There is no external baseline for
/// this; the context printed is what the source actually committed (rate, pgbench's own schedule lag) and the CPU the
/// worker and its walsender spent. BENCH_RATE (rows/s), BENCH_SECONDS, BENCH_WARMUP_SECONDS change the run.
/// </summary>
internal static partial class PgLatencyBench
{
    private const string Name = "pg-latency";
    private const int RowsPerTransaction = 50;

    public static async Task RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var rate = BenchSettings.Number("BENCH_RATE", 5_000);
        var seconds = BenchSettings.Number("BENCH_SECONDS", 60);
        var warmUp = BenchSettings.Number("BENCH_WARMUP_SECONDS", 5);
        var transactionsPerSecond = rate / RowsPerTransaction;
        var busyBefore = await Machine.CheckAsync(Name, cancellationToken);

        await using var database = await BenchDatabase.CreateAsync(settings, "bench_latency", cancellationToken);
        await database.ExecuteAsync(BenchPipeline.CreateTable, cancellationToken);
        var pipelineId = Guid.NewGuid();
        var slot = BenchPipeline.SlotName(pipelineId);
        var duckDb = Path.Combine(settings.WorkDir, "latency.duckdb");
        var delivery = new DeliverySpec();
        var spec = await BenchPipeline.WriteSpecAsync(settings, pipelineId, database.Name, duckDb, delivery, cancellationToken);
        var script = Path.Combine(settings.WorkDir, "insert.sql");
        await File.WriteAllTextAsync(script, $"""
            INSERT INTO {BenchPipeline.Table} (k, name, amount, ts)
            SELECT (random() * 100000)::int, md5(random()::text), (random() * 10000)::numeric(12,2), now()
            FROM generate_series(1, {RowsPerTransaction});

            """, cancellationToken);
        Report.Line(Name, $"{rate:N0} rows/s ({transactionsPerSecond} transactions of {RowsPerTransaction} rows/s) for {seconds} s after a {warmUp} s warm-up; latency target {delivery.MaxBatchDelayMilliseconds} ms");

        await using var walsender = CpuTracker.Single(ct => database.SlotHolderAsync(slot, ct));
        await using var worker = WorkerProcess.Start(settings, spec, "worker");
        await worker.WaitForAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromMinutes(2), "streaming", cancellationToken);
        if (warmUp > 0)
        {
            await PgBenchAsync(settings, database, script, transactionsPerSecond, warmUp, cancellationToken);
        }

        var measuredFrom = TimeProvider.System.GetUtcNow();
        var workerCpuBefore = ProcStats.CpuSeconds(worker.Id) ?? double.NaN;
        var walsenderCpuBefore = walsender.Seconds;
        var pgbench = await PgBenchAsync(settings, database, script, transactionsPerSecond, seconds, cancellationToken);
        var sourceRows = await database.ScalarAsync<long>($"SELECT count(*) FROM {BenchPipeline.Table}", cancellationToken);
        await worker.WaitForAsync(r => r.Tables.Values.Sum(t => t.Inserted) >= sourceRows, TimeSpan.FromMinutes(5), $"all {sourceRows:N0} rows delivered", cancellationToken);
        await worker.StopAsync();
        var final = worker.Final!.Value;
        var walsenderCpu = walsender.Seconds - walsenderCpuBefore;

        var from = measuredFrom.ToUnixTimeMilliseconds() * 1000;
        var result = await DestinationFile.RowAsync(duckDb, $"""
            SELECT count(*), quantile_cont(latency, 0.5), quantile_cont(latency, 0.99), max(latency), avg(latency), min(latency),
                   {DestinationFile.Seconds("min(_freshet_committed_at)")}, {DestinationFile.Seconds("max(_freshet_committed_at)")},
                   count(DISTINCT _freshet_committed_at), count(DISTINCT _freshet_synced_at)
            FROM (SELECT *, (epoch_us(_freshet_synced_at) - epoch_us(_freshet_committed_at)) / 1000000.0 AS latency
                  FROM {BenchPipeline.Table} WHERE epoch_us(_freshet_committed_at) >= {from})
            """, cancellationToken);
        var rows = result[0];
        var expected = pgbench.Transactions * RowsPerTransaction;
        if (rows != expected)
        {
            throw new BenchException($"the destination holds {rows} rows committed during the measurement, pgbench committed {expected}");
        }

        var achieved = rows / pgbench.Elapsed.TotalSeconds;
        var commitSpan = result[7] - result[6];
        Report.Line(Name, $"source: pgbench committed {pgbench.Transactions:N0} transactions ({rows:N0} rows) in {pgbench.Elapsed.TotalSeconds:0.0} s = {achieved:N0} rows/s; commit timestamps span {commitSpan:0.0} s ({rows / commitSpan:N0} rows/s); pgbench: {pgbench.Summary}");
        Report.Line(Name, $"latency commit -> destination commit: p50 {result[1]:0.000} s, p99 {result[2]:0.000} s, max {result[3]:0.000} s, mean {result[4]:0.000} s, min {result[5]:0.000} s");
        Report.Line(Name, $"  {result[9]:0} destination commits for {result[8]:0} source transactions ({rows / result[9]:0} rows per destination commit, one per {commitSpan / result[9] * 1000:0} ms)");
        Report.Line(Name, $"  CPU over the measured {pgbench.Elapsed.TotalSeconds:0} s: worker {final.CpuSeconds - workerCpuBefore:0.0} s ({(final.CpuSeconds - workerCpuBefore) / pgbench.Elapsed.TotalSeconds * 100:0}% of a core), its walsender {walsenderCpu:0.0} s; worker peak RSS {final.PeakRssMb:0} MB");
        Report.Line(Name, $"targets: p50 <= 0.5 s, p99 <= 1.5 s");
        DestinationFile.Delete(duckDb);
        Report.Summary(Name,
            ("rows_per_s", achieved),
            ("p50_s", result[1]),
            ("p99_s", result[2]),
            ("peak_rss_mb", final.PeakRssMb),
            ("max_s", result[3]),
            ("source_commit_rows_per_s", rows / commitSpan),
            ("busy_before_pct", busyBefore));
    }

    private sealed record PgBenchResult(long Transactions, TimeSpan Elapsed, string Summary);

    private static async Task<PgBenchResult> PgBenchAsync(
        BenchSettings settings, BenchDatabase database, string script, int transactionsPerSecond, int seconds, CancellationToken cancellationToken)
    {
        var result = await ExternalTool.RunCheckedAsync(settings.Tool("pgbench"), [
            "-n", "-c", "1", "-R", transactionsPerSecond.ToString(CultureInfo.InvariantCulture), "-T", seconds.ToString(CultureInfo.InvariantCulture),
            "-f", script, database.Name], cancellationToken);
        var processed = ProcessedPattern().Match(result.Output);
        if (!processed.Success)
        {
            throw new BenchException($"pgbench printed no transaction count: {result.Output}");
        }

        var lines = result.Output.Split('\n')
            .Where(l => l.StartsWith("latency average", StringComparison.Ordinal) || l.StartsWith("rate limit schedule lag", StringComparison.Ordinal) || l.StartsWith("tps", StringComparison.Ordinal))
            .Select(l => l.Trim());
        return new PgBenchResult(long.Parse(processed.Groups[1].Value, CultureInfo.InvariantCulture), result.Elapsed, string.Join("; ", lines));
    }

    [GeneratedRegex(@"number of transactions actually processed: (\d+)")]
    private static partial Regex ProcessedPattern();
}
