namespace Freshet.DataPlane.Runtime;

/// <summary>
/// A worker's own view of its lease, on its own monotonic clock. The worker notes the time just before it sends a
/// heartbeat; when the heartbeat is acknowledged, the server extended the lease from a later instant, so the worker's
/// view (that instant plus the duration, minus the margin) always ends before the server's: it stops writing before
/// the scheduler could place its pipelines elsewhere, whatever the two wall clocks say.
/// </summary>
public sealed class HeldLease(TimeSpan safetyMargin, TimeProvider time)
{
    private long? _validUntil;

    /// <summary>Call just before sending a heartbeat; pass the result to <see cref="Acknowledged"/>.</summary>
    public long BeforeHeartbeat() => time.GetTimestamp();

    /// <summary>The heartbeat sent at <paramref name="sentAt"/> was accepted with a lease of <paramref name="leaseDuration"/>.</summary>
    public void Acknowledged(long sentAt, TimeSpan leaseDuration)
    {
        var until = sentAt + ToTimestamp(leaseDuration - safetyMargin);
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
