using Freshet.ControlPlane.Scheduler.Placement;

namespace Freshet.ControlPlane.Scheduler.Tests;

public sealed class PlacementPlannerTests
{
    private static readonly Dictionary<string, string> NoLabels = [];
    private static readonly PlacementOptions Options = new();

    [Fact]
    public void NewPipelines_SpreadEvenly_AndOneTenantsPipelinesLandOnDifferentWorkers()
    {
        var workers = Workers(3, capacity: 10);
        var tenant = Guid.NewGuid();
        var pipelines = Pipelines(3, tenant).Concat(Pipelines(6, Guid.NewGuid())).ToList();

        var plan = PlacementPlanner.Plan(workers, pipelines, Options);

        Assert.All(plan.Changes, c => Assert.Equal(PlacementReason.New, c.Reason));
        Assert.Equal(9, plan.Changes.Count);
        Assert.Equal([3, 3, 3], LoadsOf(workers, PlacementPlanner.Apply(plan, pipelines)));
        Assert.Equal(3, plan.Changes.Where(c => c.TenantId == tenant).Select(c => c.To).Distinct().Count());
        Assert.All(plan.Changes, c => Assert.Equal(1, c.Epoch));
    }

    [Fact]
    public void EquallyFilledWorkers_TheOneWithoutThatTenantsPipelinesWins()
    {
        var workers = Workers(2, capacity: 10);
        var (a, b) = (Guid.NewGuid(), Guid.NewGuid());
        // Placed in id order: a's first goes to one worker, b's to the other, then both are equally filled.
        List<PipelineDemand> pipelines = [Pipeline(a) with { PipelineId = Id(1) }, Pipeline(b) with { PipelineId = Id(2) }, Pipeline(a) with { PipelineId = Id(3) }];

        var plan = PlacementPlanner.Plan(workers, pipelines, Options);

        var tenantA = plan.Changes.Where(c => c.TenantId == a).Select(c => c.To).ToList();
        Assert.Equal(2, tenantA.Distinct().Count());
    }

    [Fact]
    public void SecondRound_OverTheCommittedPlan_ChangesNothing()
    {
        var workers = Workers(4, capacity: 10);
        var pipelines = Pipelines(27, Guid.NewGuid());

        var placed = PlacementPlanner.Apply(PlacementPlanner.Plan(workers, pipelines, Options), pipelines);
        var again = PlacementPlanner.Plan(workers, placed, Options);

        Assert.Empty(again.Changes);
        Assert.Equal(0, again.MovesNeeded);
    }

    [Fact]
    public void WorkerLeaseExpired_ItsPipelinesMoveUnderHigherEpochs_BeforeNewOnesTakeTheLastSlots()
    {
        // Six run, two per worker; the first worker dies, and four new pipelines want to start: only four slots remain.
        var workers = Workers(3, capacity: 4);
        var pipelines = Pipelines(6, Guid.NewGuid());
        pipelines = PlacementPlanner.Apply(PlacementPlanner.Plan(workers, pipelines, Options), pipelines);
        var dead = workers[0] with { Live = false };
        var orphans = pipelines.Where(p => p.Current!.WorkerId == dead.Id).Select(p => p.PipelineId).ToHashSet();
        var newcomers = Pipelines(4, Guid.NewGuid());
        var plan = PlacementPlanner.Plan([dead, workers[1], workers[2]], [.. pipelines, .. newcomers], Options);

        var failovers = plan.Changes.Where(c => c.Reason == PlacementReason.Failover).ToList();
        Assert.Equal(orphans, failovers.Select(c => c.PipelineId).ToHashSet());
        Assert.All(failovers, c => Assert.NotEqual(dead.Id, c.To));
        Assert.All(failovers, c => Assert.Equal(2, c.Epoch));
        Assert.Equal(2, plan.Changes.Count(c => c.Reason == PlacementReason.New));
        Assert.Equal(2, plan.Pending.Count);
        Assert.All(plan.Pending, id => Assert.Contains(newcomers, p => p.PipelineId == id));
    }

    [Fact]
    public void DrainingWorker_HandsEveryPipelineBack_AndGetsNoNewOnes()
    {
        var workers = Workers(3, capacity: 10);
        var pipelines = Pipelines(9, Guid.NewGuid());
        pipelines = PlacementPlanner.Apply(PlacementPlanner.Plan(workers, pipelines, Options), pipelines);
        var draining = workers[1] with { Draining = true };
        var pool = new[] { workers[0], draining, workers[2] };

        var newcomers = Pipelines(3, Guid.NewGuid());
        var plan = PlacementPlanner.Plan(pool, [.. pipelines, .. newcomers], Options);

        Assert.Equal(3, plan.Changes.Count(c => c.Reason == PlacementReason.Drained));
        Assert.DoesNotContain(plan.Changes, c => c.To == draining.Id);
        Assert.Equal([6, 0, 6], LoadsOf(pool, PlacementPlanner.Apply(plan, [.. pipelines, .. newcomers])));
    }

