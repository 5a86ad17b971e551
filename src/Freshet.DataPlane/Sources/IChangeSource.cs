using Freshet.Contracts;
using System.Threading.Channels;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources;

/// <summary>A selected table as the source describes it: its schema, or why it cannot be replicated.</summary>
internal sealed record SourceTable(TableId Id, TableSchema? Schema, string? Error, bool Snapshot);

/// <summary>
/// A database whose log is read. Implementations own their log-position format (opaque text to the engine) and the
/// numeric (position, sequence) order of the changes they emit.
/// </summary>
internal interface IChangeSource : IAsyncDisposable
{
    /// <summary>
    /// Checks the prerequisites (throws <see cref="SourcePrerequisiteException"/> listing every problem), describes the
    /// selected tables and makes sure the source side of the pipeline exists (e.g. the publication).
    /// </summary>
    Task<IReadOnlyList<SourceTable>> PrepareAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Starts a snapshot from nothing (creating the log position it ends at) when <paramref name="resumePlan"/> is null,
    /// or reopens the one described by the plan. Throws <see cref="SnapshotLostException"/> when the plan can no
    /// longer be resumed (its log position is gone), so the caller starts over.
    /// </summary>
    Task<ISnapshotSession> OpenSnapshotAsync(IReadOnlyList<TableSchema> tables, string? resumePlan, CancellationToken cancellationToken);

    /// <summary>
    /// Snapshots tables added to a pipeline that already streams from <paramref name="streamPosition"/>: the copy comes
    /// from fresh snapshots and its rows carry that position, so the stream's replay from there converges them.
    /// </summary>
    Task<ISnapshotSession> OpenAddedTablesSnapshotAsync(IReadOnlyList<TableSchema> tables, string streamPosition, CancellationToken cancellationToken);

    /// <summary>Reads committed changes after <paramref name="resumePosition"/> into <paramref name="output"/> until cancelled or failed.</summary>
    Task StreamAsync(string resumePosition, ChannelWriter<SourceEvent> output, CancellationToken cancellationToken);

    /// <summary>Tells the source everything up to <paramref name="acknowledgePosition"/> is safely in the destination.</summary>
    ValueTask AcknowledgeAsync(ulong acknowledgePosition, CancellationToken cancellationToken);

    /// <summary>Current numbers about the source side (head position, retained log), for progress reports.</summary>
    SourceStatus Status { get; }

    /// <summary>Measures the source side now (head position, log the pipeline holds back), without streaming.</summary>
    Task<SourceStatus> MeasureAsync(CancellationToken cancellationToken);

    /// <summary>Removes what the pipeline created at the source (slot, publication); used when a pipeline is deleted.</summary>
    Task DropAsync(CancellationToken cancellationToken);
}

/// <summary>An open, consistent view of the source's tables that snapshot chunks are read from.</summary>
internal interface ISnapshotSession : IAsyncDisposable
{
    /// <summary>The plan to store in the destination checkpoint, so a restart can resume it.</summary>
    string Plan { get; }

    /// <summary>Position the snapshot corresponds to: every streamed change comes after it.</summary>
    long Position { get; }

    DateTimeOffset TakenAt { get; }

    /// <summary>Where streaming starts once every chunk is copied.</summary>
    string ResumePosition { get; }

    /// <summary>Chunk count per table in the plan.</summary>
    IReadOnlyDictionary<TableId, int> ChunkCounts { get; }

    /// <summary>Reads one chunk's rows, values in the table schema's column order.</summary>
    IAsyncEnumerable<object?[]> ReadChunkAsync(TableSchema table, int chunk, CancellationToken cancellationToken);
}

internal enum SourceEventKind
{
    Change,

    /// <summary>A run of inserts of one table within one transaction (<see cref="SourceEvent.Block"/>), in place of its changes.</summary>
    Inserts,
    Commit,
    SchemaChanged,
    TableFailed,
}

/// <summary>A source transaction's end: the batch may be cut here and the checkpoint moved to <see cref="ResumePosition"/>.</summary>
internal sealed record TransactionCommit(long Position, string ResumePosition, ulong AcknowledgePosition, DateTimeOffset CommittedAt);

/// <summary>One item read from the source log, in log order.</summary>
internal readonly record struct SourceEvent(
    SourceEventKind Kind,
    RowChange? Change = null,
    TransactionCommit? Commit = null,
    TableSchema? Schema = null,
    TableId? Table = null,
    string? Error = null,
    InsertBlock? Block = null)
{
    public static SourceEvent ForChange(RowChange change) => new(SourceEventKind.Change, Change: change);

    public static SourceEvent ForInserts(InsertBlock block) => new(SourceEventKind.Inserts, Block: block);

    public static SourceEvent ForCommit(TransactionCommit commit) => new(SourceEventKind.Commit, Commit: commit);

    public static SourceEvent ForSchema(TableSchema schema) => new(SourceEventKind.SchemaChanged, Schema: schema);

    public static SourceEvent ForFailedTable(TableId table, string error) => new(SourceEventKind.TableFailed, Table: table, Error: error);
}

/// <summary>Numbers about the source side of a pipeline.</summary>
/// <param name="HeadPosition">The source log's head.</param>
/// <param name="RetainedBytes">Log the pipeline holds back on the source (PostgreSQL: the slot, from its restart point).</param>
/// <param name="MeasuredAt">When these were measured.</param>
/// <param name="RetainedLimitBytes">
/// How much it may hold (PostgreSQL: the smaller of retained plus the slot's <c>safe_wal_size</c> under
/// <c>max_slot_wal_keep_size</c>, and the WAL disk budget configured on the connection); null when unlimited or unknown.
/// </param>
/// <param name="RetainedLimitKind">Which limit <paramref name="RetainedLimitBytes"/> is; null with it.</param>
internal sealed record SourceStatus(
    long? HeadPosition,
    long? RetainedBytes,
    DateTimeOffset? MeasuredAt,
    long? RetainedLimitBytes = null,
    RetainedWalLimitKind? RetainedLimitKind = null)
{
    public static readonly SourceStatus Unknown = new(null, null, null);
}

/// <summary>The source is not set up the way a pipeline needs; each problem says what to change.</summary>
internal sealed class SourcePrerequisiteException(IReadOnlyList<string> problems)
    : Exception("The source is not ready: " + string.Join(" ", problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}

/// <summary>An interrupted snapshot cannot be resumed (its log position is gone) and must start over.</summary>
internal sealed class SnapshotLostException(string reason) : Exception(reason);

/// <summary>
/// The stored stream position can no longer be read from (MySQL: the binlog was purged, or its numbering restarted by
/// RESET MASTER or a restored server). Retrying does not help: the message says what happened and that a re-snapshot of
/// the whole pipeline (every table) recovers, which starts from a new position.
/// </summary>
internal sealed class SourcePositionLostException(string reason) : Exception(reason);
