namespace Freshet.ControlPlane.Status.Health;

/// <summary>
/// How a pipeline is doing, as the console and the API show it. <see cref="HealthEvaluator"/> picks one per pipeline;
/// the order of its rules (see <see cref="HealthEvaluator.Rules"/>) is the order of severity.
/// </summary>
public enum HealthState
{
    /// <summary>Not placed on any worker yet: waiting for one with room.</summary>
    Pending,
    /// <summary>Placed; its run is starting (or restarting) and has not reported progress yet.</summary>
    Starting,
    /// <summary>Copying the existing rows of its tables.</summary>
    Snapshotting,
    /// <summary>Streaming changes, within its lag threshold, with nothing wrong.</summary>
    Healthy,
    /// <summary>Streaming, but further behind the source than its lag threshold.</summary>
    Lagging,
    /// <summary>Running, but something needs attention: a failed run being retried, a quarantined table, retries, WAL at risk.</summary>
    Degraded,
    /// <summary>Not getting anywhere: failures in a row, or no progress for too long while there is work to do.</summary>
    Failing,
    /// <summary>Held by its owner.</summary>
    Paused,
    /// <summary>Placed, but its worker has not reported for longer than expected: what it last said may no longer be true.</summary>
    Stale,
}
