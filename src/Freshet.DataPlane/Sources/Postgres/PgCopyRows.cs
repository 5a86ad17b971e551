using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Freshet.DataPlane.Schema;
using Npgsql;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// Reads a binary COPY's rows straight from its bytes (PostgreSQL's binary COPY format: a header, then per row a field
/// count and per field a length and the value in the type's binary send format), for <see cref="ITypedRows"/>: no
/// boxed value, no .NET string per text. Npgsql's exporter reads each value through a type converter into an object;
/// for a snapshot that writes into DuckDB's vectors that was most of the worker's time.
/// </summary>
internal sealed class PgCopyRows : ITypedRows
{
    // "PGCOPY\n\377\r\n\0"
    private static readonly byte[] Signature = [(byte)'P', (byte)'G', (byte)'C', (byte)'O', (byte)'P', (byte)'Y', 0x0A, 0xFF, 0x0D, 0x0A, 0x00];

    // PostgreSQL counts dates and timestamps from 2000-01-01; DuckDB and the getters from 1970-01-01.
    private const int PostgresEpochDays = 10957;
    private const long PostgresEpochMicroseconds = 946_684_800_000_000L;
    private static readonly long MinMicroseconds = (DateTime.MinValue.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
    private static readonly long MaxMicroseconds = (DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;

    private readonly NpgsqlRawCopyStream _stream;
    private readonly TableSchema _table;
    private readonly Action _release;
    private readonly int[] _offsets;
    private readonly int[] _lengths;
    private readonly CancellationToken _cancellationToken;
    // Rented: a snapshot reads one chunk after another, and a fresh 1 MB array per chunk lands on the large object heap,
    // which only a full collection frees — tens of MB of a worker's memory for nothing.
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
    private int _start;
    private int _end;
    private readonly bool[] _jsonb;
    private int _rowEnd;
    private bool _done;
    private bool _headerRead;

    public PgCopyRows(NpgsqlRawCopyStream stream, TableSchema table, Action release, CancellationToken cancellationToken)
    {
        _stream = stream;
        _table = table;
        _release = release;
        _offsets = new int[table.Columns.Count];
        _lengths = new int[table.Columns.Count];
        _jsonb = [.. table.Columns.Select(c => c.Type.Kind == ValueKind.Json && c.Type.SourceTypeName.StartsWith("jsonb", StringComparison.Ordinal))];
        _cancellationToken = cancellationToken;
    }

    /// <summary>Whether every column of <paramref name="table"/> is of a kind these rows hand over.</summary>
    public static bool Reads(TableSchema table) => table.Columns.All(c => !c.Type.IsArray && c.Type.Kind != ValueKind.Interval);

    public async ValueTask<bool> MoveNextAsync()
    {
        if (_done)
        {
            return false;
        }

        _cancellationToken.ThrowIfCancellationRequested();
        if (!_headerRead)
        {
            await ReadHeaderAsync().ConfigureAwait(false);
        }

        // Past the current row; the next is parsed once the buffer holds all of it.
        _start = _rowEnd;
        int end;
        int fields;
        while ((end = RowEnd(out fields)) < 0)
        {
            if (!await FillAsync().ConfigureAwait(false))
            {
                throw new EndOfStreamException($"The COPY of {_table.Source} ended inside a row.");
            }
        }

        if (fields < 0)
        {
            _done = true;
            return false;
        }

        if (fields != _offsets.Length)
        {
            throw new InvalidOperationException($"The COPY of {_table.Source} sent a row of {fields} fields; the table has {_offsets.Length} columns.");
        }

        var position = _start + 2;
        for (var i = 0; i < _offsets.Length; i++)
        {
            _lengths[i] = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(position));
            _offsets[i] = position + 4;
            position += 4 + Math.Max(0, _lengths[i]);
        }

        _rowEnd = end;
        return true;
    }

    /// <summary>Where the row at <c>_start</c> ends (its field count in <paramref name="fields"/>, -1 for the trailer), or -1 when the buffer does not hold all of it.</summary>
    private int RowEnd(out int fields)
    {
        fields = 0;
        if (_end - _start < 2)
        {
            return -1;
        }

        fields = BinaryPrimitives.ReadInt16BigEndian(_buffer.AsSpan(_start));
        var position = _start + 2;
        for (var i = 0; i < fields; i++)
        {
            if (_end - position < 4)
            {
                return -1;
            }

            position += 4 + Math.Max(0, BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(position)));
            if (position > _end)
            {
                return -1;
            }
        }

        return position;
    }

