using Freshet.Contracts;

namespace Freshet.ControlPlane.Status.Health;

// PipelineHealth, HealthReason and TableSnapshotProgress are contracts (Freshet.Contracts/Status.cs): the API renders them.

/// <summary>The codes of <see cref="HealthReason"/>: stable, snake_case, safe to alert on.</summary>
public static class HealthReasonCodes
{
    /// <summary>Its owner paused it.</summary>
    public const string PausedByOwner = "paused_by_owner";
    /// <summary>No worker has taken it yet.</summary>
    public const string WaitingForWorker = "waiting_for_worker";
    /// <summary>Placed, and its worker has not reported on it yet.</summary>
    public const string WaitingForFirstReport = "waiting_for_first_report";
    /// <summary>Failed reports in a row reached the limit.</summary>
    public const string RepeatedFailures = "repeated_failures";
    /// <summary>Work waits (lag, snapshot, a failed run) and nothing advanced for too long.</summary>
    public const string NoProgress = "no_progress";
    /// <summary>The worker has not reported for longer than expected.</summary>
    public const string NoReport = "no_report";
    /// <summary>The run is claiming the destination and preparing the source.</summary>
    public const string RunStarting = "run_starting";
    /// <summary>The last run stopped (fenced, stopped, paused) and a new one is expected.</summary>
    public const string RunRestarting = "run_restarting";
    /// <summary>The last run failed; the next attempt is scheduled.</summary>
    public const string RunFailedRetrying = "run_failed_retrying";
    /// <summary>A table is quarantined: its changes are held back.</summary>
    public const string TableQuarantined = "table_quarantined";
    /// <summary>Attempts were retried since the previous report.</summary>
    public const string Retrying = "retrying";
    /// <summary>The slot's retained WAL is near its limit, or will reach it soon.</summary>
    public const string WalRetentionRisk = "wal_retention_risk";
    /// <summary>The snapshot is copying; the message says how far it is.</summary>
    public const string SnapshotInProgress = "snapshot_in_progress";
    /// <summary>Lag is above the pipeline's threshold.</summary>
    public const string LagAboveThreshold = "lag_above_threshold";
}
