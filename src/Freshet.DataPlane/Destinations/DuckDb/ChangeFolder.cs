using System.Collections;
using System.Runtime.InteropServices;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>One table's share of a batch, folded to at most one row per key.</summary>
internal sealed class FoldedTable(TargetTable target)
{
    public TargetTable Target { get; } = target;

    /// <summary>The last truncate in the batch: target rows older than it go before <see cref="Rows"/> are applied.</summary>
    public (long Position, long Sequence, DateTimeOffset CommittedAt)? Truncate { get; set; }

    public List<FoldedRow> Rows { get; } = [];
}

/// <summary>The net effect of a batch on one key.</summary>
/// <param name="Delete">The key ends deleted.</param>
/// <param name="Position">Position of the last change to the key.</param>
/// <param name="Sequence">Sequence of the last change to the key.</param>
/// <param name="CommittedAt">Commit time of the last change to the key.</param>
/// <param name="Values">
/// One value per <see cref="TargetTable.Written"/> column: for an upsert the row, <see cref="UnchangedValue"/> where the
/// target's current value stays; for a delete the key and nulls.
/// </param>
/// <param name="FillFrom">
/// When the key was reached by a key change and some values are still unchanged: the original key, whose target row
/// holds those values. Null when they are the target row's of this row's own key.
/// </param>
internal sealed record FoldedRow(bool Delete, long Position, long Sequence, DateTimeOffset CommittedAt, object?[] Values, object?[]? FillFrom);

/// <summary>Folds a batch per table and key: the latest change per key wins, unchanged values filled from earlier ones.</summary>
internal static class ChangeFolder
{
    public static IReadOnlyList<FoldedTable> Fold(IReadOnlyList<RowChange> changes, Func<TableId, TargetTable> targetOf)
    {
        var folds = new Dictionary<TableId, TableFold>();
        var order = new List<TableFold>();
        TableSchema? lastSchema = null;
        TableFold? fold = null;
        foreach (var change in changes)
        {
            // Batches are long runs of one table's changes: skip hashing the table's name for each.
            if (!ReferenceEquals(change.Table, lastSchema))
            {
                if (!folds.TryGetValue(change.Table.Source, out fold))
                {
                    fold = new TableFold(targetOf(change.Table.Source));
                    folds.Add(change.Table.Source, fold);
                    order.Add(fold);
                }

                lastSchema = change.Table;
            }

            try
            {
                fold!.Add(change);
            }
            catch (Exception exception) when (exception is InvalidOperationException or InvalidCastException or IndexOutOfRangeException)
            {
                throw new TableApplyException(change.Table.Source, exception);
            }
        }

        return [.. order.Select(f => f.Complete())];
    }

    private sealed class TableFold(TargetTable target)
    {
        private readonly FoldedTable _result = new(target);
        private readonly Dictionary<RowKey, int> _rowOfKey = [];
        private TableSchema? _mappedSchema;
        private int[] _map = [];
        private bool _identity;

        // While every change so far is an insert whose one-column integer key is above the one before, the keys cannot
        // repeat, so the key index would map each key to its own row: rows are then added without it (hashing a boxed
        // key and growing the index was a fifth of a catch-up's writer time). The first change that breaks the run
        // builds the index from the rows so far, and folding goes on as usual.
        private bool _ascending = true;
        private long _lastKey = long.MinValue;

        public void Add(RowChange change)
        {
            switch (change.Kind)
            {
                case ChangeKind.Truncate:
                    _result.Rows.Clear();
                    _rowOfKey.Clear();
                    _ascending = true;
                    _lastKey = long.MinValue;
                    _result.Truncate = (change.Position, change.Sequence, change.CommittedAt);
                    break;
                case ChangeKind.Delete:
                    EndAscendingRun();
                    var deleted = KeyOf(ColumnsOf(change, change.Values));
                    Set(deleted, DeleteRow(change, deleted.Values));
                    break;
                case ChangeKind.Insert:
                case ChangeKind.Update:
                    Upsert(change);
                    break;
                default:
                    throw new ArgumentOutOfRangeException(nameof(change), change.Kind, "Unknown change kind.");
            }
        }

        public FoldedTable Complete() => _result;