    /// <summary>Moves the unread bytes (from <c>_start</c> on) to the front and reads more after them; false at the stream's end.</summary>
    private async ValueTask<bool> FillAsync()
    {
        if (_start > 0)
        {
            var keep = _end - _start;
            Buffer.BlockCopy(_buffer, _start, _buffer, 0, keep);
            _rowEnd = 0;
            _start = 0;
            _end = keep;
        }

        if (_end == _buffer.Length)
        {
            // One row longer than the buffer.
            var larger = ArrayPool<byte>.Shared.Rent(_buffer.Length * 2);
            Buffer.BlockCopy(_buffer, 0, larger, 0, _end);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        // Synchronous when Npgsql's own buffer has data (the usual case); the first read may wait for the server.
        var read = await _stream.ReadAsync(_buffer.AsMemory(_end), _cancellationToken).ConfigureAwait(false);
        _end += read;
        return read > 0;
    }

    private async ValueTask ReadHeaderAsync()
    {
        while (_end < Signature.Length + 8)
        {
            if (!await FillAsync().ConfigureAwait(false))
            {
                throw new EndOfStreamException($"The COPY of {_table.Source} ended inside its header.");
            }
        }

        if (!_buffer.AsSpan(0, Signature.Length).SequenceEqual(Signature))
        {
            throw new InvalidOperationException($"The COPY of {_table.Source} is not in PostgreSQL's binary format.");
        }

        var extension = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(Signature.Length + 4));
        var skip = Signature.Length + 8 + extension;
        while (_end < skip)
        {
            if (!await FillAsync().ConfigureAwait(false))
            {
                throw new EndOfStreamException($"The COPY of {_table.Source} ended inside its header.");
            }
        }

        _start = skip;
        _rowEnd = skip;
        _headerRead = true;
    }

    private ReadOnlySpan<byte> Field(int column)
    {
        var length = _lengths[column];
        if (length < 0)
        {
            throw new InvalidOperationException($"Column {_table.Columns[column].Name} is NULL in this row.");
        }

        return _buffer.AsSpan(_offsets[column], length);
    }

    public bool IsNull(int column) => _lengths[column] < 0;

    public long GetInteger(int column)
    {
        var field = Field(column);
        return field.Length switch
        {
            2 => BinaryPrimitives.ReadInt16BigEndian(field),
            4 => BinaryPrimitives.ReadInt32BigEndian(field),
            8 => BinaryPrimitives.ReadInt64BigEndian(field),
            _ => throw new InvalidOperationException($"Column {_table.Columns[column].Name} is not an integer of 2, 4 or 8 bytes."),
        };
    }

    public double GetFloat(int column)
    {
        var field = Field(column);
        return field.Length == 4 ? BinaryPrimitives.ReadSingleBigEndian(field) : BinaryPrimitives.ReadDoubleBigEndian(field);
    }

    public bool GetBoolean(int column) => Field(column)[0] != 0;

    public ReadOnlySpan<byte> GetUtf8(int column)
    {
        var field = Field(column);

        // jsonb's binary form is a version byte (1) before the text.
        return _jsonb[column] ? field[1..] : field;
    }

    public ReadOnlySpan<byte> GetBytes(int column) => Field(column);

    public ReadOnlySpan<byte> GetUuid(int column) => Field(column);

    public bool TryGetDate(int column, out int days)
    {
        var value = BinaryPrimitives.ReadInt32BigEndian(Field(column));
        days = value + PostgresEpochDays;
        return value is not (int.MaxValue or int.MinValue);
    }

    public long GetTime(int column) => BinaryPrimitives.ReadInt64BigEndian(Field(column));

    public bool TryGetTimestamp(int column, out long microseconds)
    {
        var value = BinaryPrimitives.ReadInt64BigEndian(Field(column));
        if (value is long.MaxValue or long.MinValue)
        {
            microseconds = 0;
            return false;
        }

        microseconds = value + PostgresEpochMicroseconds;
        return true;
    }

    public bool TryGetScaledDecimal(int column, int scale, out Int128 scaled)
    {
        var field = Field(column);
        var digitCount = BinaryPrimitives.ReadInt16BigEndian(field);
        var weight = BinaryPrimitives.ReadInt16BigEndian(field[2..]);
        var sign = BinaryPrimitives.ReadUInt16BigEndian(field[4..]);
        scaled = 0;
        if (sign is not (0 or 0x4000) || digitCount > 9)
        {
            // NaN or an infinity; or more digits than 36, which no DuckDB decimal holds.
            return false;
        }

        Int128 value = 0;
        for (var i = 0; i < digitCount; i++)
        {
            value = (value * 10_000) + BinaryPrimitives.ReadInt16BigEndian(field[(8 + (2 * i))..]);
        }

        // value × 10000^(weight − digitCount + 1) × 10^scale, as a power of ten.
        var exponent = (4 * (weight - digitCount + 1)) + scale;
        if (exponent >= 0)
        {
            if (exponent > 38)
            {
                return false;
            }

            value *= PowerOfTen(exponent);
        }
        else
        {
            if (-exponent > 38)
            {
                return value == 0;
            }

            var divisor = PowerOfTen(-exponent);
            if (value % divisor != 0)
            {
                return false;
            }

            value /= divisor;
        }

        scaled = sign == 0x4000 ? -value : value;
        return true;
    }

