using System.Diagnostics;
using Freshet.ControlPlane.Scheduler.Placement;

namespace Freshet.Bench;

/// <summary>
/// <c>bench/run placement</c>: the scheduler's placement at scale, in process (no database, no workers): 10,000 pipelines
/// of 800 tenants (a few large, many small; one in twenty pinned to a zone) over 500 simulated workers in three zones.
/// Measures a full reconcile from nothing, the balance it reaches, a round in steady state, a failover round, and — after
/// 50 workers join — how many pipelines the bounded rebalancing moves against the least that evens the load. The
/// baseline is the simplest placement there is in the same run: each pipeline onto the least-loaded worker through a
/// priority queue, with no labels, tenants or stickiness.
/// </summary>
internal static class PlacementBench
{
    private const string Name = "placement";

    public static Task RunAsync(CancellationToken cancellationToken)
    {
        var pipelineCount = BenchSettings.Number("BENCH_PIPELINES", 10_000);
        var workerCount = BenchSettings.Number("BENCH_WORKERS", 500);
        var joining = BenchSettings.Number("BENCH_JOINING_WORKERS", 50);
        const int capacity = 30;
        var random = new Random(20261125);
        var options = new PlacementOptions();

        var workers = Enumerable.Range(0, workerCount).Select(i => NewWorker(i, capacity)).ToList();
        var tenants = Enumerable.Range(0, 800).Select(_ => Guid.NewGuid()).ToArray();
        var pipelines = Enumerable.Range(0, pipelineCount).Select(_ =>
        {
            // Skewed: tenant k is picked with weight 1/(k+1), so the first tenants own hundreds of pipelines.
            var tenant = tenants[Math.Min(tenants.Length - 1, (int)Math.Floor(Math.Exp(random.NextDouble() * Math.Log(tenants.Length + 1)) - 1))];
            var labels = random.Next(20) == 0
                ? new Dictionary<string, string> { ["zone"] = $"zone-{random.Next(3)}" }
                : new Dictionary<string, string>();
            return new PipelineDemand(Guid.NewGuid(), tenant, Run: true, Generation: 1, labels, Current: null, LastEpoch: 0);
        }).ToList();
        Report.Line(Name, $"{pipelineCount:N0} pipelines of {pipelines.Select(p => p.TenantId).Distinct().Count()} tenants ({pipelines.Count(p => p.RequiredLabels.Count > 0)} pinned to a zone) over {workerCount} workers of {capacity} slots in 3 zones; {options.MaxRebalanceMovesPerRound} rebalancing moves per round");

        // Warm up the JIT on a small pool, so the figures are the algorithm's.
        PlacementPlanner.Plan(workers.Take(20).ToList(), pipelines.Take(400).ToList(), options);

        var (fromScratch, plan) = Median(3, () => PlacementPlanner.Plan(workers, pipelines, options));
        if (plan.Pending.Count > 0)
        {
            throw new BenchException($"{plan.Pending.Count} pipelines found no worker");
        }

        var placed = PlacementPlanner.Apply(plan, pipelines);
        var loads = Loads(workers, placed);
        var maxOverMean = loads.Max() / loads.Average();
        var spread = TenantSpread(placed);
        Report.Line(Name, $"reconcile from nothing: {fromScratch.TotalMilliseconds:F0} ms; loads {loads.Min()}–{loads.Max()} (mean {loads.Average():F1}), max/mean {maxOverMean:F3}; {spread:P1} of each tenant's pipelines share a worker with another of the tenant's, where the tenant could have avoided it");

        var baseline = Median(3, () => LeastLoadedBaseline(workers, pipelines)).Elapsed;
        Report.Line(Name, $"baseline (least-loaded priority queue, no labels, tenants or stickiness): {baseline.TotalMilliseconds:F0} ms");

        var (steady, steadyPlan) = Median(3, () => PlacementPlanner.Plan(workers, placed, options));
        Report.Line(Name, $"steady round (nothing to do): {steady.TotalMilliseconds:F1} ms, {steadyPlan.Changes.Count} changes");

        var victim = workers[7];
        var orphaned = placed.Count(p => p.Current!.WorkerId == victim.Id);
        List<WorkerCandidate> afterDeath = [.. workers.Select(w => w.Id == victim.Id ? w with { Live = false } : w)];
        var (failover, failoverPlan) = Median(3, () => PlacementPlanner.Plan(afterDeath, placed, options));
        var failedOver = failoverPlan.Changes.Count(c => c.Reason == PlacementReason.Failover && c.To is not null);
        Report.Line(Name, $"a worker's lease expires: {orphaned} pipelines orphaned, {failedOver} placed elsewhere in one round of {failover.TotalMilliseconds:F1} ms");

        List<WorkerCandidate> grown = [.. workers, .. Enumerable.Range(workerCount, joining).Select(i => NewWorker(i, capacity))];
        var state = placed;
        var moved = 0;
        var rounds = 0;
        int? needed = null;
        var slowest = TimeSpan.Zero;
        while (rounds < 10_000)
        {
            var started = Stopwatch.GetTimestamp();
            var round = PlacementPlanner.Plan(grown, state, options);
            var took = Stopwatch.GetElapsedTime(started);
            slowest = took > slowest ? took : slowest;
            needed ??= round.MovesNeeded;
            if (round.Changes.Count == 0)
            {
                break;
            }

            moved += round.Changes.Count;
            rounds++;
            state = PlacementPlanner.Apply(round, state);
        }

        var grownLoads = Loads(grown, state);
        var grownMaxOverMean = grownLoads.Max() / grownLoads.Average();
        Report.Line(Name, $"{joining} workers join: {moved} pipelines moved in {rounds} rounds (the least that evens the load: {needed}); loads {grownLoads.Min()}–{grownLoads.Max()}, max/mean {grownMaxOverMean:F3}; slowest round {slowest.TotalMilliseconds:F1} ms");

        Report.Summary(
            Name,
            ("reconcile_s", fromScratch.TotalSeconds),
            ("max_over_mean", maxOverMean),
            ("moved_after_join", moved),
            ("moved_needed", needed ?? 0),
            ("baseline_reconcile_s", baseline.TotalSeconds),
            ("steady_round_s", steady.TotalSeconds),
            ("failover_round_s", failover.TotalSeconds),
            ("rebalance_rounds", rounds),
            ("max_over_mean_after_join", grownMaxOverMean));
        return Task.CompletedTask;
    }

