namespace Freshet.ControlPlane.Scheduler.Placement;

/// <summary>A worker as the planner sees it in one round.</summary>
/// <param name="Id">The worker.</param>
/// <param name="Capacity">Pipeline slots.</param>
/// <param name="Live">Its lease has not expired.</param>
/// <param name="Draining">It takes no new pipelines, and the ones it runs go elsewhere.</param>
/// <param name="Labels">What it offers (zone included, as <c>zone</c>); a pipeline may require some.</param>
/// <param name="HandsBack">
/// With <paramref name="Draining"/>: the worker hands its pipelines back itself, one by one, each stopped and checkpointed
/// first, so the planner leaves them where they are until it does (a drain that overruns its timeout loses this flag).
/// </param>
internal sealed record WorkerCandidate(Guid Id, int Capacity, bool Live, bool Draining, IReadOnlyDictionary<string, string> Labels, bool HandsBack = false)
{
    public bool Eligible => Live && !Draining && Capacity > 0;
}

/// <summary>Where a pipeline runs now.</summary>
internal sealed record CurrentPlacement(Guid WorkerId, long Epoch, long Generation);

/// <summary>A pipeline as the planner sees it in one round.</summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="TenantId">Its tenant (pipelines of one tenant are spread where possible).</param>
/// <param name="Run">Whether it should run (false: paused or deleted).</param>
/// <param name="Generation">The spec generation it should run.</param>
/// <param name="RequiredLabels">Labels a worker must carry, with these values, to run it.</param>
/// <param name="Current">Its placement, if it has one.</param>
/// <param name="LastEpoch">The highest epoch it ever ran under (a new placement goes above it).</param>
/// <param name="Move">An operator's request to move it, or null.</param>
internal sealed record PipelineDemand(
    Guid PipelineId,
    Guid TenantId,
    bool Run,
    long Generation,
    IReadOnlyDictionary<string, string> RequiredLabels,
    CurrentPlacement? Current,
    long LastEpoch,
    MoveRequest? Move = null);

/// <summary>An operator asked to move a running pipeline: to <paramref name="To"/>, or to the best other worker when null.</summary>
internal sealed record MoveRequest(Guid? To);

internal enum PlacementReason
{
    /// <summary>Never placed, or resumed after a pause.</summary>
    New,

    /// <summary>Its worker's lease expired, or the worker is gone.</summary>
    Failover,

    /// <summary>Its worker is draining.</summary>
    Drained,

    /// <summary>Its worker no longer fits it (labels changed, capacity shrank).</summary>
    Unfit,

    /// <summary>Moved to even the load.</summary>
    Rebalance,

    /// <summary>Moved because an operator asked.</summary>
    Moved,

    /// <summary>Same worker and epoch, new spec generation: the worker restarts it with the new spec.</summary>
    Respec,

    /// <summary>Paused or deleted: the worker stops it.</summary>
    Stop,
}

/// <summary>One change to commit: <paramref name="To"/> null stops the pipeline; a new epoch means a new placement.</summary>
internal sealed record PlacementChange(Guid PipelineId, Guid TenantId, Guid? From, Guid? To, long Epoch, long Generation, PlacementReason Reason);

/// <summary>What one reconcile round decided.</summary>
/// <param name="Changes">Placements to commit, in the order decided.</param>
/// <param name="Pending">Pipelines that should run but fit on no live worker.</param>
/// <param name="MovesNeeded">
/// Before this round's rebalancing: the least number of moves that would bring every eligible worker to at most its share
/// of the load (the mean fill, rounded up to whole pipelines).
/// </param>
internal sealed record PlacementPlan(IReadOnlyList<PlacementChange> Changes, IReadOnlyList<Guid> Pending, int MovesNeeded);

/// <summary>Tuning of <see cref="PlacementPlanner"/>.</summary>
internal sealed class PlacementOptions
{
    /// <summary>
    /// Rebalancing moves per round. Each move restarts a pipeline (a second or two of lag), so a joining worker is
    /// filled over several rounds rather than all at once.
    /// </summary>
    public int MaxRebalanceMovesPerRound { get; set; } = 20;
}

