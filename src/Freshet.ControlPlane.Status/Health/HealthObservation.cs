using Freshet.Contracts;

namespace Freshet.ControlPlane.Status.Health;

/// <summary>Everything the health rules look at for one pipeline at one moment. The status store builds it.</summary>
/// <param name="Paused">Its owner paused it (the desired state).</param>
/// <param name="Placed">The scheduler placed it on a worker.</param>
/// <param name="Report">The latest report under the current placement's epoch, or null when none came yet.</param>
/// <param name="ReceivedAt">When that report was ingested; null to fall back on the worker's <see cref="PipelineProgressReport.ReportedAt"/>.</param>
/// <param name="LastProgressAt">When its committed position, delivered rows or snapshot chunks last advanced; null: never.</param>
/// <param name="SnapshotStartedAt">When the current run entered Snapshotting (for the snapshot's ETA); null: unknown.</param>
/// <param name="ConsecutiveFailedReports">Reports in a row that said Failed (or had more errors than the one before).</param>
/// <param name="LagThresholdSeconds">The pipeline's own lag threshold.</param>
/// <param name="RetainedWalLimitBytes">
/// How much WAL the slot may retain: what <c>max_slot_wal_keep_size</c> allows, or the WAL disk budget configured on the
/// source connection, whichever is smaller; null: unknown or unlimited.
/// </param>
/// <param name="RetainedWalGrowthBytesPerSecond">How fast the retained WAL grows, measured by the store from recent reports; null: unknown.</param>
/// <param name="RetriesSincePreviousReport">
/// Retried attempts since the previous report of the same run (the report's <see cref="PipelineProgressReport.Retries"/>
/// counts since the run started, so only the store, which keeps the previous one, can tell whether they still increase).
/// </param>
/// <param name="RetainedWalLimitKind">Which limit <paramref name="RetainedWalLimitBytes"/> is; null: <c>max_slot_wal_keep_size</c> (all older workers knew).</param>
public sealed record HealthObservation(
    bool Paused,
    bool Placed,
    PipelineProgressReport? Report,
    DateTimeOffset? ReceivedAt,
    DateTimeOffset? LastProgressAt,
    DateTimeOffset? SnapshotStartedAt,
    int ConsecutiveFailedReports,
    double LagThresholdSeconds,
    long? RetainedWalLimitBytes,
    double? RetainedWalGrowthBytesPerSecond,
    long RetriesSincePreviousReport = 0,
    RetainedWalLimitKind? RetainedWalLimitKind = null);

/// <summary>The thresholds of the health rules.</summary>
/// <param name="StaleAfter">A placed pipeline without a report for longer than this is Stale: the worker lease plus some grace.</param>
/// <param name="FailingAfterNoProgress">Work waiting (lag, a snapshot, a failed run) with no progress for this long is Failing.</param>
/// <param name="FailingAfterConsecutiveFailures">This many failed reports in a row is Failing.</param>
/// <param name="WalRiskHorizon">Retained WAL projected to reach its limit within this is a risk (Degraded).</param>
/// <param name="WalRiskFraction">Retained WAL above this fraction of its limit is a risk (Degraded).</param>
public sealed record HealthRules(
    TimeSpan StaleAfter,
    TimeSpan FailingAfterNoProgress,
    int FailingAfterConsecutiveFailures,
    TimeSpan WalRiskHorizon,
    double WalRiskFraction)
{
    /// <summary>
    /// 30 s without a report (several times the worker lease of 6 s, so one late report is no alarm), 10 min without
    /// progress, 3 failures in a row, WAL projected to reach its limit within 24 h or above 80 % of it.
    /// </summary>
    public static HealthRules Default { get; } = new(
        StaleAfter: TimeSpan.FromSeconds(30),
        FailingAfterNoProgress: TimeSpan.FromMinutes(10),
        FailingAfterConsecutiveFailures: 3,
        WalRiskHorizon: TimeSpan.FromHours(24),
        WalRiskFraction: 0.8);
}

/// <summary>The health rules' thresholds as operators set them (<c>Freshet:Status:Health</c>); defaults are <see cref="HealthRules.Default"/>.</summary>
internal sealed class HealthRulesOptions
{
    public const string Section = "Freshet:Status:Health";

    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "Freshet:Status:Health:StaleAfter must be between 00:00:01 and 01:00:00.")]
    public TimeSpan StaleAfter { get; set; } = HealthRules.Default.StaleAfter;

    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:01", "1.00:00:00", ErrorMessage = "Freshet:Status:Health:FailingAfterNoProgress must be between 00:00:01 and 1.00:00:00.")]
    public TimeSpan FailingAfterNoProgress { get; set; } = HealthRules.Default.FailingAfterNoProgress;

    [System.ComponentModel.DataAnnotations.Range(1, 1000, ErrorMessage = "Freshet:Status:Health:FailingAfterConsecutiveFailures must be between 1 and 1000.")]
    public int FailingAfterConsecutiveFailures { get; set; } = HealthRules.Default.FailingAfterConsecutiveFailures;

    public HealthRules ToRules() => HealthRules.Default with
    {
        StaleAfter = StaleAfter,
        FailingAfterNoProgress = FailingAfterNoProgress,
        FailingAfterConsecutiveFailures = FailingAfterConsecutiveFailures,
    };
}
