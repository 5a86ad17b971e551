using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Changes;

public enum ChangeKind
{
    Insert,
    Update,
    Delete,
    /// <summary>Every row of the table that is older than this change is removed.</summary>
    Truncate,
}

/// <summary>Marks a column whose value did not change and was not sent (PostgreSQL's unchanged TOAST value).</summary>
public sealed class UnchangedValue
{
    public static readonly UnchangedValue Instance = new();

    private UnchangedValue()
    {
    }

    public override string ToString() => "<unchanged>";
}

/// <summary>
/// One committed change to one row, its values already copied out of the source's buffers.
/// Ordering is (<see cref="Position"/>, <see cref="Sequence"/>): the position is the source transaction's commit
/// position (PostgreSQL: commit LSN) and the sequence orders changes within it, so changes of concurrent transactions
/// sort in commit order, as the source applied them.
/// </summary>
public sealed class RowChange
{
    public required TableSchema Table { get; init; }

    public required ChangeKind Kind { get; init; }

    /// <summary>
    /// Insert and update: the new row, one value per column of <see cref="Table"/>, <see cref="UnchangedValue"/> where the
    /// source did not send it. Delete: the key columns hold the old key, the others are null. Truncate: empty.
    /// </summary>
    public required object?[] Values { get; init; }

    /// <summary>For an update that changed the key: the old key values, in <see cref="TableSchema.KeyIndexes"/> order.</summary>
    public object?[]? OldKey { get; init; }

    public required long Position { get; init; }

    public required long Sequence { get; init; }

    public required DateTimeOffset CommittedAt { get; init; }

    /// <summary>Approximate memory the values take, for cutting batches by size.</summary>
    public int ApproximateBytes { get; init; }

    public bool HasUnchangedValues
    {
        get
        {
            foreach (var value in Values)
            {
                if (ReferenceEquals(value, UnchangedValue.Instance))
                {
                    return true;
                }
            }

            return false;
        }
    }
}