/// <summary>
/// Decides, from the desired pipelines and the workers' leases, where every pipeline runs. Pure: the reconciler reads
/// the state, calls <see cref="Plan"/>, commits the changes with their epochs and notifies the workers.
/// </summary>
/// <remarks>
/// A round (1) keeps every running pipeline whose worker is live, not draining and still fits it — placements are
/// sticky, since every move costs a restart; (2) places the rest: among the workers that are eligible, carry the
/// required labels and have a free slot, the least filled (load ÷ capacity) wins, then the one running fewest
/// pipelines of the same tenant, then the lowest id, so rounds are deterministic; (3) rebalances within a move budget:
/// from the most filled workers above their share (mean fill × capacity, rounded up) to the least filled below theirs.
/// Only moves that are needed are made, so a balanced pool never churns.
/// </remarks>
internal static class PlacementPlanner
{
    public static PlacementPlan Plan(IReadOnlyList<WorkerCandidate> workers, IReadOnlyList<PipelineDemand> pipelines, PlacementOptions options)
    {
        var state = new PoolState(workers);
        var changes = new List<PlacementChange>();
        var toPlace = new List<(PipelineDemand Pipeline, PlacementReason Reason)>();

        foreach (var pipeline in pipelines)
        {
            var current = pipeline.Current;
            if (!pipeline.Run)
            {
                if (current is not null)
                {
                    changes.Add(new(pipeline.PipelineId, pipeline.TenantId, current.WorkerId, null, current.Epoch, pipeline.Generation, PlacementReason.Stop));
                }

                continue;
            }

            if (current is null)
            {
                toPlace.Add((pipeline, PlacementReason.New));
                continue;
            }

            var index = state.IndexOf(current.WorkerId);
            var worker = index < 0 ? null : workers[index];
            PlacementReason? leave = worker switch
            {
                null or { Live: false } => PlacementReason.Failover,
                { Draining: true, HandsBack: true } => null,
                { Draining: true } => PlacementReason.Drained,
                _ when !Fits(worker, pipeline) || state.Load[index] >= worker.Capacity => PlacementReason.Unfit,
                _ => null,
            };
            if (leave is { } reason)
            {
                toPlace.Add((pipeline, reason));
                continue;
            }

            if (pipeline.Move is { } move && move.To != current.WorkerId && !worker!.Draining)
            {
                var target = move.To is { } to ? state.IndexOf(to) : state.BestFor(pipeline, exclude: index);
                if (target >= 0 && target != index && workers[target].Eligible && state.Load[target] < workers[target].Capacity && Fits(workers[target], pipeline))
                {
                    state.Add(target, pipeline);
                    changes.Add(new(pipeline.PipelineId, pipeline.TenantId, current.WorkerId, workers[target].Id, NextEpoch(pipeline), pipeline.Generation, PlacementReason.Moved));
                    continue;
                }
            }

            state.Add(index, pipeline);
            if (current.Generation != pipeline.Generation)
            {
                changes.Add(new(pipeline.PipelineId, pipeline.TenantId, current.WorkerId, current.WorkerId, current.Epoch, pipeline.Generation, PlacementReason.Respec));
            }
        }

        // Pipelines whose worker died first: they are the ones not delivering right now.
        toPlace.Sort((a, b) => a.Reason != b.Reason ? Urgency(a.Reason).CompareTo(Urgency(b.Reason)) : a.Pipeline.PipelineId.CompareTo(b.Pipeline.PipelineId));
        var pending = new List<Guid>();
        foreach (var (pipeline, reason) in toPlace)
        {
            var target = state.BestFor(pipeline, exclude: -1);
            if (target < 0)
            {
                pending.Add(pipeline.PipelineId);
                if (pipeline.Current is { } stranded)
                {
                    // Its worker cannot keep it (dead, draining or unfit) and no other can take it: it stops until one can.
                    changes.Add(new(pipeline.PipelineId, pipeline.TenantId, stranded.WorkerId, null, stranded.Epoch, pipeline.Generation, reason));
                }

                continue;
            }

            state.Add(target, pipeline);
            changes.Add(new(pipeline.PipelineId, pipeline.TenantId, pipeline.Current?.WorkerId, workers[target].Id, NextEpoch(pipeline), pipeline.Generation, reason));
        }

        var movesNeeded = state.MovesNeeded();
        Rebalance(state, changes, options.MaxRebalanceMovesPerRound);
        return new PlacementPlan(changes, pending, movesNeeded);
    }

