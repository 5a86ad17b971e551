using System.Text;
using Freshet.Contracts;
using static Freshet.ControlPlane.Status.Health.HealthText;

namespace Freshet.ControlPlane.Status.Health;

/// <summary>
/// Turns what is known about a pipeline into its health. Pure: the same observation, rules and time give the same
/// answer, so the store, the API and the tests agree.
/// </summary>
/// <remarks>
/// The rules are an ordered list (<see cref="Rules"/>). The first rule that applies gives the state; every later rule
/// that applies adds its reasons too, unless the first one ends the evaluation. The order is the order of severity:
/// Paused, Pending and a first Starting come first because they say the pipeline is not meant to run yet (nothing else
/// is judged); then Failing &gt; Stale &gt; Starting (between runs) &gt; Degraded &gt; Snapshotting &gt; Lagging &gt; Healthy.
/// </remarks>
public static class HealthEvaluator
{
    private static readonly Rule[] OrderedRules =
    [
        new(PipelineHealthState.Paused,
            "Its owner paused it. Nothing else is judged.",
            [HealthReasonCodes.PausedByOwner], EndsEvaluation: true, PausedByOwner),
        new(PipelineHealthState.Pending,
            "It is not placed on a worker. Nothing else is judged.",
            [HealthReasonCodes.WaitingForWorker], EndsEvaluation: true, WaitingForWorker),
        new(PipelineHealthState.Starting,
            "Placed, and no report under the current placement yet. Nothing else is judged.",
            [HealthReasonCodes.WaitingForFirstReport], EndsEvaluation: true, WaitingForFirstReport),
        new(PipelineHealthState.Failing,
            "`FailingAfterConsecutiveFailures` failed reports in a row; or no progress for `FailingAfterNoProgress` while the run "
            + "has failed, snapshots or has lag (not between runs).",
            [HealthReasonCodes.RepeatedFailures, HealthReasonCodes.NoProgress], EndsEvaluation: false, Failing),
        new(PipelineHealthState.Stale,
            "No report for longer than `StaleAfter`, counted from when the last one was received (else from its `ReportedAt`).",
            [HealthReasonCodes.NoReport], EndsEvaluation: false, NoReport),
        new(PipelineHealthState.Starting,
            "The run is starting, or the last one was fenced, stopped or paused while the pipeline stays placed: a new run is coming.",
            [HealthReasonCodes.RunStarting, HealthReasonCodes.RunRestarting], EndsEvaluation: false, BetweenRuns),
        new(PipelineHealthState.Degraded,
            "The run failed and will be retried; a table is quarantined; attempts were retried since the previous report; or "
            + "the slot's retained WAL is above `WalRiskFraction` of its limit (`max_slot_wal_keep_size`, or the WAL disk budget configured on the "
            + "connection when that is smaller), or at its growth rate reaches the limit within `WalRiskHorizon`.",
            [HealthReasonCodes.RunFailedRetrying, HealthReasonCodes.TableQuarantined, HealthReasonCodes.Retrying, HealthReasonCodes.WalRetentionRisk],
            EndsEvaluation: false, NeedsAttention),
        new(PipelineHealthState.Snapshotting,
            "The run copies existing rows. Lag is not judged meanwhile: changes wait until the copy is done.",
            [HealthReasonCodes.SnapshotInProgress], EndsEvaluation: false, SnapshotInProgress),
        new(PipelineHealthState.Lagging,
            "Lag is above the pipeline's own threshold.",
            [HealthReasonCodes.LagAboveThreshold], EndsEvaluation: false, LagAboveThreshold),
        new(PipelineHealthState.Healthy,
            "Otherwise: the run streams within its lag threshold.",
            [], EndsEvaluation: false, _ => []),
    ];

    /// <summary>The rules in the order they are evaluated, which is the order of severity.</summary>
    public static IReadOnlyList<HealthRuleDescription> Rules { get; } =
        [.. OrderedRules.Select((rule, index) => new HealthRuleDescription(index + 1, rule.State, rule.When, rule.ReasonCodes, rule.EndsEvaluation))];

    /// <summary>The health of one pipeline at <paramref name="now"/>.</summary>
    public static PipelineHealth Evaluate(HealthObservation observation, HealthRules rules, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(observation);
        ArgumentNullException.ThrowIfNull(rules);

        var facts = new HealthFacts(observation, rules, now);
        PipelineHealthState? state = null;
        var reasons = new List<HealthReason>();
        foreach (var rule in OrderedRules)
        {
            if (rule.Check(facts) is not { } found)
            {
                continue;
            }

            state ??= rule.State;
            reasons.AddRange(found);
            if (rule.EndsEvaluation)
            {
                break;
            }
        }

        // The last rule always applies, so a state is always found.
        return new PipelineHealth(state ?? PipelineHealthState.Healthy, reasons, facts.Snapshot);
    }

