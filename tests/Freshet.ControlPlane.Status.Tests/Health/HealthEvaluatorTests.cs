using System.Reflection;
using System.Text.RegularExpressions;
using Freshet.Contracts;
using Freshet.ControlPlane.Status.Health;
using Microsoft.Extensions.Time.Testing;

namespace Freshet.ControlPlane.Status.Tests.Health;

public sealed partial class HealthEvaluatorTests
{
    private const double GiB = 1024.0 * 1024 * 1024;
    private const double MiB = 1024.0 * 1024;
    private const string Orders = "public.orders";

    private static readonly DateTimeOffset Start = new(2025, 3, 3, 9, 0, 0, TimeSpan.Zero);
    private static readonly HealthRules Rules = HealthRules.Default;

    public static TheoryData<string, PipelineHealthState, string[]> Scenarios => new()
    {
        { "paused by its owner, though stale, lagging and quarantined", PipelineHealthState.Paused, ["paused_by_owner"] },
        { "not placed", PipelineHealthState.Pending, ["waiting_for_worker"] },
        { "placed, no report yet", PipelineHealthState.Starting, ["waiting_for_first_report"] },
        { "run starting", PipelineHealthState.Starting, ["run_starting"] },
        { "run fenced", PipelineHealthState.Starting, ["run_restarting"] },
        { "run stopped with lag, no progress for an hour", PipelineHealthState.Starting, ["run_restarting", "lag_above_threshold"] },
        { "run stopped, no report for 45 s", PipelineHealthState.Stale, ["no_report", "run_restarting"] },
        { "streaming, caught up", PipelineHealthState.Healthy, [] },
        { "caught up with a quiet source, no progress for an hour", PipelineHealthState.Healthy, [] },
        { "streaming, lag above threshold", PipelineHealthState.Lagging, ["lag_above_threshold"] },
        { "run failed once", PipelineHealthState.Degraded, ["run_failed_retrying"] },
        { "run failed three times in a row", PipelineHealthState.Failing, ["repeated_failures", "run_failed_retrying"] },
        { "run failed, no progress for 10 min", PipelineHealthState.Failing, ["no_progress", "run_failed_retrying"] },
        { "retries increasing", PipelineHealthState.Degraded, ["retrying"] },
        { "lagging with a quarantined table", PipelineHealthState.Degraded, ["table_quarantined", "lag_above_threshold"] },
        { "snapshotting, far behind the source", PipelineHealthState.Snapshotting, ["snapshot_in_progress"] },
        { "snapshotting with a quarantined table", PipelineHealthState.Degraded, ["table_quarantined", "snapshot_in_progress"] },
        { "snapshot with no chunk done for 10 min", PipelineHealthState.Failing, ["no_progress", "snapshot_in_progress"] },
        { "stale with WAL at risk", PipelineHealthState.Stale, ["no_report", "wal_retention_risk"] },
        { "lagging, no report for 11 min, no progress for 11 min", PipelineHealthState.Failing, ["no_progress", "no_report", "lag_above_threshold"] },
    };

    public static TheoryData<string, string, string> Messages => new()
    {
        { "streaming, lag above threshold", "lag_above_threshold", "Lag 95 s is above the 60 s threshold" },
        { "lagging with a quarantined table", "table_quarantined", "Table public.orders is quarantined: primary key column changed type" },
        { "run failed once", "run_failed_retrying", "The run failed: connection refused; next attempt in 20 s" },
        { "run failed three times in a row", "repeated_failures", "3 failed reports in a row: connection refused" },
        { "run failed, no progress for 10 min", "no_progress", "No progress for 10 min while its runs fail" },
        { "snapshot with no chunk done for 10 min", "no_progress", "No snapshot chunk done for 10 min" },
        { "lagging, no report for 11 min, no progress for 11 min", "no_progress", "No progress for 11 min with 95 s of lag" },
        { "run stopped, no report for 45 s", "no_report", "No report for 45 s; one is expected within 30 s" },
        { "run stopped, no report for 45 s", "run_restarting", "The last run stopped (moved to another worker); a new run is coming" },
        { "retries increasing", "retrying", "2 attempts retried since the previous report (5 since the run started)" },
    };