    /// <summary>
    /// The pipelines as they stand once <paramref name="plan"/> is committed: what the next round would read back. For
    /// simulations (tests, the placement benchmark); the reconciler reads the committed state from the database.
    /// </summary>
    public static List<PipelineDemand> Apply(PlacementPlan plan, IReadOnlyList<PipelineDemand> pipelines)
    {
        var changes = new Dictionary<Guid, PlacementChange>();
        foreach (var change in plan.Changes)
        {
            changes[change.PipelineId] = change;
        }

        return [.. pipelines.Select(p => changes.TryGetValue(p.PipelineId, out var c)
            ? p with
            {
                Current = c.To is { } worker ? new CurrentPlacement(worker, c.Epoch, c.Generation) : null,
                LastEpoch = Math.Max(p.LastEpoch, c.Epoch),
            }
            : p)];
    }

    private static void Rebalance(PoolState state, List<PlacementChange> changes, int budget)
    {
        var moved = new HashSet<Guid>(changes.Select(c => c.PipelineId));
        while (budget > 0)
        {
            var source = state.MostOverShare();
            if (source < 0)
            {
                return;
            }

            // The pipeline whose tenant is most crowded on the source, so moves also spread tenants.
            var candidates = state.Running[source]
                .Where(p => !moved.Contains(p.PipelineId))
                .OrderByDescending(p => state.TenantCount(source, p.TenantId))
                .ThenBy(p => p.PipelineId);
            var done = false;
            foreach (var pipeline in candidates)
            {
                var target = state.BestFor(pipeline, exclude: source, belowShareOnly: true);
                if (target < 0)
                {
                    continue;
                }

                state.Remove(source, pipeline);
                state.Add(target, pipeline);
                moved.Add(pipeline.PipelineId);
                changes.Add(new(
                    pipeline.PipelineId,
                    pipeline.TenantId,
                    state.Workers[source].Id,
                    state.Workers[target].Id,
                    NextEpoch(pipeline),
                    pipeline.Generation,
                    PlacementReason.Rebalance));
                budget--;
                done = true;
                break;
            }

            if (!done)
            {
                // Nothing on the fullest worker can go anywhere below its share (labels, tenants): stop rather than spin.
                state.GiveUpOn(source);
            }
        }
    }

    private static long NextEpoch(PipelineDemand pipeline) => Math.Max(pipeline.LastEpoch, pipeline.Current?.Epoch ?? 0) + 1;

    private static int Urgency(PlacementReason reason) => reason switch
    {
        PlacementReason.Failover => 0,
        PlacementReason.Unfit => 1,
        PlacementReason.New => 2,
        _ => 3,
    };

