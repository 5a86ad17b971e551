using Freshet.Contracts;
using Freshet.ControlPlane.Status.Alerts;

namespace Freshet.ControlPlane.Status.Tests.Alerts;

/// <summary>
/// The alert rules' semantics over a simulated timeline, one evaluation every 10 s: a condition must hold for the
/// rule's duration before it fires, fires once, resolves when it clears, and a flapping condition inside the quiet
/// period opens alerts without notifying (nor notifying their resolution).
/// </summary>
public sealed class AlertDecisionsTests
{
    private static readonly DateTimeOffset Start = new(2026, 12, 5, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Tick = TimeSpan.FromSeconds(10);

    [Fact]
    public void LagAboveForTwoMinutes_FiresOnceAfterTwoMinutes_AndResolvesWhenItClears()
    {
        var rule = Rule(AlertCondition.LagAbove, threshold: 30, forDuration: TimeSpan.FromMinutes(2));
        // Lag 60 s from 09:00:30 to 09:05:00, then caught up.
        var log = Simulate(rule, TimeSpan.FromMinutes(8), at => at >= Start.AddSeconds(30) && at < Start.AddMinutes(5) ? Status(lag: 60) : Status(lag: 0.2));

        Assert.Equal(["09:02:30 fire (notified)", "09:05:00 resolve (notified)"], log);
    }

    [Fact]
    public void ConditionThatClearsBeforeItsDuration_NeverFires()
    {
        var rule = Rule(AlertCondition.LagAbove, threshold: 30, forDuration: TimeSpan.FromMinutes(2));
        // Above the threshold for 1 min 50 s at a time, twice: the clock restarts when it clears.
        var log = Simulate(rule, TimeSpan.FromMinutes(6), at =>
        {
            var second = (at - Start).TotalSeconds % 180;
            return second < 110 ? Status(lag: 45) : Status(lag: 1);
        });

        Assert.Empty(log);
    }

    [Fact]
    public void FlappingInsideTheQuietPeriod_OpensAlertsSilently_UntilTheQuietPeriodHasPassed()
    {
        var rule = Rule(AlertCondition.HealthState, states: [PipelineHealthState.Failing], quiet: TimeSpan.FromMinutes(15));
        // Failing for 1 min every 5 min.
        var log = Simulate(rule, TimeSpan.FromMinutes(25), at => (at - Start).TotalMinutes % 5 < 1 ? Status(state: PipelineHealthState.Failing) : Status());

        Assert.Equal(
            [
                "09:00:00 fire (notified)", "09:01:00 resolve (notified)",
                "09:05:00 fire (silenced)", "09:06:00 resolve (silenced)",
                "09:10:00 fire (silenced)", "09:11:00 resolve (silenced)",
                // 15 min after the last notified firing.
                "09:15:00 fire (notified)", "09:16:00 resolve (notified)",
                "09:20:00 fire (silenced)", "09:21:00 resolve (silenced)",
            ],
            log);
    }

    [Theory]
    [InlineData(PipelineHealthState.Paused, 120.0, false)]
    [InlineData(PipelineHealthState.Lagging, 120.0, true)]
    [InlineData(PipelineHealthState.Lagging, 29.0, false)]
    public void LagIsNotJudgedWhilePaused(PipelineHealthState state, double lag, bool holds)
    {
        var reading = AlertDecisions.Read(Rule(AlertCondition.LagAbove, threshold: 30), Status(state, lag));
        Assert.Equal(holds, reading.Holds);
        Assert.DoesNotContain("{", reading.Summary, StringComparison.Ordinal);
    }

    [Fact]
    public void QuarantineAndRetainedWal_ReadFromTheReport_AndSayWhat()
    {
        var quarantined = Status(tables: new Dictionary<string, TableProgressReport>
        {
            ["public.orders"] = new(0, 0, 0, 0, 0, 0, "Column type changed to one the destination cannot hold."),
            ["public.items"] = new(0, 0, 0, 0, 0, 0, null),
        });
        var reading = AlertDecisions.Read(Rule(AlertCondition.TableQuarantined), quarantined);
        Assert.True(reading.Holds);
        Assert.Equal(1, reading.Value);
        Assert.Contains("public.orders", reading.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain("public.items", reading.Summary, StringComparison.Ordinal);

        var wal = AlertDecisions.Read(Rule(AlertCondition.RetainedWalAbove, threshold: 10e9), Status(retainedWal: 12_000_000_000));
        Assert.True(wal.Holds);
        Assert.Equal(12e9, wal.Value);
        Assert.False(AlertDecisions.Read(Rule(AlertCondition.RetainedWalAbove, threshold: 10e9), Status(retainedWal: null)).Holds);
    }

    /// <summary>Evaluates <paramref name="rule"/> every 10 s for <paramref name="duration"/>, keeping the track as the engine's tables do; returns what it did.</summary>
    private static List<string> Simulate(AlertRuleDefinition rule, TimeSpan duration, Func<DateTimeOffset, PipelineStatusView> statusAt)
    {
        var log = new List<string>();
        var track = AlertTrack.None;
        long incidents = 0;
        for (var at = Start; at < Start + duration; at += Tick)
        {
            var reading = AlertDecisions.Read(rule, statusAt(at));
            var decision = AlertDecisions.Decide(rule, reading.Holds, track, at);
            var open = track.OpenIncident;
            var lastFired = track.LastNotifiedFiringAt;
            if (decision.Open)
            {
                open = new OpenAlert(++incidents, decision.NotifyOpen);
                lastFired = decision.NotifyOpen ? at : lastFired;
                log.Add($"{at:HH:mm:ss} fire ({(decision.NotifyOpen ? "notified" : "silenced")})");
            }

            if (decision.Resolve)
            {
                Assert.NotNull(open);
                log.Add($"{at:HH:mm:ss} resolve ({(decision.NotifyResolve ? "notified" : "silenced")})");
                open = null;
            }

            track = new AlertTrack(decision.Since, open, lastFired);
        }

        return log;
    }

    private static AlertRuleDefinition Rule(
        AlertCondition condition, double? threshold = null, IReadOnlyList<PipelineHealthState>? states = null, TimeSpan? forDuration = null, TimeSpan? quiet = null) =>
        new(Guid.NewGuid(), Guid.NewGuid(), "rule", condition, threshold, states ?? [], forDuration ?? TimeSpan.Zero, quiet ?? TimeSpan.FromMinutes(15), null,
            new Uri("https://hooks.example.com/freshet"), "whsec_" + Convert.ToBase64String(new byte[32]), Enabled: true);

    private static PipelineStatusView Status(
        PipelineHealthState state = PipelineHealthState.Healthy, double lag = 0, long? retainedWal = 1_000, IReadOnlyDictionary<string, TableProgressReport>? tables = null) =>
        new(
            Guid.NewGuid(),
            new PipelineHealth(state, [], []),
            new PipelineProgressReport(Guid.NewGuid(), 1, PipelineRunState.Streaming, null, null, 10, 10, 0, lag, 0, 0, null, null, retainedWal, 0, 0, 0, 0,
                tables ?? new Dictionary<string, TableProgressReport>(), Start),
            Guid.NewGuid(),
            Start,
            Start);
}
