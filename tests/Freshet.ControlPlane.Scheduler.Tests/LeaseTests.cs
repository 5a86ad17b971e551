using Freshet.ControlPlane.Scheduler.Workers;
using Freshet.DataPlane.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace Freshet.ControlPlane.Scheduler.Tests;

public sealed class LeaseTests
{
    private static readonly LeaseOptions Defaults = new();

    [Fact]
    public void Worker_StopsHoldingItsLease_BeforeTheSchedulerConsidersItExpired_EvenWhenTheAcknowledgementIsSlow()
    {
        var time = new FakeTimeProvider();
        var held = new HeldLease(Defaults.WorkerSafetyMargin, time);
        Assert.False(held.IsHeld);

        // The heartbeat leaves, takes 800 ms to reach the server, and the answer 700 ms more to come back.
        var sentAt = held.BeforeHeartbeat();
        time.Advance(TimeSpan.FromMilliseconds(800));
        // The server extends the lease from when it receives the heartbeat (WorkerCoordinator: now() + LeaseDuration).
        var serverExpiry = time.GetUtcNow() + Defaults.LeaseDuration;
        time.Advance(TimeSpan.FromMilliseconds(700));
        held.Acknowledged(sentAt, Defaults.LeaseDuration);

        Assert.True(held.IsHeld);
        Assert.True(serverExpiry > time.GetUtcNow());

        // No more heartbeats get through: the worker lets go at sent + 6 s − 1.5 s, the scheduler at received + 6 s.
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.False(held.IsHeld);
        Assert.Equal(TimeSpan.Zero, held.Remaining);
        Assert.True(serverExpiry > time.GetUtcNow());
        Assert.True(serverExpiry - time.GetUtcNow() >= Defaults.WorkerSafetyMargin, "the worker let go at least the margin before the server would");
        time.Advance(serverExpiry - time.GetUtcNow());
        Assert.False(serverExpiry > time.GetUtcNow());
    }

    [Fact]
    public void LateAcknowledgementOfAnOlderHeartbeat_NeverShortensTheLease_ButLosingItEndsItAtOnce()
    {
        var time = new FakeTimeProvider();
        var held = new HeldLease(Defaults.WorkerSafetyMargin, time);
        var older = held.BeforeHeartbeat();
        time.Advance(TimeSpan.FromSeconds(2));
        var newer = held.BeforeHeartbeat();
        held.Acknowledged(newer, Defaults.LeaseDuration);
        held.Acknowledged(older, Defaults.LeaseDuration);

        time.Advance(TimeSpan.FromSeconds(4));
        Assert.True(held.IsHeld);
        Assert.Equal(TimeSpan.FromSeconds(0.5), held.Remaining);

        held.Lost();
        Assert.False(held.IsHeld);
    }

    [Theory]
    [InlineData(2, 6, 1.5, null)]
    [InlineData(2, 5, 1.5, "LeaseDuration")]
    [InlineData(0, 6, 1.5, "HeartbeatInterval")]
    [InlineData(2, 6, -1, "WorkerSafetyMargin")]
    public void Options_ThatCouldLoseAPipelineToOneMissedHeartbeat_AreRefused(double heartbeat, double lease, double margin, string? complaint)
    {
        var options = new LeaseOptions
        {
            HeartbeatInterval = TimeSpan.FromSeconds(heartbeat),
            LeaseDuration = TimeSpan.FromSeconds(lease),
            WorkerSafetyMargin = TimeSpan.FromSeconds(margin),
        };

        var error = options.Validate();

        if (complaint is null)
        {
            Assert.Null(error);
        }
        else
        {
            Assert.StartsWith(complaint, error);
        }
    }
}