    /// <summary>The rules as a markdown table, with the thresholds of <paramref name="rules"/> (default: <see cref="HealthRules.Default"/>).</summary>
    public static string DescribeAsMarkdown(HealthRules? rules = null)
    {
        rules ??= HealthRules.Default;
        var text = new StringBuilder()
            .Append("| # | State | When | Reasons |\n")
            .Append("|---|---|---|---|\n");
        foreach (var rule in Rules)
        {
            var codes = rule.ReasonCodes.Count == 0 ? "—" : string.Join(", ", rule.ReasonCodes.Select(code => $"`{code}`"));
            text.Append(Invariant($"| {rule.Order} | {rule.State} | {rule.When} | {codes} |\n"));
        }

        return text
            .Append('\n')
            .Append("The rules are in order of severity: the first that applies gives the state, and every later one that applies adds its reasons. ")
            .Append(Invariant($"Defaults: `StaleAfter` {Duration(rules.StaleAfter)}, `FailingAfterNoProgress` {Duration(rules.FailingAfterNoProgress)}, "))
            .Append(Invariant($"`FailingAfterConsecutiveFailures` {rules.FailingAfterConsecutiveFailures}, `WalRiskFraction` {Percent(rules.WalRiskFraction * 100)}, "))
            .Append(Invariant($"`WalRiskHorizon` {Duration(rules.WalRiskHorizon)}.\n"))
            .ToString();
    }

    private static IReadOnlyList<HealthReason>? PausedByOwner(HealthFacts facts) =>
        facts.Observation.Paused ? [new(HealthReasonCodes.PausedByOwner, "Paused by its owner")] : null;

    private static IReadOnlyList<HealthReason>? WaitingForWorker(HealthFacts facts) =>
        facts.Observation.Placed ? null : [new(HealthReasonCodes.WaitingForWorker, "Waiting for a worker with room for it")];

    private static IReadOnlyList<HealthReason>? WaitingForFirstReport(HealthFacts facts) =>
        facts.Report is null ? [new(HealthReasonCodes.WaitingForFirstReport, "Placed on a worker that has not reported on it yet")] : null;

    private static IReadOnlyList<HealthReason>? Failing(HealthFacts facts)
    {
        // Between runs nothing is expected to advance; a new run (or Stale) will tell.
        if (facts.Report is not { } report || IsBetweenRuns(report.State))
        {
            return null;
        }

        var reasons = new List<HealthReason>(2);
        var failures = facts.Observation.ConsecutiveFailedReports;
        if (failures >= facts.Rules.FailingAfterConsecutiveFailures)
        {
            reasons.Add(new(HealthReasonCodes.RepeatedFailures,
                Invariant($"{failures} failed reports in a row") + (report.Reason is { } why ? $": {why}" : "")));
        }

        // A pipeline caught up with a quiet source does not advance either: only waiting work without progress fails.
        if (facts.IdleFor is { } idle && idle >= facts.Rules.FailingAfterNoProgress)
        {
            var message = report.State switch
            {
                PipelineRunState.Failed => $"No progress for {Duration(idle)} while its runs fail",
                PipelineRunState.Snapshotting => $"No snapshot chunk done for {Duration(idle)}",
                _ when report.LagSeconds > 0 => $"No progress for {Duration(idle)} with {Duration(TimeSpan.FromSeconds(report.LagSeconds))} of lag",
                _ => null,
            };
            if (message is not null)
            {
                reasons.Add(new(HealthReasonCodes.NoProgress, message));
            }
        }

        return reasons.Count > 0 ? reasons : null;
    }

    private static IReadOnlyList<HealthReason>? NoReport(HealthFacts facts) =>
        facts.ReportAge is { } age && age > facts.Rules.StaleAfter
            ? [new(HealthReasonCodes.NoReport, $"No report for {Duration(age)}; one is expected within {Duration(facts.Rules.StaleAfter)}")]
            : null;

    private static IReadOnlyList<HealthReason>? BetweenRuns(HealthFacts facts)
    {
        if (facts.Report is not { } report)
        {
            return null;
        }

        var why = report.Reason is { } reason ? $" ({reason})" : "";
        return report.State switch
        {
            PipelineRunState.Starting => [new(HealthReasonCodes.RunStarting, $"The run is starting{why}")],
            PipelineRunState.Fenced => [new(HealthReasonCodes.RunRestarting, $"The last run was fenced by a newer placement{why}; a new run is coming")],
            PipelineRunState.Stopped => [new(HealthReasonCodes.RunRestarting, $"The last run stopped{why}; a new run is coming")],
            // Paused by the worker while its owner no longer wants it paused: the resume is on its way.
            PipelineRunState.Paused => [new(HealthReasonCodes.RunRestarting, $"The last run was paused{why}; a new run is coming")],
            _ => null,
        };
    }

