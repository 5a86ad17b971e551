using System.Collections;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.Folding;

/// <summary>What folding needs to know of a target table: its columns, its key, and where they sit in a source schema.</summary>
internal interface IFoldTarget
{
    int ColumnCount { get; }

    /// <summary>Positions of the key columns among the target's columns.</summary>
    IReadOnlyList<int> KeyIndexes { get; }

    string ColumnName(int index);

    /// <summary>For each target column, its position in <paramref name="schema"/> (matched by name), or -1.</summary>
    int[] SourceIndexes(TableSchema schema);

    /// <summary>For each key column, its position in <paramref name="schema"/>'s old-key values (<see cref="TableSchema.KeyIndexes"/> order), or -1.</summary>
    int[] OldKeyIndexes(TableSchema schema);
}

/// <summary>The one change a batch leaves for a key.</summary>
internal sealed class FoldedRow
{
    /// <summary>A delete (hard mode, or soft mode with nothing in the batch to carry values): only the key is set.</summary>
    public required bool IsDelete { get; init; }

    /// <summary>One value per target column; <see cref="UnchangedValue"/> where the target's value stays.</summary>
    public required object?[] Values { get; init; }

    /// <summary>
    /// The key of the target row whose values fill the unchanged columns: the row's own key, or the key it had before
    /// the batch changed it.
    /// </summary>
    public required object?[] OriginKey { get; init; }

    public required long Position { get; init; }

    public required long Sequence { get; init; }

    public required DateTimeOffset CommittedAt { get; init; }

    /// <summary>Soft mode: an upsert that also marks the row deleted (the batch wrote the row, then deleted it).</summary>
    public bool Deleted { get; init; }

    public bool HasUnchanged => Array.Exists(Values, v => ReferenceEquals(v, UnchangedValue.Instance));
}

/// <summary>What a batch does to one target table.</summary>
internal sealed class FoldedTable<TTable>(TTable table)
    where TTable : IFoldTarget
{
    public TTable Table { get; } = table;

    /// <summary>The last truncate in the batch: target rows older than it go.</summary>
    public (long Position, long Sequence, DateTimeOffset CommittedAt)? Truncate { get; set; }

    public Dictionary<object?[], FoldedRow> Rows { get; } = new(KeyComparer.Instance);
}

/// <summary>Folds a batch's changes to one final change per key, table by table, in batch order.</summary>
internal static class ChangeFolder
{
    public static List<FoldedTable<TTable>> Fold<TTable>(IReadOnlyList<RowChange> changes, Func<TableId, TTable> tables, DeleteMode deleteMode)
        where TTable : IFoldTarget
    {
        var folded = new Dictionary<TableId, FoldedTable<TTable>>();
        var order = new List<FoldedTable<TTable>>();
        foreach (var change in changes)
        {
            var id = change.Table.Source;
            if (!folded.TryGetValue(id, out var table))
            {
                table = new FoldedTable<TTable>(tables(id));
                folded[id] = table;
                order.Add(table);
            }

            try
            {
                Apply(table, change, deleteMode);
            }
            catch (InvalidOperationException e)
            {
                throw new TableApplyException(id, e);
            }
        }

        return order;
    }