    private static WorkerCandidate NewWorker(int index, int capacity) =>
        new(Guid.NewGuid(), capacity, Live: true, Draining: false, new Dictionary<string, string> { ["zone"] = $"zone-{index % 3}" });

    private static (TimeSpan Elapsed, T Result) Median<T>(int runs, Func<T> run)
    {
        var results = new List<(TimeSpan Elapsed, T Result)>();
        for (var i = 0; i < runs; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var result = run();
            results.Add((Stopwatch.GetElapsedTime(started), result));
        }

        return results.OrderBy(r => r.Elapsed).ElementAt(runs / 2);
    }

    private static double[] Loads(IReadOnlyList<WorkerCandidate> workers, IReadOnlyList<PipelineDemand> pipelines)
    {
        var counts = pipelines.Where(p => p.Current is not null).GroupBy(p => p.Current!.WorkerId).ToDictionary(g => g.Key, g => g.Count());
        return [.. workers.Where(w => w.Eligible).Select(w => (double)counts.GetValueOrDefault(w.Id))];
    }

    // The share of pipelines placed beside another of their tenant's, among tenants with fewer pipelines than workers.
    private static double TenantSpread(IReadOnlyList<PipelineDemand> placed)
    {
        var crowded = 0;
        var counted = 0;
        foreach (var tenant in placed.GroupBy(p => p.TenantId).Where(g => g.Count() <= 100))
        {
            counted += tenant.Count();
            crowded += tenant.GroupBy(p => p.Current!.WorkerId).Where(g => g.Count() > 1).Sum(g => g.Count());
        }

        return counted == 0 ? 0 : (double)crowded / counted;
    }

    private static int LeastLoadedBaseline(IReadOnlyList<WorkerCandidate> workers, IReadOnlyList<PipelineDemand> pipelines)
    {
        var queue = new PriorityQueue<int, (int Load, int Index)>();
        for (var i = 0; i < workers.Count; i++)
        {
            queue.Enqueue(i, (0, i));
        }

        var placed = 0;
        foreach (var _ in pipelines)
        {
            queue.TryDequeue(out var worker, out var priority);
            if (priority.Load < workers[worker].Capacity)
            {
                placed++;
            }

            queue.Enqueue(worker, (priority.Load + 1, priority.Index));
        }

        return placed;
    }
}
