using Freshet.Contracts;
using Freshet.ControlPlane.Scheduler.Leadership;
using Freshet.ControlPlane.Scheduler.Placement;
using Freshet.ControlPlane.Scheduler.Workers;
using Freshet.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Freshet.ControlPlane.Scheduler.Tests;

/// <summary>
/// The reconcile loop and the worker protocol together on a real PostgreSQL: what workers are told after each committed
/// round, through the same <see cref="WorkerCoordinator"/> that serves them over HTTP.
/// </summary>
public sealed class ReconcilerTests : IAsyncLifetime
{
    // Leases long enough that a loaded machine never lets one run out by accident; the failover test uses a short one.
    private static readonly LeaseOptions Options = new()
    {
        HeartbeatInterval = TimeSpan.FromSeconds(5),
        LeaseDuration = TimeSpan.FromSeconds(60),
        WorkerSafetyMargin = TimeSpan.FromSeconds(1),
        DrainTimeout = TimeSpan.FromSeconds(30),
    };

    private static readonly LeaseOptions ShortLeases = new()
    {
        HeartbeatInterval = TimeSpan.FromMilliseconds(300),
        LeaseDuration = TimeSpan.FromSeconds(2),
        WorkerSafetyMargin = TimeSpan.FromMilliseconds(300),
        DrainTimeout = TimeSpan.FromSeconds(30),
    };

