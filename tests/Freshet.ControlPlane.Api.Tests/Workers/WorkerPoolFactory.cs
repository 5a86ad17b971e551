using System.Collections.Concurrent;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Tests.Workers;

/// <summary>
/// The control plane with the worker pool's OAuth client configured and test doubles standing in for the scheduler
/// module's <see cref="IWorkerControl"/>, <see cref="IWorkerPool"/> and <see cref="IPipelinePlacements"/> (registered last, so they win over any real ones).
/// </summary>
public sealed class WorkerPoolFactory : ControlPlaneFactory
{
    public const string WorkerClientId = "freshet-worker";
    public const string WorkerClientSecret = "worker-pool-secret-for-tests";

    public FakeWorkerPool Pool { get; } = new();

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
    [
        new("Freshet:Auth:WorkerClient:ClientSecret", WorkerClientSecret),
        // The live feed's clock-driven re-judging out of the way: a status that reaches a stream was pushed by ingest.
        new("Freshet:Status:StreamTick", "00:10:00"),
    ];

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services =>
        {
            services.AddSingleton<IWorkerPool>(Pool);
            services.AddSingleton<IPipelinePlacements>(Pool);
            services.AddSingleton<IWorkerControl>(sp => new FakeWorkerControl(Pool, sp.GetRequiredService<IPipelineCatalog>()));
        });
    }

    public async Task<HttpClient> WorkerClientAsync()
    {
        var http = CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await ClientTokenAsync(WorkerClientId, WorkerClientSecret));
        return http;
    }
}

/// <summary>An in-memory worker pool: workers, placements and the requests platform staff make.</summary>
public sealed class FakeWorkerPool : IWorkerPool
{
    public ConcurrentDictionary<Guid, WorkerInfo> Workers { get; } = new();

    public ConcurrentDictionary<Guid, PipelinePlacementInfo> Placements { get; } = new();

    public ConcurrentBag<(Guid PipelineId, Guid? ToWorkerId)> Moves { get; } = [];

    public ConcurrentBag<(Guid WorkerId, Guid PipelineId, long Epoch)> Releases { get; } = [];

    public ConcurrentBag<(Guid WorkerId, Guid PipelineId)> Dropped { get; } = [];

    private int _placementCalls;

    /// <summary>How many times placements were read (one per pipeline read or list page).</summary>
    public int PlacementCalls => Volatile.Read(ref _placementCalls);

    public WorkerInfo AddWorker(string name, bool live = true, bool draining = false)
    {
        var now = DateTimeOffset.UtcNow;
        var worker = new WorkerInfo(Guid.NewGuid(), name, "zone-a", new Dictionary<string, string> { ["zone"] = "zone-a" }, 10, "1.0.0", now, now, now.AddSeconds(15), live, draining, 0);
        Workers[worker.Id] = worker;
        return worker;
    }

    public void Place(Guid pipelineId, WorkerInfo worker, long epoch, PipelineRunState? reported = null, long? reportedEpoch = null, string? reason = null, DateTimeOffset? nextAttemptAt = null) =>
        Placements[pipelineId] = new PipelinePlacementInfo(
            pipelineId, worker.Id, worker.Name, epoch, 1, DateTimeOffset.UtcNow,
            reported is { } state ? Report(pipelineId, reportedEpoch ?? epoch, state, reason, nextAttemptAt) : null);

    public static PipelineProgressReport Report(Guid pipelineId, long epoch, PipelineRunState state, string? reason = null, DateTimeOffset? nextAttemptAt = null) =>
        new(pipelineId, epoch, state, reason, nextAttemptAt, 100, 90, 10, 0.5, 10, 1000, null, null, null, 5, 1, 0, 0, new Dictionary<string, TableProgressReport>(), DateTimeOffset.UtcNow);

    public Task<IReadOnlyList<WorkerInfo>> ListWorkersAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<WorkerInfo>>([.. Workers.Values]);

    public Task<WorkerInfo?> GetWorkerAsync(Guid workerId, CancellationToken cancellationToken) => Task.FromResult(Workers.GetValueOrDefault(workerId));