    [Fact]
    public void RequiredLabels_OnlyMatchingWorkersRunThePipeline_OthersStayPending()
    {
        var plain = Worker(capacity: 5);
        var eu = Worker(capacity: 5, labels: new() { ["zone"] = "eu-1" });
        var wantsEu = Pipeline(Guid.NewGuid(), labels: new() { ["zone"] = "eu-1" });
        var wantsUs = Pipeline(Guid.NewGuid(), labels: new() { ["zone"] = "us-1" });

        var plan = PlacementPlanner.Plan([plain, eu], [wantsEu, wantsUs], Options);

        Assert.Equal(eu.Id, Assert.Single(plan.Changes).To);
        Assert.Equal([wantsUs.PipelineId], plan.Pending);
    }

    [Fact]
    public void RunningPipelineThatNoWorkerCanTakeAnyMore_IsStoppedAndPending()
    {
        var eu = Worker(capacity: 5, labels: new() { ["zone"] = "eu-1" });
        var pipeline = Pipeline(Guid.NewGuid(), labels: new() { ["zone"] = "eu-1" });
        var placed = PlacementPlanner.Apply(PlacementPlanner.Plan([eu], [pipeline], Options), [pipeline]);

        var plan = PlacementPlanner.Plan([eu with { Live = false }, Worker(capacity: 5)], placed, Options);

        var change = Assert.Single(plan.Changes);
        Assert.Null(change.To);
        Assert.Equal(PlacementReason.Failover, change.Reason);
        Assert.Equal([pipeline.PipelineId], plan.Pending);
    }

    [Fact]
    public void PausedPipeline_IsStopped_AndASpecChange_RestartsInPlaceUnderTheSameEpoch()
    {
        var workers = Workers(2, capacity: 5);
        var pipelines = Pipelines(2, Guid.NewGuid());
        pipelines = PlacementPlanner.Apply(PlacementPlanner.Plan(workers, pipelines, Options), pipelines);
        var paused = pipelines[0] with { Run = false };
        var respecced = pipelines[1] with { Generation = 2 };

        var plan = PlacementPlanner.Plan(workers, [paused, respecced], Options);

        var stop = plan.Changes.Single(c => c.PipelineId == paused.PipelineId);
        Assert.Equal((PlacementReason.Stop, (Guid?)null, paused.Current!.WorkerId), (stop.Reason, stop.To, stop.From!.Value));
        var respec = plan.Changes.Single(c => c.PipelineId == respecced.PipelineId);
        Assert.Equal(
            (PlacementReason.Respec, respecced.Current!.WorkerId, respecced.Current.Epoch, 2L),
            (respec.Reason, respec.To!.Value, respec.Epoch, respec.Generation));
    }

    [Fact]
    public void ResumedPipeline_GetsAnEpochAboveEveryEarlierOne()
    {
        var pipeline = Pipeline(Guid.NewGuid()) with { LastEpoch = 41 };

        var change = Assert.Single(PlacementPlanner.Plan(Workers(1, capacity: 1), [pipeline], Options).Changes);

        Assert.Equal(42, change.Epoch);
    }

    [Fact]
    public void WorkersJoin_RebalancingMovesOnlyWhatIsNeeded_WithinTheBudgetPerRound_UntilEven()
    {
        var first = Workers(2, capacity: 30);
        var pipelines = Pipelines(40, Guid.NewGuid());
        pipelines = PlacementPlanner.Apply(PlacementPlanner.Plan(first, pipelines, Options), pipelines);
        var pool = first.Concat(Workers(2, capacity: 30)).ToList();
        var budget = new PlacementOptions { MaxRebalanceMovesPerRound = 3 };

        var moves = new List<int>();
        int? needed = null;
        for (var round = 0; round < 20; round++)
        {
            var plan = PlacementPlanner.Plan(pool, pipelines, budget);
            needed ??= plan.MovesNeeded;
            if (plan.Changes.Count == 0)
            {
                break;
            }

            Assert.All(plan.Changes, c => Assert.Equal(PlacementReason.Rebalance, c.Reason));
            Assert.True(plan.Changes.Count <= 3);
            moves.Add(plan.Changes.Count);
            pipelines = PlacementPlanner.Apply(plan, pipelines);
        }

        Assert.Equal(20, needed);
        Assert.Equal(20, moves.Sum());
        Assert.Equal([10, 10, 10, 10], LoadsOf(pool, pipelines));
        Assert.All(pipelines, p => Assert.True(p.Current!.Epoch >= 1));
    }

    private static int[] LoadsOf(IReadOnlyList<WorkerCandidate> workers, IEnumerable<PipelineDemand> pipelines)
    {
        var placed = pipelines.Where(p => p.Current is not null).ToList();
        return [.. workers.Select(w => placed.Count(p => p.Current!.WorkerId == w.Id))];
    }

    private static Guid Id(int n) => new($"00000000-0000-0000-0000-{n:D12}");

    private static List<WorkerCandidate> Workers(int count, int capacity) => [.. Enumerable.Range(0, count).Select(_ => Worker(capacity))];

    private static WorkerCandidate Worker(int capacity, Dictionary<string, string>? labels = null) =>
        new(Guid.CreateVersion7(), capacity, Live: true, Draining: false, labels ?? NoLabels);

    private static List<PipelineDemand> Pipelines(int count, Guid tenant) => [.. Enumerable.Range(0, count).Select(_ => Pipeline(tenant))];

    private static PipelineDemand Pipeline(Guid tenant, Dictionary<string, string>? labels = null) =>
        new(Guid.CreateVersion7(), tenant, Run: true, Generation: 1, labels ?? NoLabels, Current: null, LastEpoch: 0);
}
