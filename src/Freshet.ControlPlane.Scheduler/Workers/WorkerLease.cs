namespace Freshet.ControlPlane.Scheduler.Workers;

/// <summary>Leases, the reconcile loop and drains (section <c>Freshet:Scheduler</c>).</summary>
public sealed class LeaseOptions
{
    public const string Section = "Freshet:Scheduler";

    /// <summary>How often a worker renews its lease.</summary>
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a lease lasts after a renewal; its pipelines are placed elsewhere once it expires.</summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>
    /// How much earlier than the scheduler a worker considers its own lease gone, and stops writing: room for a
    /// renewal that succeeded on the server but whose answer was slow, and for the worker's last commit to finish.
    /// </summary>
    public TimeSpan WorkerSafetyMargin { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>How often the leading scheduler reconciles when nothing asks it to sooner.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long the scheduler's leadership lasts unless renewed (renewed every third of it).</summary>
    public TimeSpan LeaderLeaseDuration { get; set; } = TimeSpan.FromSeconds(6);

    /// <summary>How long a draining worker may take to hand its pipelines back before the scheduler moves the rest.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(90);

    /// <summary>How long a worker whose lease expired stays listed before its row is removed.</summary>
    public TimeSpan ForgetDeadWorkersAfter { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Rebalancing moves per reconcile round.</summary>
    public int MaxRebalanceMovesPerRound { get; set; } = 20;

    /// <summary>Why these settings cannot work, or null.</summary>
    public string? Validate()
    {
        if (HeartbeatInterval <= TimeSpan.Zero)
        {
            return "HeartbeatInterval must be positive.";
        }

        if (WorkerSafetyMargin < TimeSpan.Zero)
        {
            return "WorkerSafetyMargin cannot be negative.";
        }

        // One lost heartbeat must not cost a worker its pipelines, and the worker must still hold the lease on its own
        // clock after the margin.
        if (LeaseDuration < (2 * HeartbeatInterval) + WorkerSafetyMargin)
        {
            return $"LeaseDuration ({LeaseDuration}) must be at least two heartbeats plus the safety margin ({(2 * HeartbeatInterval) + WorkerSafetyMargin}).";
        }

        if (ReconcileInterval <= TimeSpan.Zero || ReconcileInterval > TimeSpan.FromMinutes(1))
        {
            return "ReconcileInterval must be between zero and one minute.";
        }

        if (LeaderLeaseDuration < TimeSpan.FromSeconds(1))
        {
            return "LeaderLeaseDuration must be at least one second.";
        }

        if (DrainTimeout <= TimeSpan.Zero)
        {
            return "DrainTimeout must be positive.";
        }

        return MaxRebalanceMovesPerRound < 0 ? "MaxRebalanceMovesPerRound cannot be negative." : null;
    }
}
