namespace Freshet.DataPlane.Changes;

/// <summary>
/// Changes that commit to the destination in one transaction, in source order, together with the checkpoint that
/// says where to resume after them. A batch ends on a source commit boundary unless one source transaction alone
/// exceeds the batch limits; then <see cref="ResumePosition"/> still names the start of that transaction and
/// <see cref="AppliedThrough"/> says how far into it the destination got, so a replay skips what was applied.
/// </summary>
/// <remarks>
/// A batch is built either from <see cref="Changes"/> or from <see cref="Items"/> (single changes and
/// <see cref="InsertBlock"/>s, as a source delivered them). <see cref="Changes"/> is always there: for a batch of items
/// it is their changes with every block materialized, made on first use, so a destination that does not take blocks
/// sees ordinary changes; one that does reads <see cref="Items"/> and never materializes what it writes as blocks.
/// </remarks>
public sealed class ChangeBatch
{
    private IReadOnlyList<RowChange>? _changes;
    private readonly IReadOnlyList<BatchItem>? _items;

    /// <summary>Every change in source order (blocks materialized into inserts).</summary>
    public IReadOnlyList<RowChange> Changes
    {
        get => _changes ??= Materialize(_items ?? []);
        init => _changes = value;
    }

    /// <summary>The changes as the source delivered them, blocks whole; null for a batch built from <see cref="Changes"/>.</summary>
    public IReadOnlyList<BatchItem>? Items
    {
        get => _items;
        init
        {
            _items = value;
            RowCount = value?.Sum(i => i.RowCount) ?? 0;
        }
    }

    /// <summary>The batch's items: <see cref="Items"/>, or for a batch built from changes, each change as an item.</summary>
    public IEnumerable<BatchItem> AllItems => _items ?? Changes.Select(BatchItem.Of);

    /// <summary>Rows the batch changes (a truncate counts as one), without materializing blocks.</summary>
    public int RowCount
    {
        get => _items is null ? Changes.Count : field;
        private init;
    }

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

    private static List<RowChange> Materialize(IReadOnlyList<BatchItem> items)
    {
        var changes = new List<RowChange>(items.Sum(i => i.RowCount));
        foreach (var item in items)
        {
            if (item.Block is { } block)
            {
                block.AddMaterialized(changes);
            }
            else
            {
                changes.Add(item.Change!);
            }
        }

        return changes;
    }
}

/// <summary>One change, or a block of inserts, in a batch.</summary>
public readonly record struct BatchItem(RowChange? Change, InsertBlock? Block)
{
    public static BatchItem Of(RowChange change) => new(change, null);

    public static BatchItem Of(InsertBlock block) => new(null, block);

    public int RowCount => Block?.Count ?? 1;

    public Schema.TableSchema Table => Block?.Table ?? Change!.Table;

    public long Position => Block?.Position ?? Change!.Position;

    /// <summary>(position, sequence) of the item's last row.</summary>
    public (long Position, long Sequence) Last => Block is { } block ? (block.Position, block.LastSequence) : (Change!.Position, Change.Sequence);

    public DateTimeOffset CommittedAt => Block?.CommittedAt ?? Change!.CommittedAt;
}