        private void Upsert(RowChange change)
        {
            var values = ColumnsOf(change, change.Values);
            if (_ascending)
            {
                if (change.Kind == ChangeKind.Insert && AscendingKey(values) is { } next)
                {
                    _lastKey = next;
                    _result.Rows.Add(UpsertRow(change, values, null, null));
                    return;
                }

                EndAscendingRun();
            }

            var key = KeyOf(values);
            if (change.Kind == ChangeKind.Update && change.OldKey is { } oldKeyValues)
            {
                var oldKey = OldKeyOf(change, oldKeyValues);
                if (!oldKey.Equals(key))
                {
                    // A key change is a delete of the old key and an upsert of the new one at the same (position, sequence);
                    // the new row's unchanged values are the old key's.
                    var before = Find(oldKey);
                    Set(oldKey, DeleteRow(change, oldKey.Values));
                    // An earlier upsert's unchanged values are its own target row's unless it came from a key change too.
                    var fillFrom = before switch
                    {
                        null => oldKey.Values,
                        { Delete: true } => null,
                        _ => before.FillFrom ?? oldKey.Values,
                    };
                    Set(key, UpsertRow(change, values, before is { Delete: false } ? before : null, fillFrom));
                    return;
                }
            }

            ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_rowOfKey, key, out var exists);
            if (exists)
            {
                var previous = _result.Rows[slot];
                _result.Rows[slot] = previous.Delete
                    ? UpsertRow(change, values, null, null)
                    : UpsertRow(change, values, previous, previous.FillFrom);
            }
            else
            {
                slot = _result.Rows.Count;
                _result.Rows.Add(UpsertRow(change, values, null, null));
            }
        }

        private static FoldedRow UpsertRow(RowChange change, object?[] values, FoldedRow? previous, object?[]? fillFrom)
        {
            var unchanged = false;
            var copied = false;
            for (var i = 0; i < values.Length; i++)
            {
                if (!ReferenceEquals(values[i], UnchangedValue.Instance))
                {
                    continue;
                }

                if (previous is not null)
                {
                    // The values may be the change's own array: copy before filling.
                    if (!copied)
                    {
                        values = (object?[])values.Clone();
                        copied = true;
                    }

                    values[i] = previous.Values[i];
                }

                unchanged |= ReferenceEquals(values[i], UnchangedValue.Instance);
            }

            return new FoldedRow(false, change.Position, change.Sequence, change.CommittedAt, values, unchanged ? fillFrom : null);
        }

        private FoldedRow DeleteRow(RowChange change, object?[] key)
        {
            var values = new object?[target.Written.Count];
            for (var k = 0; k < key.Length; k++)
            {
                values[target.KeyIndexes[k]] = key[k];
            }

            return new FoldedRow(true, change.Position, change.Sequence, change.CommittedAt, values, null);
        }

        /// <summary>The row's key when it is a one-column integer above the last one added; null otherwise.</summary>
        private long? AscendingKey(object?[] values)
        {
            if (target.KeyIndexes.Count != 1)
            {
                return null;
            }

            long? key = values[target.KeyIndexes[0]] switch
            {
                long value => value,
                int value => value,
                short value => value,
                _ => null,
            };
            return key > _lastKey ? key : null;
        }

        /// <summary>Indexes the rows added while keys ascended; from here on every change goes through the index.</summary>
        private void EndAscendingRun()
        {
            if (!_ascending)
            {
                return;
            }

            _ascending = false;
            for (var i = 0; i < _result.Rows.Count; i++)
            {
                _rowOfKey.Add(KeyOf(_result.Rows[i].Values), i);
            }
        }

        private FoldedRow? Find(RowKey key) => _rowOfKey.TryGetValue(key, out var index) ? _result.Rows[index] : null;