    public object? GetValue(int column)
    {
        if (IsNull(column))
        {
            return null;
        }

        var type = _table.Columns[column].Type;
        return type.Kind switch
        {
            ValueKind.Int16 => (short)GetInteger(column),
            ValueKind.Int32 => (int)GetInteger(column),
            ValueKind.Int64 => GetInteger(column),
            ValueKind.Float32 => (float)GetFloat(column),
            ValueKind.Float64 => GetFloat(column),
            ValueKind.Boolean => GetBoolean(column),
            ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText => Encoding.UTF8.GetString(GetUtf8(column)),
            ValueKind.Bytes => GetBytes(column).ToArray(),
            ValueKind.Uuid => new Guid(GetUuid(column), bigEndian: true),
            ValueKind.Date => Date(column),
            ValueKind.Time => new TimeOnly(GetTime(column) * TimeSpan.TicksPerMicrosecond),
            ValueKind.Timestamp or ValueKind.TimestampTz => Timestamp(column, type.Kind == ValueKind.TimestampTz ? DateTimeKind.Utc : DateTimeKind.Unspecified),
            ValueKind.Decimal => Decimal(column),
            _ => throw new InvalidOperationException($"Column {_table.Columns[column].Name} is of a kind these rows do not read ({type.Kind})."),
        };
    }

    // DateOnly(1970, 1, 1).DayNumber
    private const int UnixEpochDayNumber = 719162;

    /// <summary>As Npgsql reads a date: the infinities as DateOnly's extremes.</summary>
    private DateOnly Date(int column)
    {
        if (!TryGetDate(column, out var days))
        {
            return BinaryPrimitives.ReadInt32BigEndian(Field(column)) > 0 ? DateOnly.MaxValue : DateOnly.MinValue;
        }

        var dayNumber = (long)days + UnixEpochDayNumber;
        return dayNumber >= DateOnly.MinValue.DayNumber && dayNumber <= DateOnly.MaxValue.DayNumber
            ? DateOnly.FromDayNumber((int)dayNumber)
            : throw new InvalidCastException($"A value of column {_table.Columns[column].Name} is outside the range of dates that can be read.");
    }

    /// <summary>As Npgsql reads a timestamp: the infinities as DateTime's extremes.</summary>
    private DateTime Timestamp(int column, DateTimeKind kind)
    {
        if (TryGetTimestamp(column, out var microseconds))
        {
            return microseconds >= MinMicroseconds && microseconds <= MaxMicroseconds
                ? new DateTime(DateTime.UnixEpoch.Ticks + (microseconds * TimeSpan.TicksPerMicrosecond), kind)
                : throw new InvalidCastException($"A value of column {_table.Columns[column].Name} is outside the range of timestamps that can be read.");
        }

        return BinaryPrimitives.ReadInt64BigEndian(Field(column)) == long.MaxValue ? DateTime.MaxValue : DateTime.MinValue;
    }

    /// <summary>As Npgsql reads a numeric into a decimal (which refuses NaN and the infinities).</summary>
    private decimal Decimal(int column)
    {
        var text = PgNumeric.ToText(Field(column));
        return decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw new InvalidCastException($"A value of column {_table.Columns[column].Name} ({(text is "NaN" or "Infinity" or "-Infinity" ? text : "out of range")}) cannot be read as a decimal.");
    }

    private static Int128 PowerOfTen(int exponent)
    {
        Int128 value = 1;
        for (var i = 0; i < exponent; i++)
        {
            value *= 10;
        }

        return value;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_done)
            {
                // Ending early (a failure, a cancellation): Npgsql cancels the COPY when the stream is disposed unread.
                _stream.Cancel();
            }

            await _stream.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is PostgresException or NpgsqlException or OperationCanceledException)
        {
            // The COPY was cancelled; the connection stays usable.
        }
        finally
        {
            if (_buffer.Length > 0)
            {
                ArrayPool<byte>.Shared.Return(_buffer);
                _buffer = [];
            }

            _release();
        }
    }
}
