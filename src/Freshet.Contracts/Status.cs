namespace Freshet.Contracts;

/// <summary>A pipeline's health, derived by the status module's rules from its reports, placement and the clock.</summary>
public enum PipelineHealthState
{
    /// <summary>Should run, placed on no worker yet.</summary>
    Pending,
    /// <summary>Placed; its worker has not reported progress under this placement yet.</summary>
    Starting,
    /// <summary>Copying existing rows (see the per-table progress).</summary>
    Snapshotting,
    /// <summary>Streaming, lag within its threshold.</summary>
    Healthy,
    /// <summary>Streaming, lag above the pipeline's threshold.</summary>
    Lagging,
    /// <summary>Running with a problem: retries, a quarantined table, a failed run being retried, WAL retention risk.</summary>
    Degraded,
    /// <summary>No progress for long, or failing again and again.</summary>
    Failing,
    /// <summary>Paused by its owner.</summary>
    Paused,
    /// <summary>Its worker has not reported within the lease: what it shows may be out of date.</summary>
    Stale,
}

/// <summary>How health states compare when many pipelines are listed.</summary>
public static class PipelineHealthStates
{
    /// <summary>
    /// Worst first (0 is the worst): what needs someone's attention comes before what is fine. Not the order the health
    /// rules are tried in (that one also decides, for instance, that lag is not judged while a snapshot runs).
    /// </summary>
    public static int Rank(PipelineHealthState state) => state switch
    {
        PipelineHealthState.Failing => 0,
        PipelineHealthState.Stale => 1,
        PipelineHealthState.Degraded => 2,
        PipelineHealthState.Lagging => 3,
        PipelineHealthState.Pending => 4,
        PipelineHealthState.Starting => 5,
        PipelineHealthState.Snapshotting => 6,
        PipelineHealthState.Healthy => 7,
        _ => 8,
    };
}

/// <summary>Why a pipeline is in its health state.</summary>
/// <param name="Code">Stable, snake_case (e.g. <c>lag_above_threshold</c>).</param>
/// <param name="Message">For people; never quotes row values.</param>
public sealed record HealthReason(string Code, string Message);

/// <summary>One table's snapshot progress.</summary>
/// <param name="Table">Qualified source name.</param>
/// <param name="ChunksDone">Chunks committed.</param>
/// <param name="ChunksTotal">Chunks planned.</param>
/// <param name="RowsCopied">Rows copied so far.</param>
/// <param name="PercentDone">0–100.</param>
/// <param name="EstimatedDoneAt">When it should be done at the rate so far; null when not yet known.</param>
public sealed record TableSnapshotProgress(string Table, int ChunksDone, int ChunksTotal, long RowsCopied, double PercentDone, DateTimeOffset? EstimatedDoneAt);

/// <summary>A pipeline's health with its reasons and, while it snapshots, per-table progress.</summary>
public sealed record PipelineHealth(PipelineHealthState State, IReadOnlyList<HealthReason> Reasons, IReadOnlyList<TableSnapshotProgress> Snapshot);

/// <summary>What the API knows of a pipeline that the status module needs to judge its health.</summary>
/// <param name="PipelineId">The pipeline (already found in the caller's tenant).</param>
/// <param name="Paused">Its owner paused it.</param>
/// <param name="Placed">The scheduler placed it on a worker.</param>
/// <param name="PlacementEpoch">The epoch of that placement; reports of other epochs do not count.</param>
/// <param name="LagThresholdSeconds">Its lag threshold.</param>
public sealed record PipelineStatusQuery(Guid PipelineId, bool Paused, bool Placed, long? PlacementEpoch, double LagThresholdSeconds);

/// <summary>A pipeline's status now: health and the latest report's figures.</summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="Health">Its health.</param>
/// <param name="Report">The latest report under its current placement, or null.</param>
/// <param name="WorkerId">The worker that made it.</param>
/// <param name="ReceivedAt">When it was ingested.</param>
/// <param name="LastProgressAt">When the pipeline last made progress.</param>
public sealed record PipelineStatusView(
    Guid PipelineId,
    PipelineHealth Health,
    PipelineProgressReport? Report,
    Guid? WorkerId,
    DateTimeOffset? ReceivedAt,
    DateTimeOffset? LastProgressAt);

