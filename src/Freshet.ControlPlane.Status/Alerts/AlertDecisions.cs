using System.Globalization;
using Freshet.Contracts;
using Freshet.ControlPlane.Status.Health;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>A rule's condition read on one pipeline's status now.</summary>
/// <param name="Holds">The condition holds.</param>
/// <param name="Value">The watched value (lag seconds, retained bytes, quarantined tables), when there is one.</param>
/// <param name="Summary">What holds, for people (the notification's headline); never quotes row values.</param>
internal readonly record struct AlertReading(bool Holds, double? Value, string Summary);

/// <summary>What evaluation remembers of one rule on one pipeline between rounds.</summary>
/// <param name="Since">Since when the condition holds; null when it does not.</param>
/// <param name="OpenIncident">The open alert, if one is open.</param>
/// <param name="LastNotifiedFiringAt">When a firing notice for this rule and pipeline was last sent (for the quiet period).</param>
internal sealed record AlertTrack(DateTimeOffset? Since, OpenAlert? OpenIncident, DateTimeOffset? LastNotifiedFiringAt)
{
    public static AlertTrack None { get; } = new(null, null, null);
}

/// <summary>An open alert: its id and whether its firing was notified (a silenced one resolves silently too).</summary>
internal sealed record OpenAlert(long Id, bool Notified);

/// <summary>What one round does for one rule and pipeline.</summary>
/// <param name="Since">The condition's start to remember; null to forget it (it does not hold).</param>
/// <param name="Open">Open an alert now.</param>
/// <param name="NotifyOpen">Send a firing notice for it (false inside the quiet period).</param>
/// <param name="Resolve">Resolve the open alert now.</param>
/// <param name="NotifyResolve">Send a resolution notice (only when its firing was notified).</param>
internal readonly record struct AlertDecision(DateTimeOffset? Since, bool Open, bool NotifyOpen, bool Resolve, bool NotifyResolve);

/// <summary>
/// The alert rules' semantics, pure so they are tested with any clock: what each condition reads from a pipeline's
/// status, and how holding, firing after the rule's duration, the quiet period and resolution follow from it.
/// </summary>
internal static class AlertDecisions
{
    /// <summary>Reads <paramref name="rule"/>'s condition on <paramref name="status"/>. A paused pipeline holds no condition but its state's.</summary>
    public static AlertReading Read(AlertRuleDefinition rule, PipelineStatusView status)
    {
        var paused = status.Health.State == PipelineHealthState.Paused;
        var report = status.Report;
        switch (rule.Condition)
        {
            case AlertCondition.HealthState:
            {
                var holds = rule.States.Contains(status.Health.State);
                var state = status.Health.State.ToString().ToLowerInvariant();
                var why = status.Health.Reasons.Count > 0 ? $": {status.Health.Reasons[0].Message}" : ".";
                return new AlertReading(holds, null, $"Health is {state}{why}");
            }

            case AlertCondition.LagAbove:
            {
                var threshold = rule.Threshold ?? 0;
                if (paused || report is null)
                {
                    return new AlertReading(false, null, "No lag is measured while the pipeline is paused or has not reported.");
                }

                var lag = report.LagSeconds;
                return new AlertReading(
                    lag > threshold,
                    lag,
                    $"Lag is {Seconds(lag)}, {(lag > threshold ? "above" : "within")} the rule's {Seconds(threshold)}.");
            }

            case AlertCondition.RetainedWalAbove:
            {
                var threshold = rule.Threshold ?? 0;
                if (report?.RetainedWalBytes is not { } retained)
                {
                    return new AlertReading(false, null, "The source reports no retained WAL.");
                }

                return new AlertReading(
                    retained > threshold,
                    retained,
                    $"The replication slot retains {HealthText.Bytes(retained)} of WAL, {(retained > threshold ? "above" : "within")} the rule's {HealthText.Bytes(threshold)}.");
            }

            case AlertCondition.TableQuarantined:
            {
                var quarantined = report?.Tables.Where(t => t.Value.QuarantineReason is not null).Select(t => t.Key).Order(StringComparer.Ordinal).ToList() ?? [];
                return new AlertReading(
                    quarantined.Count > 0,
                    quarantined.Count,
                    quarantined.Count == 0
                        ? "No table is quarantined."
                        : string.Create(CultureInfo.InvariantCulture, $"{quarantined.Count} table{(quarantined.Count == 1 ? " is" : "s are")} quarantined: {string.Join(", ", quarantined.Take(5))}{(quarantined.Count > 5 ? ", …" : "")}."));
            }

            default:
                throw new ArgumentOutOfRangeException(nameof(rule), rule.Condition, "Unknown alert condition.");
        }
    }

    // Sub-second precision while it matters (a caught-up pipeline's lag reads "0.3 s", not "0 s").
    private static string Seconds(double seconds) =>
        seconds < 10 ? string.Create(CultureInfo.InvariantCulture, $"{seconds:0.#} s") : HealthText.Duration(TimeSpan.FromSeconds(seconds));

    /// <summary>
    /// One evaluation step: a condition that starts holding is remembered; once it has held for the rule's duration an
    /// alert opens (notified unless a firing notice for the same rule and pipeline went out within the quiet period);
    /// when it stops holding, the open alert resolves (notified when its firing was).
    /// </summary>
    public static AlertDecision Decide(AlertRuleDefinition rule, bool holds, AlertTrack track, DateTimeOffset now)
    {
        if (!holds)
        {
            var open = track.OpenIncident;
            return new AlertDecision(null, false, false, open is not null, open is { Notified: true });
        }

        var since = track.Since ?? now;
        if (track.OpenIncident is not null || now - since < rule.For)
        {
            return new AlertDecision(since, false, false, false, false);
        }

        var quiet = track.LastNotifiedFiringAt is { } last && now - last < rule.QuietPeriod;
        return new AlertDecision(since, true, !quiet, false, false);
    }
}