    private static void Apply<TTable>(FoldedTable<TTable> table, RowChange change, DeleteMode deleteMode)
        where TTable : IFoldTarget
    {
        var target = table.Table;
        if (change.Kind == ChangeKind.Truncate)
        {
            table.Rows.Clear();
            table.Truncate = (change.Position, change.Sequence, change.CommittedAt);
            return;
        }

        var indexes = target.SourceIndexes(change.Table);
        var key = new object?[target.KeyIndexes.Count];
        for (var k = 0; k < key.Length; k++)
        {
            var index = indexes[target.KeyIndexes[k]];
            key[k] = index < 0 ? null : change.Values[index];
            if (key[k] is null || key[k] is UnchangedValue)
            {
                throw new InvalidOperationException($"A {change.Kind} change lacks a value for key column {target.ColumnName(target.KeyIndexes[k])}.");
            }
        }

        if (change.Kind == ChangeKind.Delete)
        {
            table.Rows.TryGetValue(key, out var previous);
            table.Rows[key] = Delete(table, key, previous, change, deleteMode);
            return;
        }

        var values = new object?[target.ColumnCount];
        for (var c = 0; c < values.Length; c++)
        {
            var index = indexes[c];
            values[c] = index >= 0 ? change.Values[index] : change.Kind == ChangeKind.Update ? UnchangedValue.Instance : null;
        }

        FoldedRow? earlier;
        object?[] origin;
        if (change.OldKey is { } oldKeyValues)
        {
            var oldKeyIndexes = target.OldKeyIndexes(change.Table);
            var oldKey = oldKeyIndexes.Select(i => i < 0 ? null : oldKeyValues[i]).ToArray();
            table.Rows.TryGetValue(oldKey, out earlier);
            origin = earlier is { IsDelete: false } ? earlier.OriginKey : oldKey;
            if (!KeyComparer.Instance.Equals(oldKey, key))
            {
                table.Rows[oldKey] = Delete(table, oldKey, earlier, change, deleteMode);
            }
        }
        else
        {
            table.Rows.TryGetValue(key, out earlier);
            origin = earlier is { IsDelete: false } ? earlier.OriginKey : key;
        }

        if (earlier is { IsDelete: false })
        {
            for (var c = 0; c < values.Length; c++)
            {
                if (ReferenceEquals(values[c], UnchangedValue.Instance))
                {
                    values[c] = earlier.Values[c];
                }
            }
        }

        table.Rows[key] = new FoldedRow
        {
            IsDelete = false,
            Values = values,
            OriginKey = origin,
            Position = change.Position,
            Sequence = change.Sequence,
            CommittedAt = change.CommittedAt,
        };
    }

    private static FoldedRow Delete<TTable>(FoldedTable<TTable> table, object?[] key, FoldedRow? earlier, RowChange change, DeleteMode deleteMode)
        where TTable : IFoldTarget
    {
        // Soft mode keeps a deleted row's values: when this batch wrote them, they travel with the delete.
        if (deleteMode == DeleteMode.Soft && earlier is { IsDelete: false })
        {
            return new FoldedRow
            {
                IsDelete = false,
                Deleted = true,
                Values = earlier.Values,
                OriginKey = earlier.OriginKey,
                Position = change.Position,
                Sequence = change.Sequence,
                CommittedAt = change.CommittedAt,
            };
        }

        var values = new object?[table.Table.ColumnCount];
        for (var k = 0; k < key.Length; k++)
        {
            values[table.Table.KeyIndexes[k]] = key[k];
        }

        return new FoldedRow
        {
            IsDelete = true,
            Values = values,
            OriginKey = key,
            Position = change.Position,
            Sequence = change.Sequence,
            CommittedAt = change.CommittedAt,
        };
    }
}

/// <summary>Key equality by value; bytea keys (byte arrays) by content.</summary>
internal sealed class KeyComparer : IEqualityComparer<object?[]>
{
    public static readonly KeyComparer Instance = new();

    public bool Equals(object?[]? x, object?[]? y)
    {
        if (ReferenceEquals(x, y))
        {
            return true;
        }

        if (x is null || y is null || x.Length != y.Length)
        {
            return false;
        }

        for (var i = 0; i < x.Length; i++)
        {
            var equal = x[i] is Array && y[i] is Array
                ? StructuralComparisons.StructuralEqualityComparer.Equals(x[i], y[i])
                : Equals(x[i], y[i]);
            if (!equal)
            {
                return false;
            }
        }

        return true;
    }

    public int GetHashCode(object?[] obj)
    {
        var hash = new HashCode();
        foreach (var value in obj)
        {
            switch (value)
            {
                case byte[] bytes:
                    hash.AddBytes(bytes);
                    break;
                case Array array:
                    hash.Add(StructuralComparisons.StructuralEqualityComparer.GetHashCode(array));
                    break;
                default:
                    hash.Add(value);
                    break;
            }
        }

        return hash.ToHashCode();
    }
}