    private static IReadOnlyList<HealthReason>? NeedsAttention(HealthFacts facts)
    {
        if (facts.Report is not { } report)
        {
            return null;
        }

        var reasons = new List<HealthReason>();
        if (report.State == PipelineRunState.Failed)
        {
            var next = report.NextAttemptAt switch
            {
                { } at when at > facts.Now => $"; next attempt in {Duration(at - facts.Now)}",
                not null => "; next attempt due now",
                null => "",
            };
            reasons.Add(new(HealthReasonCodes.RunFailedRetrying, $"The run failed: {report.Reason ?? "no reason given"}{next}"));
        }

        foreach (var (table, progress) in report.Tables.OrderBy(entry => entry.Key, StringComparer.Ordinal))
        {
            if (progress.QuarantineReason is { } quarantine)
            {
                reasons.Add(new(HealthReasonCodes.TableQuarantined, $"Table {table} is quarantined: {quarantine}"));
            }
        }

        if (facts.Observation.RetriesSincePreviousReport is > 0 and var retries)
        {
            reasons.Add(new(HealthReasonCodes.Retrying,
                Invariant($"{retries} {(retries == 1 ? "attempt" : "attempts")} retried since the previous report ({report.Retries} since the run started)")));
        }

        if (WalRetentionRisk(facts, report) is { } walRisk)
        {
            reasons.Add(walRisk);
        }

        return reasons.Count > 0 ? reasons : null;
    }

    private static HealthReason? WalRetentionRisk(HealthFacts facts, PipelineProgressReport report)
    {
        if (report.RetainedWalBytes is not { } retained || facts.Observation.RetainedWalLimitBytes is not { } limit || limit <= 0)
        {
            return null;
        }

        var fraction = (double)retained / limit;
        var nearLimit = fraction > facts.Rules.WalRiskFraction;

        // Compared in seconds before any TimeSpan: a crawling growth rate projects further than a TimeSpan can hold.
        double? secondsToLimit = retained < limit && facts.Observation.RetainedWalGrowthBytesPerSecond is { } growth && growth > 0
            ? (limit - retained) / growth
            : null;
        var reachesLimitSoon = secondsToLimit <= facts.Rules.WalRiskHorizon.TotalSeconds;
        if (!nearLimit && !reachesLimitSoon)
        {
            return null;
        }

        // Which limit it is tells the reader what to do: raise max_slot_wal_keep_size (or consume the slot) before the server
        // drops the slot, or look at the source's disk the operator budgeted.
        var (named, shortName) = facts.Observation.RetainedWalLimitKind switch
        {
            RetainedWalLimitKind.WalDiskBudget => ($"the {Bytes(limit)} WAL disk budget configured on the connection", "the budget"),
            _ => ($"the {Bytes(limit)} limit of max_slot_wal_keep_size", "the limit"),
        };
        var message = new StringBuilder($"Slot retains {Bytes(retained)} of WAL");
        if (nearLimit)
        {
            message.Append($" ({Percent(fraction * 100)} of {named})");
        }

        if (reachesLimitSoon)
        {
            var rate = Bytes(facts.Observation.RetainedWalGrowthBytesPerSecond!.Value);
            var when = Duration(TimeSpan.FromSeconds(secondsToLimit!.Value));
            message.Append(nearLimit ? $"; at {rate}/s it reaches {shortName} in about {when}" : $"; at {rate}/s it reaches {named} in about {when}");
        }

        return new(HealthReasonCodes.WalRetentionRisk, message.ToString());
    }

    private static IReadOnlyList<HealthReason>? SnapshotInProgress(HealthFacts facts)
    {
        if (facts.Report?.State != PipelineRunState.Snapshotting)
        {
            return null;
        }

        var tables = facts.Snapshot;
        if (tables.Count == 0)
        {
            return [new(HealthReasonCodes.SnapshotInProgress, "Planning the snapshot")];
        }

        long done = tables.Sum(table => (long)table.ChunksDone);
        long total = tables.Sum(table => (long)table.ChunksTotal);
        // Rounded down: 199 of 200 chunks must not read as 100%.
        var message = new StringBuilder(Invariant(
            $"Copying {tables.Count} {(tables.Count == 1 ? "table" : "tables")}: {done} of {total} chunks done ({Percent(Math.Floor(1000.0 * done / total) / 10)})"));
        if (facts.TimeToCopy(total - done) is { } left && done < total)
        {
            message.Append($", about {Duration(left)} left");
        }

        return [new(HealthReasonCodes.SnapshotInProgress, message.ToString())];
    }

