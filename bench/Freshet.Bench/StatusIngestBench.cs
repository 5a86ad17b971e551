using System.Diagnostics;
using Freshet.Contracts;
using Freshet.ControlPlane.Status;
using Freshet.ControlPlane.Status.Ingest;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.Bench;

/// <summary>
/// bench/run status-ingest — the status store's ingest under the load of a large installation: BENCH_PIPELINES
/// (10,000) pipelines on workers of BENCH_PIPELINES_PER_WORKER (100), each worker reporting all of its pipelines every
/// BENCH_REPORT_INTERVAL_S (5) seconds, the workers' phases spread evenly, for BENCH_SECONDS (120). Ingest lag is from a
/// batch's scheduled send to its commit (from then on the API reads it); a worker that falls behind its schedule adds
/// to the backlog. Baseline in the same run: the same batches at the same pace written as plain rows (one INSERT of the
/// reports as jsonb per batch), the least any store of them costs.
/// </summary>
internal static class StatusIngestBench
{
    private const string Name = "status-ingest";

    public static async Task RunAsync(BenchSettings settings, CancellationToken cancellationToken)
    {
        var pipelines = BenchSettings.Number("BENCH_PIPELINES", 10_000);
        var perWorker = BenchSettings.Number("BENCH_PIPELINES_PER_WORKER", 100);
        var interval = TimeSpan.FromSeconds(BenchSettings.Number("BENCH_REPORT_INTERVAL_S", 5));
        var duration = TimeSpan.FromSeconds(BenchSettings.Number("BENCH_SECONDS", 120));
        var baselineDuration = TimeSpan.FromSeconds(Math.Min(duration.TotalSeconds, BenchSettings.Number("BENCH_BASELINE_SECONDS", 30)));
        var busyBefore = await Machine.CheckAsync(Name, cancellationToken);
        var workers = Enumerable.Range(0, Math.Max(1, pipelines / perWorker))
            .Select(_ => (Id: Guid.NewGuid(), Pipelines: Enumerable.Range(0, perWorker).Select(_ => Guid.NewGuid()).ToArray()))
            .ToArray();
        Report.Line(Name, $"{workers.Length * perWorker:N0} pipelines on {workers.Length} workers, every {interval.TotalSeconds:0} s = {workers.Length * perWorker / interval.TotalSeconds:N0} reports/s offered, for {duration.TotalSeconds:0} s");

        await using var database = await BenchDatabase.CreateAsync(settings, "bench_status", cancellationToken);
        await new StatusDatabaseMigrator().MigrateAsync(database.ConnectionString, cancellationToken);
        await database.ExecuteAsync("CREATE TABLE plain_reports (pipeline_id uuid NOT NULL, report jsonb NOT NULL, received_at timestamptz NOT NULL)", cancellationToken);
        await using var dataSource = NpgsqlDataSource.Create(database.ConnectionString);
        var store = new StatusStore(dataSource, TimeProvider.System, NullLogger<StatusStore>.Instance);

        // Ours.
        var sizeBefore = await database.ScalarAsync<long>("SELECT pg_database_size(current_database())", cancellationToken);
        var seriesBefore = await database.ScalarAsync<long>("SELECT pg_total_relation_size('pipeline_status_points')", cancellationToken);
        var clientCpuBefore = Environment.CpuUsage.TotalTime;
        Run ours;
        await using (var backends = new CpuTracker(ct => database.BackendsAsync("freshet-bench", ct)))
        {
            ours = await DriveAsync(workers, interval, duration, (worker, reports, ct) => store.IngestAsync(worker, reports, ct), cancellationToken);
            Report.Line(Name, $"  CPU: database backends {backends.Seconds:0.0} s, this process (the workers' side) {(Environment.CpuUsage.TotalTime - clientCpuBefore).TotalSeconds:0.0} s");
        }

        var sizeAfter = await database.ScalarAsync<long>("SELECT pg_database_size(current_database())", cancellationToken);
        var seriesAfter = await database.ScalarAsync<long>("SELECT pg_total_relation_size('pipeline_status_points')", cancellationToken);
        // The whole database's growth, extrapolated as it is (the current statuses' old versions included, which
        // vacuum reclaims), and the series' alone: a day of 10-second points is what is kept (24 h), coarser points add a
        // sixth and a 360th of it.
        var mbPerDay = (sizeAfter - sizeBefore) / 1024.0 / 1024.0 * (TimeSpan.FromDays(1) / ours.Elapsed);
        var seriesMbPerDay = (seriesAfter - seriesBefore) / 1024.0 / 1024.0 * (TimeSpan.FromDays(1) / ours.Elapsed);
        Report.Line(Name, $"ours: {ours.Reports:N0} reports in {ours.Elapsed.TotalSeconds:0.0} s = {ours.Reports / ours.Elapsed.TotalSeconds:N0} reports/s; ingest lag p50 {ours.P(0.50):0.000} s, p99 {ours.P(0.99):0.000} s, max {ours.P(1):0.000} s; backlog at the end {ours.Backlog} batches; database +{(sizeAfter - sizeBefore) / 1024.0 / 1024.0:0.0} MB = {mbPerDay:N0} MB/day, of which the series {seriesMbPerDay:N0} MB/day");

        // Baseline: the same pace into a plain table.
        var baseline = await DriveAsync(workers, interval, baselineDuration, async (worker, reports, ct) =>
        {
            await using var insert = dataSource.CreateCommand("INSERT INTO plain_reports SELECT unnest($1::uuid[]), unnest($2::jsonb[]), now()");
            insert.Parameters.Add(new() { Value = reports.Select(r => r.PipelineId).ToArray() });
            insert.Parameters.Add(new() { Value = reports.Select(r => System.Text.Json.JsonSerializer.Serialize(r, StatusStore.ReportJson)).ToArray(), NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb });
            await insert.ExecuteNonQueryAsync(ct);
        }, cancellationToken);
        Report.Line(Name, $"baseline (plain INSERT of the same batches, {baselineDuration.TotalSeconds:0} s): {baseline.Reports / baseline.Elapsed.TotalSeconds:N0} reports/s; lag p50 {baseline.P(0.50):0.000} s, p99 {baseline.P(0.99):0.000} s; backlog {baseline.Backlog}");
        Report.Line(Name, $"targets: p99 <= 1 s, no backlog growth");
        Report.Summary(Name,
            ("reports_per_s", ours.Reports / ours.Elapsed.TotalSeconds),
            ("p99_s", ours.P(0.99)),
            ("backlog_end", ours.Backlog),
            ("db_mb_per_day", mbPerDay),
            ("series_mb_per_day", seriesMbPerDay),
            ("p50_s", ours.P(0.50)),
            ("baseline_p99_s", baseline.P(0.99)),
            ("baseline_reports_per_s", baseline.Reports / baseline.Elapsed.TotalSeconds),
            ("pipelines", workers.Length * perWorker),
            ("busy_before_pct", busyBefore));
    }

