using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations;

/// <summary>
/// Where a pipeline's changes land. Every write is one destination transaction that also checks the pipeline's
/// epoch in the destination's state table (<c>_freshet_checkpoints</c>) and refuses to commit with
/// <see cref="PipelineFencedException"/> once a higher epoch has claimed the pipeline: that is what stops a zombie
/// worker. Apply is idempotent: a change never overwrites a target row that holds a newer (position, sequence).
/// </summary>
/// <remarks>
/// Target tables carry the replicated columns plus metadata columns (see <see cref="MetadataColumns"/>). They have no
/// enforced primary key in DuckDB (the MERGE keeps keys unique; an index would only cost memory and write time).
/// </remarks>
public interface IDestination : IAsyncDisposable
{
    /// <summary>
    /// Records this pipeline's epoch as the owner and returns the stored checkpoint (a fresh one when there is none).
    /// Throws <see cref="PipelineFencedException"/> when a higher epoch is recorded.
    /// </summary>
    Task<DestinationCheckpoint> ClaimAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Creates the target table for <paramref name="table"/>, or brings an existing one in line with it as
    /// <paramref name="policy"/> allows, and remembers which of the table's columns the target receives.
    /// </summary>
    Task<TableSetup> EnsureTableAsync(TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken);

    /// <summary>
    /// Applies a batch and moves the checkpoint past it, never before its rows are committed (in the rows' transaction, or
    /// in one right after it where commits are not atomic: DuckDB; replaying rows committed without the checkpoint changes
    /// nothing, see below): per table, the latest change per key wins (older ones in
    /// the batch are folded into it, unchanged values filled from older ones), a truncate removes target rows older
    /// than itself, and nothing older than the target row's (position, sequence) is applied.
    /// Columns of a change that the target does not have are ignored; target columns the change lacks are left as they are
    /// (update) or null (insert). Throws <see cref="TableApplyException"/> naming the table when one table's rows fail.
    /// </summary>
    Task ApplyAsync(ChangeBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// Whether <see cref="ApplyAsync"/> writes a batch's <see cref="ChangeBatch.Items"/> blocks without materializing
    /// them (so the batcher may let a batch of blocks grow to its byte limit; see <see cref="Engine.Batcher"/>).
    /// </summary>
    bool TakesInsertBlocks => false;

    /// <summary>
    /// Starts (or restarts from nothing) the snapshot of <paramref name="tables"/>: in one transaction removes every
    /// row of their target tables and every chunk record of them, and stores <paramref name="plan"/> as the checkpoint's
    /// snapshot state.
    /// </summary>
    Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, CancellationToken cancellationToken);