    public Task<bool> RequestDrainAsync(Guid workerId, CancellationToken cancellationToken)
    {
        if (!Workers.TryGetValue(workerId, out var worker))
        {
            return Task.FromResult(false);
        }

        Workers[workerId] = worker with { Draining = true };
        return Task.FromResult(true);
    }

    public Task<MoveRequestOutcome> RequestMoveAsync(Guid pipelineId, Guid? toWorkerId, CancellationToken cancellationToken)
    {
        if (!Placements.TryGetValue(pipelineId, out var placement) || placement.WorkerId is null)
        {
            return Task.FromResult(MoveRequestOutcome.NotPlaced);
        }

        if (toWorkerId is { } to)
        {
            if (!Workers.TryGetValue(to, out var target))
            {
                return Task.FromResult(MoveRequestOutcome.WorkerNotFound);
            }

            if (!target.Live || target.Draining || placement.WorkerId == to)
            {
                return Task.FromResult(MoveRequestOutcome.WorkerNotEligible);
            }
        }

        Moves.Add((pipelineId, toWorkerId));
        return Task.FromResult(MoveRequestOutcome.Requested);
    }

    public Task<IReadOnlyDictionary<Guid, PipelinePlacementInfo>> GetPlacementsAsync(IReadOnlyCollection<Guid> pipelineIds, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _placementCalls);
        IReadOnlyDictionary<Guid, PipelinePlacementInfo> found = pipelineIds.Where(Placements.ContainsKey).ToDictionary(id => id, id => Placements[id]);
        return Task.FromResult(found);
    }
}

/// <summary>The worker protocol over the fake pool; specs come from the API module's real pipeline catalog.</summary>
public sealed class FakeWorkerControl(FakeWorkerPool pool, IPipelineCatalog catalog) : IWorkerControl
{
    public ConcurrentBag<WorkerRegistration> Registrations { get; } = [];

    public ConcurrentBag<WorkerHeartbeat> Heartbeats { get; } = [];

    public Task<WorkerLeaseGrant> RegisterAsync(WorkerRegistration registration, CancellationToken cancellationToken)
    {
        Registrations.Add(registration);
        var now = DateTimeOffset.UtcNow;
        pool.Workers[registration.WorkerId] = new WorkerInfo(
            registration.WorkerId, registration.Name, registration.Zone, registration.Labels, registration.Capacity, registration.Version, now, now, now.AddSeconds(15), true, false, 0);
        return Task.FromResult(Grant(registration.WorkerId, held: true));
    }

    public Task<WorkerLeaseGrant> HeartbeatAsync(WorkerHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        Heartbeats.Add(heartbeat);
        return Task.FromResult(Grant(heartbeat.WorkerId, held: pool.Workers.ContainsKey(heartbeat.WorkerId)));
    }

    public Task<WorkerAssignments> GetAssignmentsAsync(Guid workerId, CancellationToken cancellationToken) =>
        Task.FromResult(new WorkerAssignments(
            workerId,
            [.. pool.Placements.Values.Where(p => p.WorkerId == workerId).Select(p => new AssignedPipeline(p.PipelineId, p.Epoch, p.Generation))],
            [],
            pool.Placements.Count));

    public async Task<PipelineSpec?> GetSpecAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken) =>
        pool.Placements.TryGetValue(pipelineId, out var placement) && placement.WorkerId == workerId && placement.Epoch == epoch
            ? await catalog.ReadSpecAsync(pipelineId, epoch, cancellationToken)
            : null;

    public Task ReleaseAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        pool.Releases.Add((workerId, pipelineId, epoch));
        return Task.CompletedTask;
    }

    public Task ConfirmDroppedAsync(Guid workerId, Guid pipelineId, CancellationToken cancellationToken)
    {
        pool.Dropped.Add((workerId, pipelineId));
        return Task.CompletedTask;
    }

    private static WorkerLeaseGrant Grant(Guid workerId, bool held) => new(workerId, held, TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(5), false, 1);
}
