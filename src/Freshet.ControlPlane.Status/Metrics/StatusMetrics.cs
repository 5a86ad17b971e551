using System.Diagnostics.Metrics;
using System.Text.Json;
using Freshet.Contracts;

namespace Freshet.ControlPlane.Status.Metrics;

/// <summary>
/// The status module's meter, <c>Freshet.Status</c>: per-pipeline gauges and counters labelled <c>tenant_id</c> and
/// <c>pipeline_id</c>, and the ingest's own counter and duration. Observable callbacks run on the scraping thread and
/// must not wait on the database, so they read the last <see cref="PipelineFigures"/> that
/// <see cref="PipelineMetricsRefresher"/> published.
/// </summary>
/// <remarks>
/// Instrument names already end in their Prometheus unit suffix (<c>_seconds</c>, <c>_bytes</c>, <c>_per_second</c>);
/// the exporter appends a unit suffix only when the name does not end in it, and <c>_total</c> to counters, so the
/// scraped names are the instrument names with dots as underscores.
/// </remarks>
internal sealed class StatusMetrics
{
    public const string MeterName = "Freshet.Status";

    private static readonly PipelineRunState[] RunStates = Enum.GetValues<PipelineRunState>();

    private readonly Counter<long> _reportsIngested;
    private readonly Histogram<double> _ingestDuration;
    private readonly Counter<long> _alertNotices;
    private readonly Counter<long> _alertAttempts;
    private readonly TimeProvider _time;
    private Pipeline[] _pipelines = [];

