namespace Freshet.ControlPlane.Scheduler.Workers;

/// <summary>How long a worker's lease lasts and how often it is renewed (section <c>Freshet:Scheduler</c>).</summary>
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

        return null;
    }
}

/// <summary>The scheduler's side of a lease: renewals extend it from the server's clock; expiry frees the pipelines.</summary>
internal static class LeaseRules
{
    public static bool IsLive(Worker worker, DateTimeOffset now) => worker.LeaseExpiresAt > now;

    public static void Renew(Worker worker, DateTimeOffset now, LeaseOptions options)
    {
        worker.LastHeartbeatAt = now;
        worker.LeaseExpiresAt = now + options.LeaseDuration;
    }
}