    /// <summary>
    /// <see cref="BeginSnapshotAsync(IReadOnlyList{TableSchema}, string, CancellationToken)"/> that also records
    /// <paramref name="resnapshots"/> (re-snapshot request ids whose tables are among <paramref name="tables"/>) as
    /// handled, in the same transaction: the emptied tables, the plan that copies them again and the record commit
    /// together or not at all, so a request is carried out exactly once whatever crashes.
    /// </summary>
    Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, IReadOnlyCollection<Guid> resnapshots, CancellationToken cancellationToken);

    /// <summary>The re-snapshot request ids this pipeline's destination has recorded as handled (<c>_freshet_resnapshots</c>).</summary>
    Task<IReadOnlySet<Guid>> ReadHandledResnapshotsAsync(CancellationToken cancellationToken);

    /// <summary>Snapshot chunks already committed, as (source table, chunk number).</summary>
    Task<IReadOnlySet<(TableId Table, int Chunk)>> ReadCompletedChunksAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Appends one chunk of snapshot rows (values in <paramref name="table"/>'s column order) and records the chunk as
    /// done, in one transaction; returns the number of rows written. Safe to call for several chunks at once.
    /// </summary>
    Task<long> CopySnapshotChunkAsync(TableSchema table, SnapshotChunk chunk, IAsyncEnumerable<object?[]> rows, CancellationToken cancellationToken);

    /// <summary>Ends the snapshot: clears the snapshot state and stores the position streaming starts from.</summary>
    Task FinishSnapshotAsync(string resumePosition, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the snapshot as <see cref="FinishSnapshotAsync(string, CancellationToken)"/>; with
    /// <paramref name="restartsStream"/> the stream starts over from the snapshot's position (a snapshot of the whole
    /// pipeline), so the applied point is cleared too: a source whose numbering restarted (MySQL after RESET MASTER)
    /// writes positions below the old one, and a restart must not take them for replays.
    /// </summary>
    Task FinishSnapshotAsync(string resumePosition, bool restartsStream, CancellationToken cancellationToken);

    /// <summary>Stores the set of quarantined tables with their reasons (kept across restarts).</summary>
    Task SaveQuarantineAsync(IReadOnlyDictionary<TableId, string> quarantined, CancellationToken cancellationToken);
}

/// <summary>What the destination holds about a pipeline.</summary>
/// <param name="Epoch">The epoch that owns the pipeline (this worker's, after a successful claim).</param>
/// <param name="Position">Opaque source position to resume reading from; null before the first commit.</param>
/// <param name="AppliedPosition">(position, sequence) of the last change applied: a replay skips anything at or before it.</param>
/// <param name="AppliedSequence">See <paramref name="AppliedPosition"/>.</param>
/// <param name="Snapshot">The snapshot plan while a snapshot is in progress; null otherwise.</param>
/// <param name="Quarantined">Quarantined tables and why.</param>
/// <param name="UpdatedAt">When it was last written.</param>
public sealed record DestinationCheckpoint(
    long Epoch,
    string? Position,
    long AppliedPosition,
    long AppliedSequence,
    string? Snapshot,
    IReadOnlyDictionary<TableId, string> Quarantined,
    DateTimeOffset? UpdatedAt);

/// <summary>One chunk of a table's snapshot.</summary>
/// <param name="Number">The chunk's number within its table (0-based), as the plan numbers them.</param>
/// <param name="Position">The source position the snapshot was taken at; stored as the rows' position.</param>
/// <param name="TakenAt">When the snapshot was taken; stored as the rows' commit time.</param>
/// <param name="Resumed">
/// The snapshot resumed after its run failed or was killed, so an earlier attempt at this chunk may have left rows in
/// the target without its done record (a DuckDB commit that failed can do that, see <c>SharedDuckDbFile.DiscardAsync</c>):
/// the chunk's rows replace target rows with their keys instead of being appended beside them. Chunks are key ranges,
/// so no other chunk holds those keys.
/// </param>
public sealed record SnapshotChunk(int Number, long Position, DateTimeOffset TakenAt, bool Resumed = false);

/// <summary>What <see cref="IDestination.EnsureTableAsync"/> did.</summary>
/// <param name="Created">The target table was created.</param>
/// <param name="Added">Columns added to the target.</param>
/// <param name="Dropped">Columns dropped from the target.</param>
/// <param name="Retyped">Columns whose target type changed.</param>
/// <param name="QuarantineReason">Set when the policy says the table must stop: the change that was refused.</param>
/// <param name="Ignored">Source columns the target does not receive (policy Ignore/AddColumnsOnly).</param>
public sealed record TableSetup(
    bool Created,
    IReadOnlyList<string> Added,
    IReadOnlyList<string> Dropped,
    IReadOnlyList<string> Retyped,
    string? QuarantineReason,
    IReadOnlyList<string> Ignored)
{
    public bool Changed => Created || Added.Count > 0 || Dropped.Count > 0 || Retyped.Count > 0;
}

/// <summary>The names of the columns every target row carries besides the replicated ones.</summary>
public static class MetadataColumns
{
    /// <summary>Source commit position of the change that wrote the row (PostgreSQL: commit LSN as a number).</summary>
    public const string Position = "_freshet_position";

    /// <summary>Order of that change within its source transaction.</summary>
    public const string Sequence = "_freshet_sequence";

    /// <summary>When the source transaction committed (the snapshot time for snapshot rows).</summary>
    public const string CommittedAt = "_freshet_committed_at";

    /// <summary>When the destination transaction that wrote the row was applied.</summary>
    public const string SyncedAt = "_freshet_synced_at";

    /// <summary>Soft delete mode: whether the row was deleted at the source.</summary>
    public const string Deleted = "_freshet_deleted";

    /// <summary>Soft delete mode: when it was deleted.</summary>
    public const string DeletedAt = "_freshet_deleted_at";

    public static readonly IReadOnlyList<string> All = [Position, Sequence, CommittedAt, SyncedAt, Deleted, DeletedAt];

    /// <summary>The state table holding one checkpoint row per pipeline.</summary>
    public const string CheckpointTable = "_freshet_checkpoints";

    /// <summary>The state table holding one row per committed snapshot chunk.</summary>
    public const string SnapshotChunkTable = "_freshet_snapshot_chunks";

    /// <summary>The state table holding one row per re-snapshot request a pipeline has carried out.</summary>
    public const string ResnapshotTable = "_freshet_resnapshots";
}

/// <summary>A higher epoch owns the pipeline: this worker must stop it.</summary>
public sealed class PipelineFencedException(Guid pipelineId, long epoch, long ownerEpoch)
    : Exception($"Pipeline {pipelineId} is owned by epoch {ownerEpoch}; this worker runs epoch {epoch} and must stop.")
{
    public long Epoch { get; } = epoch;

    public long OwnerEpoch { get; } = ownerEpoch;
}

/// <summary>
/// One table's rows could not be applied; the others may still be. The message names the table and the kind of error
/// only: a data error's own message can quote row values (see <c>Engine.FailureReason</c> for what is safe to show).
/// </summary>
public sealed class TableApplyException(TableId table, Exception inner)
    : Exception($"Applying changes to {table} failed ({inner.GetType().Name}).", inner)
{
    public TableId Table { get; } = table;
}
