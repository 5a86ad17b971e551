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

/// <summary>
/// A worker's own view of its lease, on its own monotonic clock. The worker notes the time just before it sends a
/// heartbeat; when the heartbeat is acknowledged, the server extended the lease from a later instant, so the worker's
/// view (that instant plus the duration, minus the margin) always ends before the server's: it stops writing before
/// the scheduler could place its pipelines elsewhere, whatever the two wall clocks say.
/// </summary>
internal sealed class HeldLease(LeaseOptions options, TimeProvider time)
{
    private long? _validUntil;

    /// <summary>Call just before sending a heartbeat; pass the result to <see cref="Acknowledged"/>.</summary>
    public long BeforeHeartbeat() => time.GetTimestamp();

    /// <summary>The heartbeat sent at <paramref name="sentAt"/> was accepted.</summary>
    public void Acknowledged(long sentAt)
    {
        var until = sentAt + ToTimestamp(options.LeaseDuration - options.WorkerSafetyMargin);
        if (_validUntil is not { } current || until > current)
        {
            _validUntil = until;
        }
    }

    /// <summary>The server said the lease is gone (expired or the worker was removed): stop at once.</summary>
    public void Lost() => _validUntil = null;

    /// <summary>Whether the worker may still write under its epochs.</summary>
    public bool IsHeld => _validUntil is { } until && time.GetTimestamp() < until;

    /// <summary>How long it is still held (zero when not).</summary>
    public TimeSpan Remaining =>
        _validUntil is { } until && time.GetTimestamp() < until ? time.GetElapsedTime(time.GetTimestamp(), until) : TimeSpan.Zero;

    private long ToTimestamp(TimeSpan span) => (long)(span.TotalSeconds * time.TimestampFrequency);
}