    private readonly Catalog _catalog = new();
    private NpgsqlDataSource _dataSource = null!;
    private WorkerCoordinator _coordinator = null!;
    private Reconciler _reconciler = null!;
    private LeadershipTerm _term = null!;

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("reconcile");
        var connectionString = server.ConnectionString(database);
        await new SchedulerDatabaseMigrator().MigrateAsync(connectionString, CancellationToken.None);
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _coordinator = new WorkerCoordinator(_dataSource, _catalog, Options, new ReconcileSignal(), [], Microsoft.Extensions.Logging.Abstractions.NullLogger<WorkerCoordinator>.Instance);
        _reconciler = new Reconciler(_dataSource, _catalog, Options, NullLogger<Reconciler>.Instance);
        _term = (await new SchedulerLeadership(_dataSource, Guid.NewGuid(), "test", TimeSpan.FromMinutes(5)).TryAcquireOrRenewAsync(CancellationToken.None))!;
    }

    public async Task DisposeAsync() => await _dataSource.DisposeAsync();

    [Fact]
    public async Task RunOnce_SpreadsPipelines_ThenMovesADeadWorkersPipelinesUnderHigherEpochs_AndTheDeadWorkerLosesItsLease()
    {
        _coordinator = new WorkerCoordinator(_dataSource, _catalog, ShortLeases, new ReconcileSignal(), [], Microsoft.Extensions.Logging.Abstractions.NullLogger<WorkerCoordinator>.Instance);
        _reconciler = new Reconciler(_dataSource, _catalog, ShortLeases, NullLogger<Reconciler>.Instance);
        var tenant = Guid.NewGuid();
        var pipelines = Enumerable.Range(0, 4).Select(_ => _catalog.Add(tenant)).ToList();
        var a = await RegisterAsync("a");
        var b = await RegisterAsync("b");

        var first = await _reconciler.RunOnceAsync(_term, CancellationToken.None);

        Assert.Equal(4, first.Changes.Count);
        var onA = await _coordinator.GetAssignmentsAsync(a, CancellationToken.None);
        var onB = await _coordinator.GetAssignmentsAsync(b, CancellationToken.None);
        Assert.Equal(2, onA.Pipelines.Count);
        Assert.Equal(2, onB.Pipelines.Count);
        Assert.All(onA.Pipelines.Concat(onB.Pipelines), p => Assert.Equal(1, p.Epoch));
        Assert.NotNull(await _coordinator.GetSpecAsync(a, onA.Pipelines[0].PipelineId, 1, CancellationToken.None));
        Assert.Null(await _coordinator.GetSpecAsync(b, onA.Pipelines[0].PipelineId, 1, CancellationToken.None));

        // b keeps heartbeating, a stops: once a's lease runs out, its two pipelines go to b under epoch 2.
        var deadline = DateTime.UtcNow + ShortLeases.LeaseDuration + TimeSpan.FromMilliseconds(300);
        while (DateTime.UtcNow < deadline)
        {
            Assert.True((await _coordinator.HeartbeatAsync(new WorkerHeartbeat(b, false, []), CancellationToken.None)).Held);
            await Task.Delay(ShortLeases.HeartbeatInterval);
        }

        var failover = await _reconciler.RunOnceAsync(_term, CancellationToken.None);

        Assert.Equal(2, failover.Changes.Count);
        Assert.All(failover.Changes, c => Assert.Equal((PlacementReason.Failover, a, b, 2L), (c.Reason, c.From!.Value, c.To!.Value, c.Epoch)));
        Assert.Equal(4, (await _coordinator.GetAssignmentsAsync(b, CancellationToken.None)).Pipelines.Count);
        Assert.False((await _coordinator.HeartbeatAsync(new WorkerHeartbeat(a, false, []), CancellationToken.None)).Held);
        Assert.Empty((await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines);
        Assert.Equal(pipelines.Order(), (await _coordinator.GetAssignmentsAsync(b, CancellationToken.None)).Pipelines.Select(p => p.PipelineId).Order());
    }

    [Fact]
    public async Task DrainingWorker_KeepsItsPipelinesUntilItHandsThemBack_EachThenPlacedElsewhereWithTheNextEpoch()
    {
        var tenant = Guid.NewGuid();
        var first = _catalog.Add(tenant);
        var second = _catalog.Add(tenant);
        var a = await RegisterAsync("a");
        await _reconciler.RunOnceAsync(_term, CancellationToken.None);
        var b = await RegisterAsync("b");

        var grant = await _coordinator.HeartbeatAsync(new WorkerHeartbeat(a, Draining: true, []), CancellationToken.None);
        var whileDraining = await _reconciler.RunOnceAsync(_term, CancellationToken.None);

        Assert.True(grant.Held);
        Assert.Empty(whileDraining.Changes);
        Assert.Equal(2, (await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines.Count);

        await _coordinator.ReleaseAsync(a, first, 1, CancellationToken.None);
        var handedBack = await _reconciler.RunOnceAsync(_term, CancellationToken.None);

        var change = Assert.Single(handedBack.Changes);
        Assert.Equal((first, (Guid?)null, (Guid?)b, 2L), (change.PipelineId, change.From, change.To, change.Epoch));
        Assert.Equal([second], (await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines.Select(p => p.PipelineId));
        Assert.True((await _coordinator.GetWorkerAsync(a, CancellationToken.None))!.Draining);
    }

    [Fact]
    public async Task PauseResumeRespecDeleteAndMove_ReachTheWorker_AndEpochsOnlyGrow()
    {
        var tenant = Guid.NewGuid();
        var pipeline = _catalog.Add(tenant);
        var a = await RegisterAsync("a");
        await _reconciler.RunOnceAsync(_term, CancellationToken.None);

        _catalog.Set(pipeline, DesiredState.Paused);
        var paused = await _reconciler.RunOnceAsync(_term, CancellationToken.None);
        Assert.Equal(PlacementReason.Stop, Assert.Single(paused.Changes).Reason);
        Assert.Empty((await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines);

        _catalog.Set(pipeline, DesiredState.Running);
        await _reconciler.RunOnceAsync(_term, CancellationToken.None);
        Assert.Equal(new AssignedPipeline(pipeline, 2, 1), Assert.Single((await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines));

        _catalog.Set(pipeline, DesiredState.Running, generation: 2);
        var respec = await _reconciler.RunOnceAsync(_term, CancellationToken.None);
        Assert.Equal(PlacementReason.Respec, Assert.Single(respec.Changes).Reason);
        Assert.Equal(new AssignedPipeline(pipeline, 2, 2), Assert.Single((await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines));

        var b = await RegisterAsync("b");
        Assert.Equal(MoveRequestOutcome.WorkerNotEligible, await _coordinator.RequestMoveAsync(pipeline, a, CancellationToken.None));
        Assert.Equal(MoveRequestOutcome.WorkerNotFound, await _coordinator.RequestMoveAsync(pipeline, Guid.NewGuid(), CancellationToken.None));
        Assert.Equal(MoveRequestOutcome.Requested, await _coordinator.RequestMoveAsync(pipeline, b, CancellationToken.None));
        var moved = await _reconciler.RunOnceAsync(_term, CancellationToken.None);
        Assert.Equal((PlacementReason.Moved, (Guid?)b, 3L), (Assert.Single(moved.Changes).Reason, moved.Changes[0].To, moved.Changes[0].Epoch));
        Assert.Empty(await _reconciler.RunOnceAsync(_term, CancellationToken.None) is { Changes: var none } ? none : null!);

        _catalog.Remove(pipeline);
        await _reconciler.RunOnceAsync(_term, CancellationToken.None);
        var onB = await _coordinator.GetAssignmentsAsync(b, CancellationToken.None);
        Assert.Empty(onB.Pipelines);
        Assert.Equal([pipeline], onB.Drop);
        await _coordinator.ConfirmDroppedAsync(b, pipeline, CancellationToken.None);
        Assert.Empty((await _coordinator.GetAssignmentsAsync(b, CancellationToken.None)).Drop);
    }

    [Fact]
    public async Task Heartbeat_StoresReportsOnlyUnderTheCurrentEpoch_AndPlacementsShowThem()
    {
        var pipeline = _catalog.Add(Guid.NewGuid());
        var a = await RegisterAsync("a");
        await _reconciler.RunOnceAsync(_term, CancellationToken.None);

        await _coordinator.HeartbeatAsync(new WorkerHeartbeat(a, false, [new RunningPipeline(pipeline, 0, 1, Report(pipeline, 0, PipelineRunState.Streaming))]), CancellationToken.None);
        Assert.Null((await _coordinator.GetPlacementsAsync([pipeline], CancellationToken.None))[pipeline].Reported);

        await _coordinator.HeartbeatAsync(new WorkerHeartbeat(a, false, [new RunningPipeline(pipeline, 1, 1, Report(pipeline, 1, PipelineRunState.Snapshotting))]), CancellationToken.None);
        var placement = (await _coordinator.GetPlacementsAsync([pipeline], CancellationToken.None))[pipeline];

        Assert.Equal((a, "a", 1L), (placement.WorkerId!.Value, placement.WorkerName, placement.Epoch));
        Assert.Equal(PipelineRunState.Snapshotting, placement.Reported!.State);
        Assert.Equal(1, (await _coordinator.ListWorkersAsync(CancellationToken.None)).Single(w => w.Id == a).Pipelines);
    }

    [Fact]
    public async Task Heartbeat_CompletesReportedResnapshots_OnlyForTheCurrentPlacement()
    {
        var pipeline = _catalog.Add(Guid.NewGuid());
        var a = await RegisterAsync("a");
        var b = await RegisterAsync("b");
        await _reconciler.RunOnceAsync(_term, CancellationToken.None);
        var onA = (await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines.Any(p => p.PipelineId == pipeline);
        var (placedOn, other) = onA ? (a, b) : (b, a);
        var (stale, current, elsewhere) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());

        await _coordinator.HeartbeatAsync(new WorkerHeartbeat(placedOn, false, [new RunningPipeline(pipeline, 0, 1, Report(pipeline, 0, PipelineRunState.Streaming) with { HandledResnapshots = [stale] })]), CancellationToken.None);
        await _coordinator.HeartbeatAsync(new WorkerHeartbeat(other, false, [new RunningPipeline(pipeline, 1, 1, Report(pipeline, 1, PipelineRunState.Streaming) with { HandledResnapshots = [elsewhere] })]), CancellationToken.None);
        await _coordinator.HeartbeatAsync(new WorkerHeartbeat(placedOn, false, [new RunningPipeline(pipeline, 1, 1, Report(pipeline, 1, PipelineRunState.Streaming) with { HandledResnapshots = [current] })]), CancellationToken.None);

        Assert.Equal([(pipeline, current)], _catalog.Completed);
    }

    [Fact]
    public async Task RunOnce_UnderATermThatHasEnded_CommitsNothing()
    {
        var pipeline = _catalog.Add(Guid.NewGuid());
        var a = await RegisterAsync("a");
        await using (var expire = _dataSource.CreateCommand("UPDATE scheduler_leader SET expires_at = now()"))
        {
            await expire.ExecuteNonQueryAsync();
        }

        await Assert.ThrowsAsync<NotLeaderException>(() => _reconciler.RunOnceAsync(_term, CancellationToken.None));
        Assert.Empty((await _coordinator.GetAssignmentsAsync(a, CancellationToken.None)).Pipelines);
        Assert.DoesNotContain(pipeline, (await _coordinator.GetPlacementsAsync([pipeline], CancellationToken.None)).Keys);
    }

    private async Task<Guid> RegisterAsync(string name)
    {
        var id = Guid.NewGuid();
        var grant = await _coordinator.RegisterAsync(new WorkerRegistration(id, name, null, new Dictionary<string, string>(), 10, "test"), CancellationToken.None);
        Assert.True(grant.Held);
        return id;
    }

    private static PipelineProgressReport Report(Guid pipeline, long epoch, PipelineRunState state) =>
        new(pipeline, epoch, state, null, null, null, null, null, 0, 0, 0, null, null, null, 0, 0, 0, 0, new Dictionary<string, TableProgressReport>(), DateTimeOffset.UtcNow);

    /// <summary>The API module's catalog, as the scheduler sees it: a list of pipelines that tests change.</summary>
    private sealed class Catalog : IPipelineCatalog
    {
        private readonly Dictionary<Guid, PipelineDemandInfo> _pipelines = [];

        public Guid Add(Guid tenant)
        {
            var id = Guid.NewGuid();
            _pipelines[id] = new PipelineDemandInfo(id, tenant, DesiredState.Running, 1, new Dictionary<string, string>());
            return id;
        }

        public void Set(Guid id, DesiredState state, long? generation = null) =>
            _pipelines[id] = _pipelines[id] with { State = state, Generation = generation ?? _pipelines[id].Generation };

        public void Remove(Guid id) => _pipelines.Remove(id);

        public List<(Guid Pipeline, Guid Request)> Completed { get; } = [];

        public Task CompleteSnapshotRequestsAsync(Guid pipelineId, IReadOnlyCollection<Guid> requestIds, CancellationToken cancellationToken)
        {
            Completed.AddRange(requestIds.Select(r => (pipelineId, r)));
            return Task.CompletedTask;
        }

        public Task<IReadOnlyList<PipelineDemandInfo>> ReadDemandsAsync(CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<PipelineDemandInfo>>([.. _pipelines.Values.OrderBy(p => p.PipelineId)]);

        public Task<PipelineSpec?> ReadSpecAsync(Guid pipelineId, long epoch, CancellationToken cancellationToken) =>
            Task.FromResult(_pipelines.TryGetValue(pipelineId, out var p)
                ? new PipelineSpec(pipelineId, p.TenantId, "p", p.Generation, epoch, new EndpointSpec(ConnectionType.Postgres, new Dictionary<string, string>(), new Dictionary<string, string>()),
                    new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string>(), new Dictionary<string, string>()), [], DeleteMode.Hard, SchemaChangePolicy.Propagate)
                : null);
    }
}
