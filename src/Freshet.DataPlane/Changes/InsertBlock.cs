using System.Text;
using Freshet.DataPlane.Schema;
using NpgsqlTypes;

namespace Freshet.DataPlane.Changes;

/// <summary>How an <see cref="InsertBlock"/> column holds its values, and the .NET type they materialize to.</summary>
public enum BlockValueKind
{
    /// <summary>The source row has no such column (a row from before the column was added): every value is null.</summary>
    Missing,

    /// <summary><see cref="short"/>, held as a long.</summary>
    Int16,

    /// <summary><see cref="int"/>, held as a long.</summary>
    Int32,

    /// <summary><see cref="long"/>.</summary>
    Int64,

    /// <summary><see cref="decimal"/>.</summary>
    Decimal,

    /// <summary><see cref="float"/>, held as a double (every float is exactly a double).</summary>
    Float32,

    /// <summary><see cref="double"/>.</summary>
    Float64,

    /// <summary><see cref="DateOnly"/>, held as its day number.</summary>
    Date,

    /// <summary>A wall-clock <see cref="DateTime"/> (kind Unspecified), held as ticks.</summary>
    DateTime,

    /// <summary>An instant as a <see cref="System.DateTime"/> of kind Utc, held as ticks.</summary>
    DateTimeUtc,

    /// <summary><see cref="string"/>, held as valid UTF-8.</summary>
    Text,

    /// <summary>A <see cref="byte"/> array, held like text (one buffer, an end per row) with no check of its bytes.</summary>
    Bytes,

    /// <summary><see cref="bool"/>, held as a long (0 or 1).</summary>
    Boolean,

    /// <summary>
    /// An <see cref="NpgsqlInterval"/> of microseconds only (no months or days: what a MySQL TIME is), held as a long of
    /// those microseconds.
    /// </summary>
    Microseconds,
}

/// <summary>
/// A run of inserts into one table, from one source transaction, held column by column: a typed array per column (a
/// UTF-8 buffer and end offsets for text), a null flag per value only in columns that have a NULL. No object per row
/// or value: a source that reads many inserts (a binlog backlog) hands them to a destination that writes columns
/// (DuckDB) without the per-row allocations and collections that dominated that path, and a batch of blocks holds
/// several times the rows of a batch of <see cref="RowChange"/>s in the same memory.
/// </summary>
/// <remarks>
/// Rows are numbered within the transaction: row i of the block has (<see cref="Position"/>,
/// <see cref="FirstSequence"/> + i). A block is filled by its source (<see cref="AddRow"/> and the Set methods), then
/// handed on and never changed again; <see cref="Slice"/> views part of it (a replay that straddles the applied point)
/// without copying. <see cref="Materialize"/> gives the rows as the <see cref="RowChange"/>s the source would otherwise
/// have produced, values of exactly the same types and values, for every destination and path that needs them.
/// </remarks>
public sealed class InsertBlock
{
    private readonly Storage _storage;

    private InsertBlock(Storage storage, int start, int count)
    {
        _storage = storage;
        Start = start;
        Count = count;
    }

    /// <summary>Starts an empty block for the rows of <paramref name="table"/>, whose columns hold values of <paramref name="kinds"/> (one per schema column).</summary>
    public InsertBlock(TableSchema table, IReadOnlyList<BlockValueKind> kinds, long position, long firstSequence, DateTimeOffset committedAt, int capacity)
        : this(new Storage(table, kinds, position, firstSequence, committedAt, capacity), 0, 0)
    {
        if (kinds.Count != table.Columns.Count)
        {
            throw new ArgumentException($"{kinds.Count} column kinds for {table.Columns.Count} columns.", nameof(kinds));
        }
    }

    public TableSchema Table => _storage.Table;

    public long Position => _storage.Position;

    /// <summary>The sequence of this block's first row (a slice's first row, for a slice).</summary>
    public long FirstSequence => _storage.FirstSequence + Start;

    public long LastSequence => FirstSequence + Count - 1;

    public DateTimeOffset CommittedAt => _storage.CommittedAt;