    [Theory]
    [MemberData(nameof(Scenarios))]
    public void Evaluate_Scenario_GivesTheMostSevereStateAndEveryReasonInRuleOrder(string scenario, PipelineHealthState state, string[] codes)
    {
        var health = HealthEvaluator.Evaluate(Scenario(scenario), Rules, Start);

        Assert.Equal(state, health.State);
        Assert.Equal(codes, health.Reasons.Select(reason => reason.Code));
        var documented = HealthEvaluator.Rules.SelectMany(rule => rule.ReasonCodes).ToHashSet(StringComparer.Ordinal);
        Assert.All(health.Reasons, reason =>
        {
            Assert.Contains(reason.Code, documented);
            Assert.False(string.IsNullOrWhiteSpace(reason.Message));
        });
    }

    [Theory]
    [MemberData(nameof(Messages))]
    public void Evaluate_Reason_SaysWhatAndHowMuch(string scenario, string code, string message)
    {
        var health = HealthEvaluator.Evaluate(Scenario(scenario), Rules, Start);

        Assert.Equal(message, Assert.Single(health.Reasons, reason => reason.Code == code).Message);
    }

    [Fact]
    public void Evaluate_AsTimePassesWithoutProgress_GoesFromHealthyToLaggingToFailing_AndBackWhenProgressResumes()
    {
        var time = new FakeTimeProvider(Start);
        var progressAt = time.GetUtcNow();
        PipelineHealth Evaluate(double lagSeconds)
        {
            var now = time.GetUtcNow();
            return HealthEvaluator.Evaluate(Placed(Streaming(now) with { LagSeconds = lagSeconds }, now) with { LastProgressAt = progressAt }, Rules, now);
        }

        Assert.Equal(PipelineHealthState.Healthy, Evaluate(lagSeconds: 2).State);

        // The destination stops taking writes; source commits keep waiting while fresh reports keep coming.
        time.Advance(TimeSpan.FromSeconds(58));
        Assert.Equal(PipelineHealthState.Healthy, Evaluate(lagSeconds: 60).State);
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(PipelineHealthState.Lagging, Evaluate(lagSeconds: 61).State);

        time.Advance(Rules.FailingAfterNoProgress - TimeSpan.FromSeconds(60));
        Assert.Equal(PipelineHealthState.Lagging, Evaluate(lagSeconds: 599).State);
        time.Advance(TimeSpan.FromSeconds(1));
        var failing = Evaluate(lagSeconds: 600);
        Assert.Equal(PipelineHealthState.Failing, failing.State);
        Assert.Equal(["no_progress", "lag_above_threshold"], failing.Reasons.Select(reason => reason.Code));
        Assert.Equal("No progress for 10 min with 10 min of lag", failing.Reasons[0].Message);

        progressAt = time.GetUtcNow();
        Assert.Equal(PipelineHealthState.Lagging, Evaluate(lagSeconds: 300).State);
        time.Advance(TimeSpan.FromSeconds(30));
        progressAt = time.GetUtcNow();
        Assert.Equal(PipelineHealthState.Healthy, Evaluate(lagSeconds: 1).State);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Evaluate_WithoutAReportForLongerThanStaleAfter_IsStale_CountedFromReceiptWhenKnown(bool receiptKnown)
    {
        var time = new FakeTimeProvider(Start);
        // A worker whose clock runs five minutes behind: when the report was received is what counts.
        var report = Streaming(receiptKnown ? Start - TimeSpan.FromMinutes(5) : Start);
        var observation = Placed(report, Start) with { ReceivedAt = receiptKnown ? Start : null };

        Assert.Equal(PipelineHealthState.Healthy, HealthEvaluator.Evaluate(observation, Rules, time.GetUtcNow()).State);
        time.Advance(Rules.StaleAfter);
        Assert.Equal(PipelineHealthState.Healthy, HealthEvaluator.Evaluate(observation, Rules, time.GetUtcNow()).State);
        time.Advance(TimeSpan.FromSeconds(1));
        var stale = HealthEvaluator.Evaluate(observation, Rules, time.GetUtcNow());

        Assert.Equal(PipelineHealthState.Stale, stale.State);
        Assert.Equal(new HealthReason("no_report", "No report for 31 s; one is expected within 30 s"), Assert.Single(stale.Reasons));
    }

    [Theory]
    [InlineData(2, 5, 10, 40.0, 15.0)]
    [InlineData(1, 3, 4, 33.333, 8.0)]
    [InlineData(0, 5, 10, 0.0, null)]
    [InlineData(5, 5, 10, 100.0, null)]
    [InlineData(2, 5, 0, 40.0, null)]
    public void Evaluate_SnapshotOfOneTable_GivesPercentAndEtaFromTheRateSinceTheSnapshotStarted(
        int chunksDone, int chunksTotal, int minutesSinceStart, double percent, double? minutesLeft)
    {
        var time = new FakeTimeProvider(Start);
        time.Advance(TimeSpan.FromMinutes(minutesSinceStart));
        var now = time.GetUtcNow();
        var report = Snapshotting(now, new() { [Orders] = Table(chunksDone, chunksTotal, rows: chunksDone * 100_000L) });

        var health = HealthEvaluator.Evaluate(Placed(report, now) with { SnapshotStartedAt = Start }, Rules, now);

        var table = Assert.Single(health.Snapshot);
        Assert.Equal((Orders, chunksDone, chunksTotal, chunksDone * 100_000L), (table.Table, table.ChunksDone, table.ChunksTotal, table.RowsCopied));
        Assert.Equal(percent, table.PercentDone, precision: 3);
        Assert.Equal(minutesLeft is { } minutes ? now + TimeSpan.FromMinutes(minutes) : (DateTimeOffset?)null, table.EstimatedDoneAt);
    }

    [Fact]
    public void Evaluate_SnapshotOfSeveralTables_EstimatesTheTableInProgressAtTheWholeCopysRate()
    {
        var time = new FakeTimeProvider(Start);
        time.Advance(TimeSpan.FromMinutes(10));
        var now = time.GetUtcNow();
        var report = Snapshotting(now, new()
        {
            ["public.customers"] = Table(4, 4, rows: 400_000),
            [Orders] = Table(2, 10, rows: 200_000),
            ["public.items"] = Table(0, 6, rows: 0),
            // Not part of this snapshot: copied by an earlier one.
            ["public.prices"] = Table(0, 0, rows: 0),
        }) with { LagSeconds = 3600 };
        var observation = Placed(report, now) with { SnapshotStartedAt = Start, LastProgressAt = now - TimeSpan.FromSeconds(5) };

        var health = HealthEvaluator.Evaluate(observation, Rules, now);

        // 6 chunks in 600 s: 100 s a chunk. Orders' own 2 chunks over 600 s would say 300 s a chunk, counting the time
        // the worker spent on customers, which it copied first.
        Assert.Equal(PipelineHealthState.Snapshotting, health.State);
        Assert.Equal(
            [
                new TableSnapshotProgress("public.customers", 4, 4, 400_000, 100, null),
                new TableSnapshotProgress("public.items", 0, 6, 0, 0, null),
                new TableSnapshotProgress(Orders, 2, 10, 200_000, 20, now + TimeSpan.FromSeconds(800)),
            ],
            health.Snapshot);
        Assert.Equal(new HealthReason("snapshot_in_progress", "Copying 3 tables: 6 of 20 chunks done (30%), about 23 min left"),
            Assert.Single(health.Reasons));

        var startUnknown = HealthEvaluator.Evaluate(observation with { SnapshotStartedAt = null }, Rules, now);
        Assert.All(startUnknown.Snapshot, table => Assert.Null(table.EstimatedDoneAt));
        Assert.Equal("Copying 3 tables: 6 of 20 chunks done (30%)", Assert.Single(startUnknown.Reasons).Message);
    }

    [Theory]
    [InlineData(41.0, 50.0, 2.1, "Slot retains 41.0 GB of WAL (82% of the 50.0 GB limit of max_slot_wal_keep_size); at 2.1 MB/s it reaches the limit in about 1.2 h")]
    [InlineData(10.0, 50.0, 1.0, "Slot retains 10.0 GB of WAL; at 1.0 MB/s it reaches the 50.0 GB limit of max_slot_wal_keep_size in about 11.4 h")]
    [InlineData(10.0, 50.0, 0.4, null)]
    [InlineData(45.0, 50.0, null, "Slot retains 45.0 GB of WAL (90% of the 50.0 GB limit of max_slot_wal_keep_size)")]
    [InlineData(45.0, 50.0, -1.0, "Slot retains 45.0 GB of WAL (90% of the 50.0 GB limit of max_slot_wal_keep_size)")]
    [InlineData(52.0, 50.0, 3.0, "Slot retains 52.0 GB of WAL (104% of the 50.0 GB limit of max_slot_wal_keep_size)")]
    [InlineData(40.0, 50.0, null, null)]
    [InlineData(40.0, null, 100.0, null)]
    public void Evaluate_RetainedWal_IsARiskAboveTheFractionOrWhenProjectedToReachTheLimitWithinTheHorizon(
        double retainedGiB, double? limitGiB, double? growthMiBPerSecond, string? message)
    {
        var report = Streaming(Start) with { RetainedWalBytes = (long)(retainedGiB * GiB) };
        var observation = Placed(report, Start) with
        {
            RetainedWalLimitBytes = limitGiB is { } limit ? (long)(limit * GiB) : null,
            RetainedWalGrowthBytesPerSecond = growthMiBPerSecond * MiB,
        };

        var health = HealthEvaluator.Evaluate(observation, Rules, Start);

        if (message is null)
        {
            Assert.Equal(PipelineHealthState.Healthy, health.State);
            Assert.Empty(health.Reasons);
        }
        else
        {
            Assert.Equal(PipelineHealthState.Degraded, health.State);
            Assert.Equal(new HealthReason("wal_retention_risk", message), Assert.Single(health.Reasons));
        }
    }

    [Theory]
    [InlineData(RetainedWalLimitKind.WalDiskBudget, 9.0, 10.0, null, "Slot retains 9.0 GB of WAL (90% of the 10.0 GB WAL disk budget configured on the connection)")]
    [InlineData(RetainedWalLimitKind.WalDiskBudget, 8.5, 10.0, 1.0,
        "Slot retains 8.5 GB of WAL (85% of the 10.0 GB WAL disk budget configured on the connection); at 1.0 MB/s it reaches the budget in about 26 min")]
    [InlineData(RetainedWalLimitKind.WalDiskBudget, 2.0, 10.0, 0.1,
        "Slot retains 2.0 GB of WAL; at 102.4 kB/s it reaches the 10.0 GB WAL disk budget configured on the connection in about 22.8 h")]
    [InlineData(RetainedWalLimitKind.WalDiskBudget, 2.0, 10.0, 0.05, null)]
    [InlineData(RetainedWalLimitKind.MaxSlotWalKeepSize, 9.0, 10.0, null, "Slot retains 9.0 GB of WAL (90% of the 10.0 GB limit of max_slot_wal_keep_size)")]
    public void Evaluate_RetainedWal_NamesWhichLimitItApproaches_TheConnectionsBudgetOrTheServersSetting(
        RetainedWalLimitKind kind, double retainedGiB, double limitGiB, double? growthMiBPerSecond, string? message)
    {
        // An unlimited max_slot_wal_keep_size with a budget on the connection: the budget is the only limit there is.
        var report = Streaming(Start) with { RetainedWalBytes = (long)(retainedGiB * GiB) };
        var observation = Placed(report, Start) with
        {
            RetainedWalLimitBytes = (long)(limitGiB * GiB),
            RetainedWalLimitKind = kind,
            RetainedWalGrowthBytesPerSecond = growthMiBPerSecond * MiB,
        };

        var health = HealthEvaluator.Evaluate(observation, Rules, Start);

        if (message is null)
        {
            Assert.Equal(PipelineHealthState.Healthy, health.State);
            Assert.Empty(health.Reasons);
        }
        else
        {
            Assert.Equal(PipelineHealthState.Degraded, health.State);
            Assert.Equal(new HealthReason("wal_retention_risk", message), Assert.Single(health.Reasons));
        }
    }

    [Fact]
    public void Rules_CoverEveryStateAndReasonCode_InTheDocumentedOrderOfSeverity()
    {
        var rules = HealthEvaluator.Rules;

        Assert.Equal(Enumerable.Range(1, rules.Count), rules.Select(rule => rule.Order));
        Assert.Equal(
            [
                PipelineHealthState.Paused, PipelineHealthState.Pending, PipelineHealthState.Starting, PipelineHealthState.Failing, PipelineHealthState.Stale, PipelineHealthState.Starting,
                PipelineHealthState.Degraded, PipelineHealthState.Snapshotting, PipelineHealthState.Lagging, PipelineHealthState.Healthy,
            ],
            rules.Select(rule => rule.State));
        Assert.Equal(Enum.GetValues<PipelineHealthState>().Order(), rules.Select(rule => rule.State).Distinct().Order());

        var codes = rules.SelectMany(rule => rule.ReasonCodes).ToList();
        Assert.Equal(codes.Count, codes.Distinct(StringComparer.Ordinal).Count());
        Assert.All(codes, code => Assert.Matches(SnakeCase(), code));
        var declared = typeof(HealthReasonCodes).GetFields(BindingFlags.Public | BindingFlags.Static).Select(field => (string)field.GetRawConstantValue()!);
        Assert.Equal(declared.Order(StringComparer.Ordinal), codes.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Readme_HealthSection_IsTheTableRenderedFromTheRules()
    {
        var readme = File.ReadAllText(Path.Combine(RepositoryRoot(), "README.md"));

        Assert.True(readme.Contains(HealthEvaluator.DescribeAsMarkdown(), StringComparison.Ordinal),
            "README.md's `### Health` section must hold HealthEvaluator.DescribeAsMarkdown() verbatim; paste its current output there:\n"
            + HealthEvaluator.DescribeAsMarkdown());
    }

    /// <summary>The observations behind <see cref="Scenarios"/> and <see cref="Messages"/>, all evaluated at <see cref="Start"/>.</summary>
    private static HealthObservation Scenario(string name)
    {
        var healthy = Placed(Streaming(Start), Start);
        var failed = Streaming(Start) with
        {
            State = PipelineRunState.Failed, Reason = "connection refused", NextAttemptAt = Start + TimeSpan.FromSeconds(20), LagSeconds = 4,
        };
        var lagging = Streaming(Start) with { LagSeconds = 95 };
        var quarantined = new Dictionary<string, TableProgressReport> { [Orders] = Table(0, 0, 0) with { QuarantineReason = "primary key column changed type" } };
        var stopped = Streaming(Start - TimeSpan.FromSeconds(45)) with { State = PipelineRunState.Stopped, Reason = "moved to another worker" };
        var snapshotting = Snapshotting(Start, new() { [Orders] = Table(2, 10, 200_000) }) with { LagSeconds = 900 };
        var elevenMinutesAgo = Start - TimeSpan.FromMinutes(11);
        return name switch
        {
            "paused by its owner, though stale, lagging and quarantined" =>
                Placed(lagging with { Tables = quarantined, ReportedAt = elevenMinutesAgo }, elevenMinutesAgo) with { Paused = true },
            "not placed" => healthy with { Placed = false, Report = null, ReceivedAt = null },
            "placed, no report yet" => healthy with { Report = null, ReceivedAt = null, LastProgressAt = null },
            "run starting" => Placed(Streaming(Start) with { State = PipelineRunState.Starting, LagSeconds = 30 }, Start) with { LastProgressAt = null },
            "run fenced" => Placed(Streaming(Start) with { State = PipelineRunState.Fenced }, Start),
            "run stopped with lag, no progress for an hour" =>
                Placed(lagging with { State = PipelineRunState.Stopped }, Start) with { LastProgressAt = Start - TimeSpan.FromHours(1) },
            "run stopped, no report for 45 s" => Placed(stopped, stopped.ReportedAt),
            "streaming, caught up" => healthy,
            "caught up with a quiet source, no progress for an hour" =>
                Placed(Streaming(Start) with { LagSeconds = 0 }, Start) with { LastProgressAt = Start - TimeSpan.FromHours(1) },
            "streaming, lag above threshold" => Placed(lagging, Start),
            "run failed once" => Placed(failed, Start) with { ConsecutiveFailedReports = 1 },
            "run failed three times in a row" => Placed(failed, Start) with { ConsecutiveFailedReports = 3 },
            "run failed, no progress for 10 min" =>
                Placed(failed, Start) with { ConsecutiveFailedReports = 2, LastProgressAt = Start - Rules.FailingAfterNoProgress },
            "retries increasing" => Placed(Streaming(Start) with { Retries = 5 }, Start) with { RetriesSincePreviousReport = 2 },
            "lagging with a quarantined table" => Placed(lagging with { Tables = quarantined }, Start),
            "snapshotting, far behind the source" => Placed(snapshotting, Start) with { SnapshotStartedAt = Start - TimeSpan.FromMinutes(5) },
            "snapshotting with a quarantined table" =>
                Placed(snapshotting with { Tables = new Dictionary<string, TableProgressReport>(snapshotting.Tables) { ["public.items"] = quarantined[Orders] } }, Start)
                    with { SnapshotStartedAt = Start - TimeSpan.FromMinutes(5) },
            "snapshot with no chunk done for 10 min" =>
                Placed(Snapshotting(Start, new() { [Orders] = Table(0, 10, 0) }), Start)
                    with { LastProgressAt = null, SnapshotStartedAt = Start - Rules.FailingAfterNoProgress },
            "stale with WAL at risk" =>
                Placed(Streaming(Start - TimeSpan.FromMinutes(2)) with { RetainedWalBytes = (long)(45 * GiB) }, Start - TimeSpan.FromMinutes(2))
                    with { RetainedWalLimitBytes = (long)(50 * GiB) },
            "lagging, no report for 11 min, no progress for 11 min" => Placed(lagging with { ReportedAt = elevenMinutesAgo }, elevenMinutesAgo),
            _ => throw new ArgumentOutOfRangeException(nameof(name), name, "No such scenario."),
        };
    }

    /// <summary>Placed, not paused, the report received when it was taken, progress at that moment, a 60 s lag threshold.</summary>
    private static HealthObservation Placed(PipelineProgressReport report, DateTimeOffset receivedAt) => new(
        Paused: false,
        Placed: true,
        report,
        ReceivedAt: receivedAt,
        LastProgressAt: receivedAt,
        SnapshotStartedAt: null,
        ConsecutiveFailedReports: 0,
        LagThresholdSeconds: 60,
        RetainedWalLimitBytes: null,
        RetainedWalGrowthBytesPerSecond: null);

    private static PipelineProgressReport Streaming(DateTimeOffset reportedAt) => new(
        PipelineId: Guid.Parse("0b6f1f5e-7c1a-4e0e-9d64-3f1b2a9c8d01"),
        Epoch: 3,
        State: PipelineRunState.Streaming,
        Reason: null,
        NextAttemptAt: null,
        SourceHeadPosition: 10_000,
        CommittedPosition: 9_900,
        LagBytes: 100,
        LagSeconds: 1,
        RowsPerSecond: 250,
        BytesPerSecond: 25_000,
        LastDeliveryAt: reportedAt,
        LastSourceCommitAt: reportedAt - TimeSpan.FromSeconds(1),
        RetainedWalBytes: 16 * 1024 * 1024,
        RowsDelivered: 12_000,
        Batches: 48,
        Retries: 0,
        Errors: 0,
        Tables: new Dictionary<string, TableProgressReport> { [Orders] = Table(4, 4, 400_000) },
        ReportedAt: reportedAt);

    private static PipelineProgressReport Snapshotting(DateTimeOffset reportedAt, Dictionary<string, TableProgressReport> tables) =>
        Streaming(reportedAt) with { State = PipelineRunState.Snapshotting, Tables = tables, RowsDelivered = 0 };

    private static TableProgressReport Table(int chunksDone, int chunksTotal, long rows) =>
        new(Inserted: 0, Updated: 0, Deleted: 0, SnapshotRows: rows, SnapshotChunksDone: chunksDone, SnapshotChunksTotal: chunksTotal, QuarantineReason: null);

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ControlPlane.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No ControlPlane.sln above {AppContext.BaseDirectory}.");
    }

    [GeneratedRegex("^[a-z]+(_[a-z]+)*$")]
    private static partial Regex SnakeCase();
}