    private static IReadOnlyList<HealthReason>? LagAboveThreshold(HealthFacts facts) =>
        facts.Report is { State: not PipelineRunState.Snapshotting } report && report.LagSeconds > facts.Observation.LagThresholdSeconds
            ? [new(HealthReasonCodes.LagAboveThreshold,
                $"Lag {Duration(TimeSpan.FromSeconds(report.LagSeconds))} is above the {Duration(TimeSpan.FromSeconds(facts.Observation.LagThresholdSeconds))} threshold")]
            : null;

    private static bool IsBetweenRuns(PipelineRunState state) =>
        state is PipelineRunState.Fenced or PipelineRunState.Stopped or PipelineRunState.Paused;

    /// <summary>A rule: the state it gives, its description, and a check that returns its reasons, or null when it does not apply.</summary>
    private sealed record Rule(
        PipelineHealthState State,
        string When,
        IReadOnlyList<string> ReasonCodes,
        bool EndsEvaluation,
        Func<HealthFacts, IReadOnlyList<HealthReason>?> Check);

    /// <summary>The observation with what several rules derive from it, worked out once.</summary>
    private sealed class HealthFacts
    {
        private readonly TimeSpan? _snapshotElapsed;
        private readonly long _snapshotChunksDone;

        public HealthFacts(HealthObservation observation, HealthRules rules, DateTimeOffset now)
        {
            Observation = observation;
            Rules = rules;
            Now = now;
            Report = observation.Report;
            ReportAge = Report is null ? null : now - (observation.ReceivedAt ?? Report.ReportedAt);

            var snapshotting = Report?.State == PipelineRunState.Snapshotting;
            // A snapshot that has copied nothing yet has been waiting since it started.
            var progressClock = observation.LastProgressAt ?? (snapshotting ? observation.SnapshotStartedAt : null);
            IdleFor = now - progressClock;

            if (snapshotting)
            {
                Snapshot = SnapshotProgress(Report!, observation.SnapshotStartedAt, now);
                _snapshotElapsed = now - observation.SnapshotStartedAt;
                _snapshotChunksDone = Snapshot.Sum(table => (long)table.ChunksDone);
            }
        }

        public HealthObservation Observation { get; }

        public HealthRules Rules { get; }

        public DateTimeOffset Now { get; }

        public PipelineProgressReport? Report { get; }

        public TimeSpan? ReportAge { get; }

        public TimeSpan? IdleFor { get; }

        public IReadOnlyList<TableSnapshotProgress> Snapshot { get; } = [];

        /// <summary>How long copying this many more chunks takes at the snapshot's rate so far; null when that rate is unknown.</summary>
        public TimeSpan? TimeToCopy(long chunks) => TimeToCopy(chunks, _snapshotChunksDone, _snapshotElapsed);

        private static TimeSpan? TimeToCopy(long chunks, long chunksDone, TimeSpan? elapsed) =>
            chunksDone > 0 && elapsed > TimeSpan.Zero
                // In ticks, not a rate in chunks per second: no rounding error between the rate and its inverse.
                ? TimeSpan.FromTicks((long)Math.Round((double)elapsed.Value.Ticks * chunks / chunksDone))
                : null;

        /// <summary>
        /// Progress per table. The worker copies the chunks of all tables in one queue, table after table, a few at a
        /// time, so the rate of the whole copy since it started is the rate the table in progress gets; a table's own
        /// chunks over the same time would count the time spent on the tables before it. Chunks hold the same number of
        /// rows, so counting chunks is counting rows. A resumed snapshot also counts the chunks an earlier run copied,
        /// so its first estimates are early.
        /// </summary>
        private static IReadOnlyList<TableSnapshotProgress> SnapshotProgress(
            PipelineProgressReport report, DateTimeOffset? startedAt, DateTimeOffset now)
        {
            // Tables with nothing planned are not part of this snapshot (a re-snapshot copies only some tables again).
            var tables = report.Tables
                .Where(entry => entry.Value.SnapshotChunksTotal > 0)
                .OrderBy(entry => entry.Key, StringComparer.Ordinal)
                .ToList();
            var chunksDone = tables.Sum(entry => (long)Math.Clamp(entry.Value.SnapshotChunksDone, 0, entry.Value.SnapshotChunksTotal));
            var elapsed = now - startedAt;

            return [.. tables.Select(entry =>
            {
                var (table, counts) = entry;
                var done = Math.Clamp(counts.SnapshotChunksDone, 0, counts.SnapshotChunksTotal);
                var remaining = counts.SnapshotChunksTotal - done;
                // A table with no chunk done has not had its turn yet: the tables before it decide when it starts.
                var doneAt = done > 0 && remaining > 0 ? now + TimeToCopy(remaining, chunksDone, elapsed) : null;
                return new TableSnapshotProgress(table, done, counts.SnapshotChunksTotal, counts.SnapshotRows,
                    100.0 * done / counts.SnapshotChunksTotal, doneAt);
            })];
        }
    }
}