        private void Set(RowKey key, FoldedRow row)
        {
            ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_rowOfKey, key, out var exists);
            if (exists)
            {
                _result.Rows[slot] = row;
            }
            else
            {
                slot = _result.Rows.Count;
                _result.Rows.Add(row);
            }
        }

        /// <summary>
        /// The change's values in <see cref="TargetTable.Written"/> order, matched by name, missing ones unchanged; the
        /// change's own array when its columns are exactly the written ones (it is never modified).
        /// </summary>
        private object?[] ColumnsOf(RowChange change, object?[] source)
        {
            if (!ReferenceEquals(change.Table, _mappedSchema))
            {
                _map = [.. target.Written.Select(c => change.Table.IndexOf(c.SourceName))];
                _identity = _map.Length == change.Table.Columns.Count && _map.Select((s, i) => s == i).All(same => same);
                _mappedSchema = change.Table;
            }

            if (_identity && source.Length == _map.Length)
            {
                return source;
            }

            var values = new object?[_map.Length];
            for (var i = 0; i < _map.Length; i++)
            {
                values[i] = _map[i] >= 0 && _map[i] < source.Length ? source[_map[i]] : UnchangedValue.Instance;
            }

            return values;
        }

        private RowKey KeyOf(object?[] values)
        {
            if (target.KeyIndexes.Count == 1)
            {
                // The usual single-column key is kept without an array of its own: one allocation per row less.
                var single = values[target.KeyIndexes[0]];
                if (ReferenceEquals(single, UnchangedValue.Instance))
                {
                    throw new InvalidOperationException(
                        $"A change to {target.Source} lacks key column {target.Written[target.KeyIndexes[0]].SourceName}.");
                }

                return new RowKey(single);
            }

            var key = new object?[target.KeyIndexes.Count];
            for (var k = 0; k < key.Length; k++)
            {
                key[k] = values[target.KeyIndexes[k]];
                if (ReferenceEquals(key[k], UnchangedValue.Instance))
                {
                    throw new InvalidOperationException(
                        $"A change to {target.Source} lacks key column {target.Written[target.KeyIndexes[k]].SourceName}.");
                }
            }

            return new RowKey(key);
        }

        private RowKey OldKeyOf(RowChange change, object?[] oldKey)
        {
            var named = new object?[change.Table.Columns.Count];
            Array.Fill(named, UnchangedValue.Instance);
            for (var j = 0; j < change.Table.KeyIndexes.Count && j < oldKey.Length; j++)
            {
                named[change.Table.KeyIndexes[j]] = oldKey[j];
            }

            return KeyOf(ColumnsOf(change, named));
        }
    }

    /// <summary>
    /// A key with its hash computed once; equal as the source sees it: by value, byte arrays by content. A one-column
    /// key holds its value alone (no array); a table's keys all have the same number of columns, so the two forms never meet.
    /// </summary>
    private readonly struct RowKey : IEquatable<RowKey>
    {
        private readonly int _hash;
        private readonly object?[]? _values;
        private readonly object? _single;

        public RowKey(object?[] values)
        {
            _values = values;
            var hash = new HashCode();
            foreach (var value in values)
            {
                Add(ref hash, value);
            }

            _hash = hash.ToHashCode();
        }

        public RowKey(object? single)
        {
            _single = single;
            var hash = new HashCode();
            Add(ref hash, single);
            _hash = hash.ToHashCode();
        }

        /// <summary>The key's values (a one-column key's array is made when asked for: deletes and key changes only).</summary>
        public object?[] Values => _values ?? [_single];

        public bool Equals(RowKey other)
        {
            if (_hash != other._hash)
            {
                return false;
            }

            if (_values is null && other._values is null)
            {
                return ValueEquals(_single, other._single);
            }

            var mine = Values;
            var theirs = other.Values;
            if (mine.Length != theirs.Length)
            {
                return false;
            }

            for (var i = 0; i < mine.Length; i++)
            {
                if (!ValueEquals(mine[i], theirs[i]))
                {
                    return false;
                }
            }

            return true;
        }

        public override bool Equals(object? obj) => obj is RowKey other && Equals(other);

        public override int GetHashCode() => _hash;

        private static void Add(ref HashCode hash, object? value)
        {
            switch (value)
            {
                case byte[] bytes:
                    hash.AddBytes(bytes);
                    break;
                case IStructuralEquatable structural:
                    hash.Add(structural.GetHashCode(StructuralComparisons.StructuralEqualityComparer));
                    break;
                default:
                    hash.Add(value);
                    break;
            }
        }

        private static bool ValueEquals(object? a, object? b) => (a, b) switch
        {
            (byte[] x, byte[] y) => x.AsSpan().SequenceEqual(y),
            (IStructuralEquatable x, { } y) => x.Equals(y, StructuralComparisons.StructuralEqualityComparer),
            var (x, y) => Equals(x, y),
        };
    }
}