    internal static bool Fits(WorkerCandidate worker, PipelineDemand pipeline)
    {
        if (pipeline.RequiredLabels.Count == 0)
        {
            return true;
        }

        foreach (var (key, value) in pipeline.RequiredLabels)
        {
            if (!worker.Labels.TryGetValue(key, out var offered) || !string.Equals(offered, value, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Loads per worker (by index) during a round, with the per-tenant counts anti-affinity needs.</summary>
    private sealed class PoolState
    {
        private readonly Dictionary<Guid, int> _indexOf;
        private readonly Dictionary<Guid, int[]> _tenantCounts = [];
        private readonly bool[] _gaveUp;
        private int[]? _share;

        public PoolState(IReadOnlyList<WorkerCandidate> workers)
        {
            Workers = workers;
            _indexOf = new Dictionary<Guid, int>(workers.Count);
            for (var i = 0; i < workers.Count; i++)
            {
                _indexOf[workers[i].Id] = i;
            }

            Load = new int[workers.Count];
            Running = [.. workers.Select(_ => new List<PipelineDemand>())];
            _gaveUp = new bool[workers.Count];
        }

        public IReadOnlyList<WorkerCandidate> Workers { get; }

        public int[] Load { get; }

        public List<PipelineDemand>[] Running { get; }

        public int IndexOf(Guid workerId) => _indexOf.TryGetValue(workerId, out var index) ? index : -1;

        public int TenantCount(int worker, Guid tenant) => _tenantCounts.TryGetValue(tenant, out var counts) ? counts[worker] : 0;

        public void Add(int worker, PipelineDemand pipeline)
        {
            Load[worker]++;
            Running[worker].Add(pipeline);
            if (!_tenantCounts.TryGetValue(pipeline.TenantId, out var counts))
            {
                counts = new int[Workers.Count];
                _tenantCounts.Add(pipeline.TenantId, counts);
            }

            counts[worker]++;
        }

        public void Remove(int worker, PipelineDemand pipeline)
        {
            Load[worker]--;
            Running[worker].Remove(pipeline);
            _tenantCounts[pipeline.TenantId][worker]--;
        }

        /// <summary>The best eligible worker with a free slot that fits, or -1.</summary>
        public int BestFor(PipelineDemand pipeline, int exclude, bool belowShareOnly = false)
        {
            var counts = _tenantCounts.GetValueOrDefault(pipeline.TenantId);
            var best = -1;
            for (var i = 0; i < Workers.Count; i++)
            {
                var worker = Workers[i];
                if (i == exclude || !worker.Eligible || Load[i] >= worker.Capacity
                    || (belowShareOnly && Load[i] >= Share()[i]) || !Fits(worker, pipeline))
                {
                    continue;
                }

                if (best < 0 || Better(i, best, counts))
                {
                    best = i;
                }
            }

            return best;
        }

        /// <summary>The eligible worker furthest above its share (not given up on), or -1 when every one is within it.</summary>
        public int MostOverShare()
        {
            var share = Share();
            var worst = -1;
            for (var i = 0; i < Workers.Count; i++)
            {
                if (_gaveUp[i] || !Workers[i].Eligible || Load[i] <= share[i])
                {
                    continue;
                }

                if (worst < 0 || Fill(i).CompareTo(Fill(worst)) > 0)
                {
                    worst = i;
                }
            }

            return worst;
        }

        public void GiveUpOn(int worker) => _gaveUp[worker] = true;

        public int MovesNeeded()
        {
            var share = Share();
            var needed = 0;
            for (var i = 0; i < Workers.Count; i++)
            {
                if (Workers[i].Eligible)
                {
                    needed += Math.Max(0, Load[i] - share[i]);
                }
            }

            return needed;
        }

        // Each eligible worker's share: the pool's mean fill times its capacity, rounded up. Computed once, after
        // placement, when the total load is known; rebalancing moves pipelines but does not change the total.
        private int[] Share()
        {
            if (_share is not null)
            {
                return _share;
            }

            long load = 0;
            long capacity = 0;
            for (var i = 0; i < Workers.Count; i++)
            {
                if (Workers[i].Eligible)
                {
                    load += Load[i];
                    capacity += Workers[i].Capacity;
                }
            }

            _share = new int[Workers.Count];
            for (var i = 0; i < Workers.Count; i++)
            {
                _share[i] = capacity == 0 ? 0 : (int)Math.Min(Workers[i].Capacity, (load * Workers[i].Capacity + capacity - 1) / capacity);
            }

            return _share;
        }

        private double Fill(int worker) => (double)Load[worker] / Workers[worker].Capacity;

        private bool Better(int candidate, int best, int[]? tenantCounts)
        {
            // Compare fills exactly: (load+1)/capacity as fractions.
            var left = (long)(Load[candidate] + 1) * Workers[best].Capacity;
            var right = (long)(Load[best] + 1) * Workers[candidate].Capacity;
            if (left != right)
            {
                return left < right;
            }

            var sameTenantCandidate = tenantCounts?[candidate] ?? 0;
            var sameTenantBest = tenantCounts?[best] ?? 0;
            if (sameTenantCandidate != sameTenantBest)
            {
                return sameTenantCandidate < sameTenantBest;
            }

            return Workers[candidate].Id.CompareTo(Workers[best].Id) < 0;
        }
    }
}
