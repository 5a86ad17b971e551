namespace Freshet.Contracts;

/// <summary>
/// The pipelines as the scheduler needs them, provided by the API module (which owns them) to the scheduler module in
/// the same process. Reads every tenant: callers are platform components, never a tenant's request.
/// </summary>
public interface IPipelineCatalog
{
    /// <summary>Every pipeline of every tenant with what the scheduler needs to place it.</summary>
    Task<IReadOnlyList<PipelineDemandInfo>> ReadDemandsAsync(CancellationToken cancellationToken);

    /// <summary>One pipeline's spec, secrets decrypted, to run under <paramref name="epoch"/>; null when it no longer exists.</summary>
    Task<PipelineSpec?> ReadSpecAsync(Guid pipelineId, long epoch, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the named re-snapshot requests of <paramref name="pipelineId"/> completed (a worker running it under its
    /// current placement reported them handled). Idempotent: a request already completed, or of another pipeline, is
    /// left as it is. A completed request no longer appears in the pipeline's spec; its generation does not change.
    /// </summary>
    Task CompleteSnapshotRequestsAsync(Guid pipelineId, IReadOnlyCollection<Guid> requestIds, CancellationToken cancellationToken);
}

/// <summary>What the scheduler needs to know of one pipeline.</summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="TenantId">Its tenant (spread across workers where possible).</param>
/// <param name="State">Whether it should run.</param>
/// <param name="Generation">The spec generation workers must run.</param>
/// <param name="RequiredLabels">Labels a worker must carry to run it (e.g. <c>zone</c>).</param>
public sealed record PipelineDemandInfo(
    Guid PipelineId,
    Guid TenantId,
    DesiredState State,
    long Generation,
    IReadOnlyDictionary<string, string> RequiredLabels);

/// <summary>
/// The worker pool as the API module shows and steers it, provided by the scheduler module: workers with their leases
/// and load, where each pipeline runs, drain and move requests (which the leading scheduler carries out).
/// </summary>
public interface IWorkerPool : IPipelinePlacements
{
    /// <summary>Every registered worker, live or not.</summary>
    Task<IReadOnlyList<WorkerInfo>> ListWorkersAsync(CancellationToken cancellationToken);

    /// <summary>One worker, or null.</summary>
    Task<WorkerInfo?> GetWorkerAsync(Guid workerId, CancellationToken cancellationToken);

    /// <summary>Asks a worker to drain; false when no such worker exists.</summary>
    Task<bool> RequestDrainAsync(Guid workerId, CancellationToken cancellationToken);

    /// <summary>Asks the scheduler to move a running pipeline to <paramref name="toWorkerId"/> (or to the best other worker when null).</summary>
    Task<MoveRequestOutcome> RequestMoveAsync(Guid pipelineId, Guid? toWorkerId, CancellationToken cancellationToken);

}

/// <summary>
/// Where pipelines run, read-only, provided by the scheduler module: in every process that runs the scheduler, and in a
/// process that runs the API or the status module without it (the status module judges reports against placements).
/// </summary>
public interface IPipelinePlacements
{
    /// <summary>Where each of <paramref name="pipelineIds"/> runs and what its worker last reported; absent ids were never placed.</summary>
    Task<IReadOnlyDictionary<Guid, PipelinePlacementInfo>> GetPlacementsAsync(IReadOnlyCollection<Guid> pipelineIds, CancellationToken cancellationToken);
}

/// <summary>A registered worker.</summary>
/// <param name="Id">The worker.</param>
/// <param name="Name">Host or pod name.</param>
/// <param name="Zone">Failure domain, or null.</param>
/// <param name="Labels">What it offers.</param>
/// <param name="Capacity">Pipeline slots.</param>
/// <param name="Version">Build it runs.</param>
/// <param name="RegisteredAt">When it registered.</param>
/// <param name="LastHeartbeatAt">When it last renewed its lease.</param>
/// <param name="LeaseExpiresAt">When its lease runs out unless renewed.</param>
/// <param name="Live">Its lease has not expired.</param>
/// <param name="Draining">It is handing its pipelines back.</param>
/// <param name="Pipelines">Pipelines placed on it now.</param>
public sealed record WorkerInfo(
    Guid Id,
    string Name,
    string? Zone,
    IReadOnlyDictionary<string, string> Labels,
    int Capacity,
    string Version,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastHeartbeatAt,
    DateTimeOffset LeaseExpiresAt,
    bool Live,
    bool Draining,
    int Pipelines);

/// <summary>Where a pipeline runs, and what its worker last said about it.</summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="WorkerId">The worker it is placed on, or null when it is not placed (pending, paused, stopped).</param>
/// <param name="WorkerName">That worker's name.</param>
/// <param name="Epoch">The epoch of its current (or last) placement.</param>
/// <param name="Generation">The spec generation it was placed with.</param>
/// <param name="AssignedAt">When the current placement was made.</param>
/// <param name="Reported">The worker's last report for this epoch, or null before the first.</param>
public sealed record PipelinePlacementInfo(
    Guid PipelineId,
    Guid? WorkerId,
    string? WorkerName,
    long Epoch,
    long Generation,
    DateTimeOffset? AssignedAt,
    PipelineProgressReport? Reported);

/// <summary>What became of a move request.</summary>
public enum MoveRequestOutcome
{
    /// <summary>Recorded; the leading scheduler moves the pipeline in its next round.</summary>
    Requested,
    /// <summary>The pipeline runs nowhere now (paused, pending or unknown), so there is nothing to move.</summary>
    NotPlaced,
    /// <summary>No such worker.</summary>
    WorkerNotFound,
    /// <summary>The worker cannot take it: lease expired, draining, or already running it.</summary>
    WorkerNotEligible,
}