    /// <summary>
    /// Each worker sends its batch on its own schedule (phase spread over the interval); a send that ends after the next
    /// slot skips the slots it missed, and those count as backlog (reports a real worker would have sent late or merged).
    /// </summary>
    private static async Task<Run> DriveAsync(
        (Guid Id, Guid[] Pipelines)[] workers,
        TimeSpan interval,
        TimeSpan duration,
        Func<Guid, IReadOnlyList<PipelineProgressReport>, CancellationToken, Task> send,
        CancellationToken cancellationToken)
    {
        var lags = new List<double>();
        long reports = 0;
        long backlog = 0;
        var started = Stopwatch.GetTimestamp();
        var tasks = workers.Select(async (worker, index) =>
        {
            var phase = interval * index / workers.Length;
            long round = 0;
            while (true)
            {
                var due = phase + interval * round;
                if (due >= duration)
                {
                    return;
                }

                var wait = due - Stopwatch.GetElapsedTime(started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, cancellationToken);
                }

                var now = DateTimeOffset.UtcNow;
                var batch = worker.Pipelines.Select((p, i) => ReportOf(p, round, i, now)).ToList();
                await send(worker.Id, batch, cancellationToken);
                var lag = (Stopwatch.GetElapsedTime(started) - due).TotalSeconds;
                var next = (long)Math.Floor((Stopwatch.GetElapsedTime(started) - phase) / interval) + 1;
                lock (lags)
                {
                    lags.Add(lag);
                    reports += batch.Count;
                    backlog += Math.Max(0, next - round - 1);
                }

                round = Math.Max(round + 1, next);
            }
        }).ToList();
        await Task.WhenAll(tasks);
        return new Run(reports, Stopwatch.GetElapsedTime(started), [.. lags.Order()], backlog);
    }

    private static PipelineProgressReport ReportOf(Guid pipeline, long round, int index, DateTimeOffset at) =>
        new(pipeline, 1, PipelineRunState.Streaming, null, null, 1_000_000 + round * 5_000, 1_000_000 + round * 5_000 - index, index,
            (index % 7) * 0.1, 1_000, 80_000, at, at, 16_777_216, round * 5_000, round, 0, round % 50 == 49 ? 1 : 0,
            new Dictionary<string, TableProgressReport> { ["public.orders"] = new(round * 4_000, round * 900, round * 100, 0, 4, 4, null) },
            at);

    private sealed record Run(long Reports, TimeSpan Elapsed, double[] SortedLags, long Backlog)
    {
        /// <summary>The nearest-rank quantile of the lags.</summary>
        public double P(double quantile) =>
            SortedLags.Length == 0 ? double.NaN : SortedLags[Math.Clamp((int)Math.Ceiling(quantile * SortedLags.Length) - 1, 0, SortedLags.Length - 1)];
    }
}
