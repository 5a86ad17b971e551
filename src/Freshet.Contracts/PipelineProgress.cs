namespace Freshet.Contracts;

/// <summary>Where a pipeline's run is.</summary>
public enum PipelineRunState
{
    /// <summary>Claiming the destination and preparing the source.</summary>
    Starting,
    /// <summary>Copying existing rows.</summary>
    Snapshotting,
    /// <summary>Applying changes from the source log.</summary>
    Streaming,
    /// <summary>The last run failed; the next attempt is scheduled (see <see cref="PipelineProgressReport.NextAttemptAt"/>).</summary>
    Failed,
    /// <summary>A higher epoch owns the pipeline; this worker stopped it for good.</summary>
    Fenced,
    /// <summary>Held by its owner: not running, its slot (and position) kept.</summary>
    Paused,
    /// <summary>Stopped by its worker (revoked, moved, or the worker is shutting down).</summary>
    Stopped,
}

/// <summary>Counts for one table.</summary>
/// <param name="Inserted">Rows inserted by the stream.</param>
/// <param name="Updated">Rows updated by the stream.</param>
/// <param name="Deleted">Rows deleted by the stream.</param>
/// <param name="SnapshotRows">Rows copied by the snapshot.</param>
/// <param name="SnapshotChunksDone">Snapshot chunks committed.</param>
/// <param name="SnapshotChunksTotal">Snapshot chunks planned.</param>
/// <param name="QuarantineReason">Why the table is quarantined (never quoting row values), or null.</param>
public sealed record TableProgressReport(
    long Inserted,
    long Updated,
    long Deleted,
    long SnapshotRows,
    int SnapshotChunksDone,
    int SnapshotChunksTotal,
    string? QuarantineReason);

/// <summary>
/// A point-in-time view of one pipeline on this worker, as the status service will ingest it. Positions are the
/// source's numeric positions (PostgreSQL: LSN as a number).
/// </summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="Epoch">The placement epoch it runs under.</param>
/// <param name="State">Where its run is.</param>
/// <param name="Reason">Why it is in that state, when it is not plain progress.</param>
/// <param name="NextAttemptAt">When a failed run is tried again.</param>
/// <param name="SourceHeadPosition">The source's current log position.</param>
/// <param name="CommittedPosition">The last source position committed to the destination.</param>
/// <param name="LagBytes">Head minus committed.</param>
/// <param name="LagSeconds">Age of the oldest source commit not yet in the destination; zero when caught up.</param>
/// <param name="RowsPerSecond">Rows delivered per second, recently.</param>
/// <param name="BytesPerSecond">Bytes delivered per second, recently.</param>
/// <param name="LastDeliveryAt">When the last batch committed.</param>
/// <param name="LastSourceCommitAt">Source commit time of the last delivered change.</param>
/// <param name="RetainedWalBytes">WAL the pipeline's slot holds back (PostgreSQL).</param>
/// <param name="RowsDelivered">Rows delivered since the run started.</param>
/// <param name="Batches">Batches committed since the run started.</param>
/// <param name="Retries">Retried attempts since the run started.</param>
/// <param name="Errors">Errors since the run started.</param>
/// <param name="Tables">Counts per table, by qualified source name.</param>
/// <param name="ReportedAt">When this view was taken.</param>
/// <param name="HandledResnapshots">
/// Ids of the spec's <see cref="PipelineSpec.Resnapshots"/> whose tables the destination holds copied again; listed as
/// long as the spec carries them, so the control plane can mark them completed (idempotently). Null: none.
/// </param>
/// <param name="RetainedWalLimitBytes">
/// How much WAL the slot may hold: the smaller of what the server lets it hold before giving it up (PostgreSQL's
/// <c>max_slot_wal_keep_size</c>: retained plus the slot's <c>safe_wal_size</c>) and the WAL disk budget configured on the
/// source connection; null when neither limits it, or unknown.
/// </param>
/// <param name="ReadRowsPerSecond">
/// Changes (and snapshot rows) taken in from the source per second, recently: beside <paramref name="RowsPerSecond"/>
/// (out), a pipeline whose intake outruns its delivery is falling behind. Null from workers that predate it.
/// </param>
/// <param name="ReadBytesPerSecond">Approximate bytes of the changes taken in per second, recently; null from older workers.</param>
/// <param name="RetainedWalLimitKind">
/// Which of the two <paramref name="RetainedWalLimitBytes"/> is. Null when there is no limit, and from workers that
/// predate the budget (their limit is always <see cref="Freshet.Contracts.RetainedWalLimitKind.MaxSlotWalKeepSize"/>).
/// </param>
public sealed record PipelineProgressReport(
    Guid PipelineId,
    long Epoch,
    PipelineRunState State,
    string? Reason,
    DateTimeOffset? NextAttemptAt,
    long? SourceHeadPosition,
    long? CommittedPosition,
    long? LagBytes,
    double LagSeconds,
    double RowsPerSecond,
    double BytesPerSecond,
    DateTimeOffset? LastDeliveryAt,
    DateTimeOffset? LastSourceCommitAt,
    long? RetainedWalBytes,
    long RowsDelivered,
    long Batches,
    long Retries,
    long Errors,
    IReadOnlyDictionary<string, TableProgressReport> Tables,
    DateTimeOffset ReportedAt,
    IReadOnlyList<Guid>? HandledResnapshots = null,
    long? RetainedWalLimitBytes = null,
    RetainedWalLimitKind? RetainedWalLimitKind = null,
    double? ReadRowsPerSecond = null,
    double? ReadBytesPerSecond = null);

/// <summary>What limits the WAL a pipeline's slot may hold back on its source.</summary>
public enum RetainedWalLimitKind
{
    /// <summary>The server's <c>max_slot_wal_keep_size</c>: past it the server invalidates the slot and the pipeline must snapshot again.</summary>
    MaxSlotWalKeepSize,
    /// <summary>The WAL disk budget the operator configured on the source connection: past it the source's disk is at risk.</summary>
    WalDiskBudget,
}

/// <summary>
/// Where workers' progress reports go besides the placement they update: the status module's store. Called by the
/// scheduler module after it accepted a heartbeat (only reports of the placement the worker holds), and by the bus
/// consumer for reports workers publish. Idempotent and order-tolerant: a duplicate or an older report changes nothing
/// it should not.
/// </summary>
public interface IPipelineStatusSink
{
    /// <summary>Takes reports of one worker, each under the placement epoch it was made for.</summary>
    Task IngestAsync(Guid workerId, IReadOnlyList<PipelineProgressReport> reports, CancellationToken cancellationToken);
}

/// <summary>
/// A worker's progress reports on the message bus, published after each heartbeat and when a pipeline's run state
/// changes, for status processes that run no scheduler (which receive reports with heartbeats instead). The status
/// module keeps only the reports of placements <paramref name="WorkerId"/> holds under each report's epoch. Reports carry
/// figures and reasons, never settings or secrets.
/// </summary>
/// <param name="WorkerId">The worker that made the reports.</param>
/// <param name="Reports">Its view of every pipeline it runs, each under the epoch it runs it.</param>
public sealed record PipelineStatusReported(Guid WorkerId, IReadOnlyList<PipelineProgressReport> Reports);
