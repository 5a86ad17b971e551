namespace Freshet.DataPlane.Changes;

/// <summary>
/// Changes that commit to the destination in one transaction, in source order, together with the checkpoint that
/// says where to resume after them. A batch ends on a source commit boundary unless one source transaction alone
/// exceeds the batch limits; then <see cref="ResumePosition"/> still names the start of that transaction and
/// <see cref="AppliedThrough"/> says how far into it the destination got, so a replay skips what was applied.
/// </summary>
public sealed class ChangeBatch
{
    public required IReadOnlyList<RowChange> Changes { get; init; }

    /// <summary>Opaque source position to restart reading from once this batch is committed.</summary>
    public required string ResumePosition { get; init; }

    /// <summary>The (position, sequence) of the last change in the batch.</summary>
    public required (long Position, long Sequence) AppliedThrough { get; init; }

    /// <summary>Source position to acknowledge to the source once committed (PostgreSQL: the flush LSN), if any.</summary>
    public ulong? AcknowledgePosition { get; init; }

    /// <summary>Commit time of the newest source transaction in the batch.</summary>
    public DateTimeOffset? LastCommittedAt { get; init; }

    /// <summary>When the oldest change of the batch was read (for lag accounting).</summary>
    public DateTimeOffset FirstReceivedAt { get; init; }

    public long ApproximateBytes { get; init; }
}
