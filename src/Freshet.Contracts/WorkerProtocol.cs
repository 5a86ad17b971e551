namespace Freshet.Contracts;

/// <summary>
/// What a data-plane worker says to the control plane, and the control plane's answers. The worker reaches it over
/// authenticated HTTPS (<c>/v1/worker/…</c>, OAuth2 client credentials of the worker pool), or in the same process when
/// the host embeds a worker; both go through this one interface, so the worker agent does not know which.
/// Level-triggered: every call returns the whole truth for this worker, so a lost call or message only delays.
/// </summary>
public interface IWorkerControl
{
    /// <summary>Registers the worker (or refreshes its registration) and grants it a lease.</summary>
    Task<WorkerLeaseGrant> RegisterAsync(WorkerRegistration registration, CancellationToken cancellationToken);

    /// <summary>Renews the lease and reports the pipelines the worker runs. A grant with <c>Held = false</c> means the lease is gone.</summary>
    Task<WorkerLeaseGrant> HeartbeatAsync(WorkerHeartbeat heartbeat, CancellationToken cancellationToken);

    /// <summary>Every pipeline placed on this worker now, and the deleted pipelines whose source objects it must drop.</summary>
    Task<WorkerAssignments> GetAssignmentsAsync(Guid workerId, CancellationToken cancellationToken);

    /// <summary>
    /// The spec (secrets included) of a pipeline placed on this worker under <paramref name="epoch"/>; null when it is no
    /// longer placed there under that epoch.
    /// </summary>
    Task<PipelineSpec?> GetSpecAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken);

    /// <summary>
    /// A draining worker has stopped the pipeline (its last batch committed and checkpointed) and hands it back, so the
    /// scheduler places it elsewhere at once.
    /// </summary>
    Task ReleaseAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken);

    /// <summary>The worker dropped a deleted pipeline's source objects (slot, publication); the control plane forgets the pipeline.</summary>
    Task ConfirmDroppedAsync(Guid workerId, Guid pipelineId, CancellationToken cancellationToken);
}

/// <summary>A worker introducing itself.</summary>
/// <param name="WorkerId">Chosen by the worker when it starts; a restarted process is a new worker.</param>
/// <param name="Name">For people: host or pod name.</param>
/// <param name="Zone">Failure domain (also offered as the label <c>zone</c>), or null.</param>
/// <param name="Labels">What it offers to pipelines that require labels.</param>
/// <param name="Capacity">Pipelines it may run at once.</param>
/// <param name="Version">Build it runs.</param>
public sealed record WorkerRegistration(
    Guid WorkerId,
    string Name,
    string? Zone,
    IReadOnlyDictionary<string, string> Labels,
    int Capacity,
    string Version);

/// <summary>A lease renewal, carrying what the worker runs.</summary>
/// <param name="WorkerId">The worker.</param>
/// <param name="Draining">The worker is handing its pipelines back (it takes no new ones).</param>
/// <param name="Pipelines">Each pipeline it runs now, with its epoch, generation and progress.</param>
public sealed record WorkerHeartbeat(Guid WorkerId, bool Draining, IReadOnlyList<RunningPipeline> Pipelines);

/// <summary>One pipeline a worker runs.</summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="Epoch">The placement epoch it runs under.</param>
/// <param name="Generation">The spec generation it runs.</param>
/// <param name="Progress">Its latest progress, or null before the first.</param>
public sealed record RunningPipeline(Guid PipelineId, long Epoch, long Generation, PipelineProgressReport? Progress);

/// <summary>The control plane's answer to a registration or heartbeat.</summary>
/// <param name="WorkerId">The worker.</param>
/// <param name="Held">
/// Whether the worker holds a lease now. False: it expired or the worker was removed — the worker must stop every
/// pipeline at once and register again (as the same id; its pipelines may have moved meanwhile).
/// </param>
/// <param name="LeaseDuration">How long the lease lasts from the moment the control plane granted it.</param>
/// <param name="HeartbeatInterval">How often the worker should renew.</param>
/// <param name="DrainRequested">An operator asked this worker to drain: hand every pipeline back, then exit.</param>
/// <param name="AssignmentsVersion">Changes whenever this worker's assignments change; a worker re-reads them when it differs.</param>
public sealed record WorkerLeaseGrant(
    Guid WorkerId,
    bool Held,
    TimeSpan LeaseDuration,
    TimeSpan HeartbeatInterval,
    bool DrainRequested,
    long AssignmentsVersion);

/// <summary>Everything placed on one worker.</summary>
/// <param name="WorkerId">The worker.</param>
/// <param name="Pipelines">Pipelines to run, each under its epoch and generation.</param>
/// <param name="Drop">Deleted pipelines this worker last ran: drop their source objects, then confirm.</param>
/// <param name="Version">The assignments version these reflect.</param>
public sealed record WorkerAssignments(Guid WorkerId, IReadOnlyList<AssignedPipeline> Pipelines, IReadOnlyList<Guid> Drop, long Version);

/// <summary>A pipeline placed on a worker.</summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="Epoch">The placement's epoch: the worker writes under it and no other.</param>
/// <param name="Generation">The spec generation to run (fetch the spec again when it changes).</param>
public sealed record AssignedPipeline(Guid PipelineId, long Epoch, long Generation);

/// <summary>
/// Hint published on the message bus after the scheduler commits placements: the named workers should read their
/// assignments now rather than at their next poll. Carries no spec and no secret; losing it only delays.
/// </summary>
/// <param name="WorkerIds">Workers whose assignments changed.</param>
public sealed record WorkerAssignmentsChanged(IReadOnlyList<Guid> WorkerIds);