/// <summary>One point of a pipeline's series.</summary>
/// <param name="At">The start of the step.</param>
/// <param name="LagSeconds">Lag at the step's latest report.</param>
/// <param name="LagSecondsMax">The highest lag reported in the step.</param>
/// <param name="LagBytes">Lag in bytes at the step's latest report.</param>
/// <param name="RowsPerSecond">Mean of the reported rates.</param>
/// <param name="BytesPerSecond">Mean of the reported rates.</param>
/// <param name="Errors">New errors in the step.</param>
public sealed record PipelineMetricPoint(
    DateTimeOffset At, double LagSeconds, double LagSecondsMax, long? LagBytes, double RowsPerSecond, double BytesPerSecond, long Errors);

/// <summary>A series read: the step it was read at, and its points (steps without reports are absent).</summary>
public sealed record PipelineMetricSeries(int StepSeconds, IReadOnlyList<PipelineMetricPoint> Points);

/// <summary>Something that happened to a pipeline.</summary>
/// <param name="Id">Increasing; pages go backwards from it.</param>
/// <param name="OccurredAt">When (the report's time).</param>
/// <param name="Kind"><c>started</c>, <c>restarted</c>, <c>state_changed</c>, <c>error</c>, <c>quarantined</c>, <c>released</c>.</param>
/// <param name="Message">For people.</param>
/// <param name="WorkerId">The worker that reported it.</param>
/// <param name="Epoch">The placement epoch it happened under.</param>
public sealed record PipelineEventView(long Id, DateTimeOffset OccurredAt, string Kind, string Message, Guid? WorkerId, long? Epoch);

/// <summary>Pipelines' status as the API reads it, provided by the status module.</summary>
public interface IPipelineStatusReader
{
    /// <summary>Status of each pipeline asked for (one entry per query, in any order).</summary>
    Task<IReadOnlyDictionary<Guid, PipelineStatusView>> ReadAsync(IReadOnlyCollection<PipelineStatusQuery> pipelines, CancellationToken cancellationToken);

    /// <summary>
    /// The pipeline's series from <paramref name="from"/> to <paramref name="to"/> in steps of at least <paramref name="step"/>:
    /// older ranges are kept only at coarser resolutions (1 minute after a day, 1 hour after 30 days), and the step grows to one.
    /// </summary>
    Task<PipelineMetricSeries> ReadMetricsAsync(Guid pipelineId, DateTimeOffset from, DateTimeOffset to, TimeSpan step, CancellationToken cancellationToken);

    /// <summary>The pipeline's events, newest first, before the event id <paramref name="before"/> when given.</summary>
    Task<IReadOnlyList<PipelineEventView>> ReadEventsAsync(Guid pipelineId, long? before, int limit, CancellationToken cancellationToken);
}

/// <summary>
/// Tells which pipelines' status just changed, within moments of ingest, in every control-plane process (the status
/// store notifies through the database, so a change ingested by one replica reaches listeners on all of them).
/// </summary>
public interface IPipelineStatusFeed
{
    /// <summary>
    /// How often a live view should re-judge every pipeline it shows (health that changes with the clock alone: stale,
    /// failing for lack of progress) and, when nothing changed, say it is alive (<c>Freshet:Status:StreamTick</c>).
    /// </summary>
    TimeSpan RejudgeInterval { get; }

    /// <summary>
    /// Ids of pipelines whose status changed, from now until <paramref name="cancellationToken"/> is cancelled. A slow
    /// reader loses the oldest ids beyond a bound (it re-reads what it shows anyway), never blocks ingest.
    /// </summary>
    IAsyncEnumerable<Guid> ChangesAsync(CancellationToken cancellationToken);
}