    public StatusMetrics(IMeterFactory meters, TimeProvider time)
    {
        _time = time;
        var meter = meters.Create(MeterName);
        _reportsIngested = meter.CreateCounter<long>(
            "freshet.status.reports_ingested", "{report}", "Progress reports taken by the status store (duplicates and late ones included).");
        // The SDK's default buckets (0 to 10,000) suit milliseconds; these are ASP.NET Core's for durations in seconds.
        _ingestDuration = meter.CreateHistogram(
            "freshet.status.ingest.duration",
            "s",
            "How long one ingest of a worker's reports took, its transaction included.",
            tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10] });

        _alertNotices = meter.CreateCounter<long>(
            "freshet.alert.notices", "{notice}", "Alert notices finished, by type (alert.firing, alert.resolved, alert.test) and outcome (delivered, failed, dropped).");
        _alertAttempts = meter.CreateCounter<long>(
            "freshet.alert.delivery_attempts", "{attempt}", "Webhook posts, by result: delivered, refused (the receiver answered an error) or unreachable.");

        meter.CreateObservableGauge("freshet.pipeline.lag_seconds", () => Gauge(p => p.LagSeconds), "s",
            "Age of the oldest source commit not yet in the destination, at the latest report; zero when caught up.");
        meter.CreateObservableGauge("freshet.pipeline.lag_bytes", () => Gauge(p => p.LagBytes), "By",
            "Source log between its head and the last position committed to the destination, at the latest report.");
        meter.CreateObservableGauge("freshet.pipeline.rows_per_second", () => Gauge(p => p.RowsPerSecond), "{row}/s",
            "Rows delivered per second, recently, at the latest report.");
        meter.CreateObservableGauge("freshet.pipeline.bytes_per_second", () => Gauge(p => p.BytesPerSecond), "By/s",
            "Bytes delivered per second, recently, at the latest report.");
        meter.CreateObservableGauge("freshet.pipeline.retained_wal_bytes", () => Gauge(p => p.RetainedWalBytes), "By",
            "WAL the pipeline's replication slot holds back at the source (PostgreSQL).");
        meter.CreateObservableGauge("freshet.pipeline.report_age_seconds", ReportAge, "s",
            "Time since the status store received the pipeline's latest report.");
        meter.CreateObservableGauge("freshet.pipeline.run_state", RunState, "{state}",
            "1 for the run state of the latest report (label state), 0 for the others.");

        // Workers count these per run: they start again from zero when a run restarts or moves, which Prometheus'
        // rate() and increase() read as a counter reset.
        meter.CreateObservableCounter("freshet.pipeline.rows_delivered", () => Counter(p => p.RowsDelivered), "{row}",
            "Rows delivered by the pipeline's current run.");
        meter.CreateObservableCounter("freshet.pipeline.batches", () => Counter(p => p.Batches), "{batch}",
            "Batches committed by the pipeline's current run.");
        meter.CreateObservableCounter("freshet.pipeline.retries", () => Counter(p => p.Retries), "{retry}",
            "Retried attempts of the pipeline's current run.");
        meter.CreateObservableCounter("freshet.pipeline.errors", () => Counter(p => p.Errors), "{error}",
            "Errors of the pipeline's current run.");
    }

    /// <summary>How many pipelines the last published figures hold.</summary>
    public int PipelineCount => Volatile.Read(ref _pipelines).Length;

    public void RecordIngest(int reports, TimeSpan duration)
    {
        _reportsIngested.Add(reports);
        _ingestDuration.Record(duration.TotalSeconds);
    }

    public void RecordAlertNotice(string type, string outcome) =>
        _alertNotices.Add(1, new KeyValuePair<string, object?>("type", type), new KeyValuePair<string, object?>("outcome", outcome));

    public void RecordAlertAttempt(int? statusCode, bool delivered) =>
        _alertAttempts.Add(1, new KeyValuePair<string, object?>("result", delivered ? "delivered" : statusCode is null ? "unreachable" : "refused"));

    /// <summary>Replaces the figures every observable instrument reports from.</summary>
    public void Publish(IEnumerable<PipelineFigures> figures) =>
        Volatile.Write(ref _pipelines, figures.Select(f => new Pipeline(f, Tags(f))).ToArray());

    private static KeyValuePair<string, object?>[] Tags(PipelineFigures figures) =>
    [
        new("tenant_id", figures.TenantId.ToString("D")),
        new("pipeline_id", figures.PipelineId.ToString("D")),
    ];

    private IEnumerable<Measurement<double>> Gauge(Func<PipelineFigures, double?> value)
    {
        foreach (var pipeline in Volatile.Read(ref _pipelines))
        {
            if (value(pipeline.Figures) is { } measured)
            {
                yield return new Measurement<double>(measured, pipeline.Tags);
            }
        }
    }

    private IEnumerable<Measurement<long>> Counter(Func<PipelineFigures, long> value) =>
        Volatile.Read(ref _pipelines).Select(p => new Measurement<long>(value(p.Figures), p.Tags));

    private IEnumerable<Measurement<double>> ReportAge()
    {
        var now = _time.GetUtcNow();
        return Volatile.Read(ref _pipelines).Select(p => new Measurement<double>(Math.Max(0, (now - p.Figures.ReceivedAt).TotalSeconds), p.Tags));
    }

    // Every state of every pipeline, 1 or 0: a state the pipeline left reads 0 rather than keeping its last value.
    private IEnumerable<Measurement<int>> RunState()
    {
        foreach (var pipeline in Volatile.Read(ref _pipelines))
        {
            foreach (var state in RunStates)
            {
                yield return new Measurement<int>(
                    state == pipeline.Figures.State ? 1 : 0,
                    [.. pipeline.Tags, new("state", JsonNamingPolicy.SnakeCaseLower.ConvertName(state.ToString()))]);
            }
        }
    }

    private sealed record Pipeline(PipelineFigures Figures, KeyValuePair<string, object?>[] Tags);
}

/// <summary>A pipeline's latest report as the metrics show it, with its tenant.</summary>
internal sealed record PipelineFigures(
    Guid TenantId,
    Guid PipelineId,
    PipelineRunState State,
    double LagSeconds,
    long? LagBytes,
    double RowsPerSecond,
    double BytesPerSecond,
    long? RetainedWalBytes,
    long RowsDelivered,
    long Batches,
    long Retries,
    long Errors,
    DateTimeOffset ReceivedAt);