    /// <summary>Rows in the block.</summary>
    public int Count { get; private set; }

    /// <summary>Where this block's rows start in the storage it shares with the block it was sliced from.</summary>
    internal int Start { get; }

    public BlockValueKind KindOf(int column) => _storage.Columns[column].Kind;

    /// <summary>
    /// Memory the block's storage holds, shared by its slices (each counts it all: a slice keeps the whole storage alive).
    /// </summary>
    public long ApproximateBytes => _storage.ApproximateBytes();

    /// <summary>The rows from <paramref name="offset"/> on, sharing this block's storage.</summary>
    public InsertBlock Slice(int offset)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, Count);
        return new InsertBlock(_storage, Start + offset, Count - offset);
    }

    public bool IsNull(int column, int row) => _storage.Columns[column].IsNull(Start + row);

    /// <summary>An integer column's value (Int16, Int32, Int64), a date's day number, a timestamp's ticks, a boolean's 0 or 1, an interval's microseconds.</summary>
    public long GetInteger(int column, int row) => _storage.Columns[column].Integers![Start + row];

    public double GetFloat(int column, int row) => _storage.Columns[column].Floats![Start + row];

    public decimal GetDecimal(int column, int row) => _storage.Columns[column].Decimals![Start + row];

    public ReadOnlySpan<byte> GetUtf8(int column, int row) => _storage.Columns[column].Stored(Start + row);

    /// <summary>A Bytes column's value (an empty span for a NULL).</summary>
    public ReadOnlySpan<byte> GetBytes(int column, int row) => _storage.Columns[column].Stored(Start + row);

    /// <summary>An integer, date, timestamp, boolean or interval column's values (see <see cref="GetInteger"/>), one per row; a NULL's slot holds anything.</summary>
    public ReadOnlySpan<long> Integers(int column) => _storage.Columns[column].Integers.AsSpan(Start, Count);

    public ReadOnlySpan<double> Floats(int column) => _storage.Columns[column].Floats.AsSpan(Start, Count);

    public ReadOnlySpan<decimal> Decimals(int column) => _storage.Columns[column].Decimals.AsSpan(Start, Count);

    /// <summary>Whether any row of the block is NULL in the column.</summary>
    public bool HasNulls(int column) => _storage.Columns[column].HasNullIn(Start, Count);

    /// <summary>
    /// Whether an integer column's values rise strictly from row to row with no NULL (a key filled in order): then they
    /// are distinct and the first and last are the least and the greatest.
    /// </summary>
    public bool StrictlyAscending(int column) => _storage.Columns[column].Ascending && _storage.Columns[column].Kind is BlockValueKind.Int16 or BlockValueKind.Int32 or BlockValueKind.Int64;

    /// <summary>Whether a DateTime or DateTimeUtc column holds <see cref="DateTime.MinValue"/> (which DuckDB's writers take for −infinity).</summary>
    public bool HasMinimumTimestamp(int column) => _storage.Columns[column].MinimumTimestamp;

    /// <summary>The value as a <see cref="RowChange"/> of the same row holds it.</summary>
    public object? GetValue(int column, int row) => _storage.Columns[column].Value(Start + row);

    /// <summary>The rows as the inserts the source would have produced one by one.</summary>
    public List<RowChange> Materialize()
    {
        var rows = new List<RowChange>(Count);
        AddMaterialized(rows);
        return rows;
    }

    public void AddMaterialized(List<RowChange> rows)
    {
        var columns = _storage.Columns.Length;
        for (var r = 0; r < Count; r++)
        {
            var values = new object?[columns];
            for (var c = 0; c < columns; c++)
            {
                values[c] = _storage.Columns[c].Value(Start + r);
            }

            rows.Add(new RowChange
            {
                Table = Table,
                Kind = ChangeKind.Insert,
                Values = values,
                Position = Position,
                Sequence = FirstSequence + r,
                CommittedAt = CommittedAt,
                ApproximateBytes = ChangeSize.Of(values),
            });
        }
    }

    // Filling, by the source that builds the block (before it is handed on).

    /// <summary>Ends the current row: every column must have received one value.</summary>
    public void AddRow() => Count++;

    public void SetNull(int column) => _storage.Columns[column].SetNull(Count);

    public void SetInteger(int column, long value) => _storage.Columns[column].SetInteger(Count, value);

    public void SetFloat(int column, double value) => _storage.Columns[column].SetFloat(Count, value);

    public void SetDecimal(int column, decimal value) => _storage.Columns[column].SetDecimal(Count, value);

    /// <summary>Sets a text value from UTF-8 (invalid sequences are stored as the replacement character, as decoding them to a string gives).</summary>
    public void SetUtf8(int column, ReadOnlySpan<byte> value) => _storage.Columns[column].SetUtf8(Count, value);

    /// <summary>Sets a Bytes value: <paramref name="value"/>, then <paramref name="zeros"/> zero bytes (the padding of a fixed-length binary string).</summary>
    public void SetBytes(int column, ReadOnlySpan<byte> value, int zeros = 0) => _storage.Columns[column].SetBytes(Count, value, zeros);

    private sealed class Storage
    {
        public Storage(TableSchema table, IReadOnlyList<BlockValueKind> kinds, long position, long firstSequence, DateTimeOffset committedAt, int capacity)
        {
            Table = table;
            Position = position;
            FirstSequence = firstSequence;
            CommittedAt = committedAt;
            Columns = [.. kinds.Select(kind => new Column(kind, Math.Max(capacity, 16)))];
        }

        public TableSchema Table { get; }

        public long Position { get; }

        public long FirstSequence { get; }

        public DateTimeOffset CommittedAt { get; }

        public Column[] Columns { get; }

        public long ApproximateBytes()
        {
            long bytes = 96;
            foreach (var column in Columns)
            {
                bytes += column.ApproximateBytes();
            }

            return bytes;
        }
    }

    private sealed class Column(BlockValueKind kind, int capacity)
    {
        public BlockValueKind Kind { get; } = kind;

        public long[]? Integers { get; private set; } = kind is BlockValueKind.Int16 or BlockValueKind.Int32 or BlockValueKind.Int64
            or BlockValueKind.Date or BlockValueKind.DateTime or BlockValueKind.DateTimeUtc or BlockValueKind.Boolean
            or BlockValueKind.Microseconds ? new long[capacity] : null;

        public double[]? Floats { get; private set; } = kind is BlockValueKind.Float32 or BlockValueKind.Float64 ? new double[capacity] : null;

        public decimal[]? Decimals { get; private set; } = kind == BlockValueKind.Decimal ? new decimal[capacity] : null;

        /// <summary>Text and bytes: the end of each row's bytes in <see cref="_text"/>.</summary>
        private int[]? _ends = kind is BlockValueKind.Text or BlockValueKind.Bytes ? new int[capacity] : null;
        private byte[]? _text = kind is BlockValueKind.Text or BlockValueKind.Bytes ? new byte[capacity * 16] : null;
        private int _textLength;

        /// <summary>Null flags, from the first NULL on (a column without NULLs has none).</summary>
        private bool[]? _nulls;
        private bool _hasValue;
        private long _last;

        public bool Ascending { get; private set; } = true;

        public bool MinimumTimestamp { get; private set; }

        public bool IsNull(int row) => Kind == BlockValueKind.Missing || (_nulls is not null && row < _nulls.Length && _nulls[row]);

        public bool HasNullIn(int start, int count) =>
            Kind == BlockValueKind.Missing
            || (_nulls is not null && start < _nulls.Length && _nulls.AsSpan(start, Math.Min(count, _nulls.Length - start)).Contains(true));

        /// <summary>A text or bytes row's stored bytes.</summary>
        public ReadOnlySpan<byte> Stored(int row)
        {
            var start = row == 0 ? 0 : _ends![row - 1];
            return _text.AsSpan(start, _ends![row] - start);
        }

        public object? Value(int row)
        {
            if (IsNull(row))
            {
                return null;
            }

            return Kind switch
            {
                BlockValueKind.Int16 => (short)Integers![row],
                BlockValueKind.Int32 => (int)Integers![row],
                BlockValueKind.Int64 => Integers![row],
                BlockValueKind.Decimal => Decimals![row],
                BlockValueKind.Float32 => (float)Floats![row],
                BlockValueKind.Float64 => Floats![row],
                BlockValueKind.Date => DateOnly.FromDayNumber((int)Integers![row]),
                BlockValueKind.DateTime => new DateTime(Integers![row], DateTimeKind.Unspecified),
                BlockValueKind.DateTimeUtc => new DateTime(Integers![row], DateTimeKind.Utc),
                BlockValueKind.Text => Encoding.UTF8.GetString(Stored(row)),
                BlockValueKind.Bytes => Stored(row).ToArray(),
                BlockValueKind.Boolean => Integers![row] != 0,
                BlockValueKind.Microseconds => new NpgsqlInterval(0, 0, Integers![row]),
                _ => null,
            };
        }

        public void SetNull(int row)
        {
            Ascending = false;
            if (_nulls is null || _nulls.Length <= row)
            {
                Array.Resize(ref _nulls, Math.Max(Capacity, row + 1));
            }

            _nulls[row] = true;
            switch (Kind)
            {
                case BlockValueKind.Text or BlockValueKind.Bytes:
                    Grow(row);
                    _ends![row] = _textLength;
                    break;
                case BlockValueKind.Missing:
                    break;
                default:
                    Grow(row);
                    break;
            }
        }

        public void SetInteger(int row, long value)
        {
            Grow(row);
            Integers![row] = value;
            if (_hasValue && value <= _last)
            {
                Ascending = false;
            }

            MinimumTimestamp |= value == 0 && Kind is BlockValueKind.DateTime or BlockValueKind.DateTimeUtc;
            _last = value;
            _hasValue = true;
        }

        public void SetFloat(int row, double value)
        {
            Grow(row);
            Floats![row] = value;
        }

        public void SetDecimal(int row, decimal value)
        {
            Grow(row);
            Decimals![row] = value;
        }

        public void SetUtf8(int row, ReadOnlySpan<byte> value)
        {
            Grow(row);
            if (!System.Text.Unicode.Utf8.IsValid(value))
            {
                // What decoding to a string makes of it, so that both paths hold the same text.
                value = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(value));
            }

            Append(row, value, 0);
        }

        public void SetBytes(int row, ReadOnlySpan<byte> value, int zeros)
        {
            Grow(row);
            Append(row, value, zeros);
        }

        private void Append(int row, ReadOnlySpan<byte> value, int zeros)
        {
            var length = value.Length + zeros;
            if (_textLength + length > _text!.Length)
            {
                Array.Resize(ref _text, Math.Max(_text.Length * 2, _textLength + length));
            }

            value.CopyTo(_text.AsSpan(_textLength));
            _text.AsSpan(_textLength + value.Length, zeros).Clear();
            _textLength += length;
            _ends![row] = _textLength;
        }

        public long ApproximateBytes() =>
            32 + (Integers?.Length * 8 ?? 0) + (Floats?.Length * 8 ?? 0) + (Decimals?.Length * 16 ?? 0)
            + (_ends?.Length * 4 ?? 0) + (_text?.Length ?? 0) + (_nulls?.Length ?? 0);

        /// <summary>Rows the value arrays hold (a field: it is checked for every value set).</summary>
        private int Capacity { get; set; } = kind == BlockValueKind.Missing ? 0 : capacity;

        private void Grow(int row)
        {
            if (row < Capacity || Kind == BlockValueKind.Missing)
            {
                return;
            }

            var size = Math.Max(row + 1, Capacity * 2);
            Capacity = size;
            if (Integers is not null)
            {
                var grown = Integers;
                Array.Resize(ref grown, size);
                Integers = grown;
            }

            if (Floats is not null)
            {
                var grown = Floats;
                Array.Resize(ref grown, size);
                Floats = grown;
            }

            if (Decimals is not null)
            {
                var grown = Decimals;
                Array.Resize(ref grown, size);
                Decimals = grown;
            }

            if (_ends is not null)
            {
                Array.Resize(ref _ends, size);
            }
        }
    }
}
