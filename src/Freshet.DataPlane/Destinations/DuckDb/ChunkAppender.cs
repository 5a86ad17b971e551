using System.Buffers.Binary;
using System.Globalization;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using DuckDB.NET.Data;
using DuckDB.NET.Native;
using NpgsqlTypes;
using NativeAppender = DuckDB.NET.Native.DuckDBAppender;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// Appends rows to a table by filling DuckDB data chunks in place and handing each full chunk to DuckDB's appender.
/// DuckDB.NET's row appender costs about 0.3 µs per value (a streamed 11-value row: 3.2 µs, which on 2 cores was a
/// third of the writer's time and most of a snapshot's); writing the vectors directly costs a few nanoseconds for
/// fixed-width values. Only scalar column types are handled (<see cref="TryOpen"/> says no to a table with any
/// other column, which then uses DuckDB.NET's appender).
/// </summary>
internal sealed unsafe class ChunkAppender : IDisposable
{
    private static readonly ulong VectorSize = NativeMethods.Helpers.DuckDBVectorSize();

    private readonly NativeAppender _appender;
    private readonly DuckDBLogicalType[] _types;
    private readonly Column[] _columns;
    private readonly DuckDBDataChunk _chunk;
    private readonly void*[] _data;
    private readonly IntPtr[] _vectors;

    /// <summary>Each column's validity mask in the current chunk once a NULL made it writable; null before.</summary>
    private readonly ulong*[] _validity;
    private ulong _rows;
    private int _column;
    private bool _closed;
    private byte[] _utf8 = new byte[256];

    private ChunkAppender(NativeAppender appender, DuckDBLogicalType[] types, Column[] columns)
    {
        _appender = appender;
        _types = types;
        _columns = columns;
        _chunk = NativeMethods.DataChunks.DuckDBCreateDataChunk([.. types.Select(t => t.DangerousGetHandle())], (ulong)types.Length);
        _data = new void*[columns.Length];
        _vectors = new IntPtr[columns.Length];
        _validity = new ulong*[columns.Length];
        BindVectors();
    }

    /// <summary>Whether this appender writes a column of a DuckDB type (spelled as <c>duckdb_columns()</c> spells it).</summary>
    public static bool Supports(string duckDbType) => duckDbType.ToUpperInvariant() switch
    {
        "BOOLEAN" or "SMALLINT" or "INTEGER" or "BIGINT" or "FLOAT" or "DOUBLE" or "VARCHAR" or "JSON" or "BLOB" or "DATE"
            or "TIME" or "TIMESTAMP" or "TIMESTAMP WITH TIME ZONE" or "UUID" or "INTERVAL" => true,
        var other => other.StartsWith("DECIMAL(", StringComparison.Ordinal),
    };

    /// <summary>
    /// Opens an appender on <c>main.<paramref name="table"/></c>, or returns null when the table does not have
    /// <paramref name="expectedColumns"/> columns (someone changed it; values would land in the wrong columns) or has a
    /// column whose type this appender does not write.
    /// </summary>
    public static ChunkAppender? TryOpen(DuckDBConnection connection, string table, int expectedColumns)
    {
        if (NativeMethods.Appender.DuckDBAppenderCreate(connection.NativeConnection, "main", table, out var appender) != DuckDBState.Success)
        {
            var message = NativeMethods.ErrorData.DuckDBErrorDataMessage(NativeMethods.Appender.DuckDBAppenderErrorData(appender));
            appender.Dispose();
            throw new DuckDbAppendException(message, DuckDBErrorType.Invalid);
        }

        var count = (int)NativeMethods.Appender.DuckDBAppenderColumnCount(appender);
        if (count != expectedColumns)
        {
            appender.Dispose();
            return null;
        }

        var types = new DuckDBLogicalType[count];
        var columns = new Column[count];
        for (var i = 0; i < count; i++)
        {
            types[i] = NativeMethods.Appender.DuckDBAppenderColumnType(appender, (ulong)i);
            columns[i] = Describe(types[i]);
            if (columns[i].Kind == Kind.Unsupported)
            {
                foreach (var type in types.Take(i + 1))
                {
                    type.Dispose();
                }

                appender.Dispose();
                return null;
            }
        }

        return new ChunkAppender(appender, types, columns);
    }

    public int ColumnCount => _columns.Length;

    /// <summary>Appends the next value of the current row; a row is complete after <see cref="ColumnCount"/> values.</summary>
    public void Append(object? value)
    {
        var column = _columns[_column];
        var row = _rows;
        if (value is null)
        {
            SetNull(_column, row);
        }
        else
        {
            var data = _data[_column];
            switch (column.Kind)
            {
                case Kind.Boolean:
                    ((byte*)data)[row] = (bool)value ? (byte)1 : (byte)0;
                    break;
                case Kind.Int16:
                    ((short*)data)[row] = (short)value;
                    break;
                case Kind.Int32:
                    ((int*)data)[row] = (int)value;
                    break;
                case Kind.Int64:
                    ((long*)data)[row] = (long)value;
                    break;
                case Kind.Float:
                    ((float*)data)[row] = (float)value;
                    break;
                case Kind.Double:
                    ((double*)data)[row] = (double)value;
                    break;
                case Kind.Date:
                    ((int*)data)[row] = ((DateOnly)value).DayNumber - UnixEpochDay;
                    break;
                case Kind.Time:
                    ((long*)data)[row] = ((TimeOnly)value).Ticks / TimeSpan.TicksPerMicrosecond;
                    break;
                case Kind.Timestamp:
                    ((long*)data)[row] = value switch
                    {
                        DateTimeOffset offset => (offset.UtcTicks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond,
                        _ => DuckDbTypes.Microseconds((DateTime)value),
                    };
                    break;
                case Kind.Uuid:
                    WriteUuid((Guid)value, (ulong*)data + (row * 2));
                    break;
                case Kind.Interval:
                    WriteInterval((NpgsqlInterval)value, data, row);
                    break;
                case Kind.Decimal16 or Kind.Decimal32 or Kind.Decimal64 or Kind.Decimal128:
                    WriteDecimal(column, (decimal)value, data, row);
                    break;
                case Kind.Varchar:
                    // Values are cast as strictly as DuckDB.NET's appender would: a value of the wrong kind fails its table.
                    WriteText(value is decimal number ? number.ToString(CultureInfo.InvariantCulture) : (string)value);
                    break;
                case Kind.Blob:
                    AssignString(_column, row, (byte[])value);
                    break;
                default:
                    throw new InvalidOperationException($"Column {_column} has a type the chunk appender does not write.");
            }
        }

        Next();
    }

    private void Next()
    {
        _column++;
        if (_column == _columns.Length)
        {
            _column = 0;
            _rows++;
            if (_rows == VectorSize)
            {
                Flush();
            }
        }
    }

    /// <summary>Appends a BIGINT value without boxing it (falls back to <see cref="Append"/> for another column type).</summary>
    public void AppendInt64(long value)
    {
        if (_columns[_column].Kind != Kind.Int64)
        {
            Append(value);
            return;
        }

        ((long*)_data[_column])[_rows] = value;
        Next();
    }

    /// <summary>Appends a timestamp without boxing it (falls back to <see cref="Append"/> for another column type).</summary>
    public void AppendTimestamp(DateTimeOffset value)
    {
        if (_columns[_column].Kind != Kind.Timestamp)
        {
            Append(value);
            return;
        }

        ((long*)_data[_column])[_rows] = (value.UtcTicks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
        Next();
    }

    /// <summary>The scale of the current column, a DECIMAL.</summary>
    public int CurrentScale => _columns[_column].Scale;

    public void AppendNull() => Append(null);

    /// <summary>Appends to a SMALLINT, INTEGER or BIGINT column (a value out of its range fails like a cast).</summary>
    public void AppendInteger(long value)
    {
        var data = _data[_column];
        switch (_columns[_column].Kind)
        {
            case Kind.Int16:
                ((short*)data)[_rows] = checked((short)value);
                break;
            case Kind.Int32:
                ((int*)data)[_rows] = checked((int)value);
                break;
            default:
                Expect(Kind.Int64);
                ((long*)data)[_rows] = value;
                break;
        }

        Next();
    }

    public void AppendFloat(double value)
    {
        if (_columns[_column].Kind == Kind.Float)
        {
            ((float*)_data[_column])[_rows] = (float)value;
        }
        else
        {
            Expect(Kind.Double);
            ((double*)_data[_column])[_rows] = value;
        }

        Next();
    }

    public void AppendBoolean(bool value)
    {
        Expect(Kind.Boolean);
        ((byte*)_data[_column])[_rows] = value ? (byte)1 : (byte)0;
        Next();
    }

    /// <summary>Appends days since 1970-01-01 to a DATE column.</summary>
    public void AppendDate(int days)
    {
        Expect(Kind.Date);
        ((int*)_data[_column])[_rows] = days;
        Next();
    }

    /// <summary>Appends microseconds since midnight to a TIME column.</summary>
    public void AppendTime(long microseconds)
    {
        Expect(Kind.Time);
        ((long*)_data[_column])[_rows] = microseconds;
        Next();
    }

    /// <summary>Appends microseconds since 1970-01-01 to a TIMESTAMP or TIMESTAMP WITH TIME ZONE column.</summary>
    public void AppendTimestampMicroseconds(long microseconds)
    {
        Expect(Kind.Timestamp);
        ((long*)_data[_column])[_rows] = microseconds;
        Next();
    }

    /// <summary>Appends a UUID given as its 16 bytes in RFC 4122 (big-endian) order.</summary>
    public void AppendUuid(ReadOnlySpan<byte> bytes)
    {
        Expect(Kind.Uuid);
        WriteUuid(bytes, (ulong*)_data[_column] + (_rows * 2));
        Next();
    }

    /// <summary>Appends UTF-8 text to a VARCHAR (or JSON) column.</summary>
    public void AppendUtf8(ReadOnlySpan<byte> text)
    {
        Expect(Kind.Varchar);
        AssignString(_column, _rows, text);
        Next();
    }

    public void AppendBlob(ReadOnlySpan<byte> bytes)
    {
        Expect(Kind.Blob);
        AssignString(_column, _rows, bytes);
        Next();
    }

    /// <summary>Appends a decimal given as its value times 10^scale of the column (a value out of the column's storage fails like a cast).</summary>
    public void AppendScaledDecimal(Int128 scaled)
    {
        if (_columns[_column].Kind is not (Kind.Decimal16 or Kind.Decimal32 or Kind.Decimal64))
        {
            Expect(Kind.Decimal128);
        }

        WriteScaled(_columns[_column], scaled, _data[_column], _rows);
        Next();
    }

    /// <summary>Appends a decimal to a DECIMAL column (more places than its scale, or too wide for it, fails like a cast).</summary>
    public void AppendDecimal(decimal value)
    {
        if (_columns[_column].Kind is not (Kind.Decimal16 or Kind.Decimal32 or Kind.Decimal64))
        {
            Expect(Kind.Decimal128);
        }

        WriteDecimal(_columns[_column], value, _data[_column], _rows);
        Next();
    }

    // Column by column: a run of rows is written one column at a time (Put…, at most RoomInChunk rows, every column), then
    // ended with EndRows. For sources that hold their rows as columns: one loop per column, no switch per value.

    /// <summary>Rows the current chunk still takes (between whole rows).</summary>
    public int RoomInChunk => _column == 0 ? (int)(VectorSize - _rows) : throw new InvalidOperationException("A row is half appended.");

    /// <summary>Integers into a SMALLINT, INTEGER or BIGINT column (a value out of its range fails like a cast).</summary>
    public void PutIntegers(int column, ReadOnlySpan<long> values)
    {
        var data = _data[column];
        switch (_columns[column].Kind)
        {
            case Kind.Int16:
                for (var i = 0; i < values.Length; i++)
                {
                    ((short*)data)[_rows + (ulong)i] = checked((short)values[i]);
                }

                break;
            case Kind.Int32:
                for (var i = 0; i < values.Length; i++)
                {
                    ((int*)data)[_rows + (ulong)i] = checked((int)values[i]);
                }

                break;
            default:
                ExpectAt(column, Kind.Int64);
                values.CopyTo(new Span<long>((long*)data + _rows, values.Length));
                break;
        }
    }

    public void PutFloats(int column, ReadOnlySpan<double> values)
    {
        var data = _data[column];
        if (_columns[column].Kind == Kind.Float)
        {
            for (var i = 0; i < values.Length; i++)
            {
                ((float*)data)[_rows + (ulong)i] = (float)values[i];
            }
        }
        else
        {
            ExpectAt(column, Kind.Double);
            values.CopyTo(new Span<double>((double*)data + _rows, values.Length));
        }
    }

    public void PutDecimals(int column, ReadOnlySpan<decimal> values)
    {
        var target = _columns[column];
        if (target.Kind is not (Kind.Decimal16 or Kind.Decimal32 or Kind.Decimal64))
        {
            ExpectAt(column, Kind.Decimal128);
        }

        for (var i = 0; i < values.Length; i++)
        {
            WriteDecimal(target, values[i], _data[column], _rows + (ulong)i);
        }
    }

    /// <summary>Day numbers (<see cref="DateOnly.DayNumber"/>) into a DATE column.</summary>
    public void PutDayNumbers(int column, ReadOnlySpan<long> dayNumbers)
    {
        ExpectAt(column, Kind.Date);
        var data = (int*)_data[column] + _rows;
        for (var i = 0; i < dayNumbers.Length; i++)
        {
            data[i] = (int)(dayNumbers[i] - UnixEpochDay);
        }
    }

    /// <summary><see cref="DateTime.Ticks"/> into a TIMESTAMP or TIMESTAMP WITH TIME ZONE column.</summary>
    public void PutTicks(int column, ReadOnlySpan<long> ticks)
    {
        ExpectAt(column, Kind.Timestamp);
        var data = (long*)_data[column] + _rows;
        for (var i = 0; i < ticks.Length; i++)
        {
            data[i] = (ticks[i] - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
        }
    }

    /// <summary>UTF-8 text into row <paramref name="offset"/> of the run in a VARCHAR column.</summary>
    public void PutUtf8(int column, int offset, ReadOnlySpan<byte> text)
    {
        ExpectAt(column, Kind.Varchar);
        AssignString(column, _rows + (ulong)offset, text);
    }

    /// <summary>Bytes into row <paramref name="offset"/> of the run in a BLOB column.</summary>
    public void PutBlob(int column, int offset, ReadOnlySpan<byte> bytes)
    {
        ExpectAt(column, Kind.Blob);
        AssignString(column, _rows + (ulong)offset, bytes);
    }

    /// <summary>Zero (false) or not (true) into a BOOLEAN column.</summary>
    public void PutBooleans(int column, ReadOnlySpan<long> values)
    {
        ExpectAt(column, Kind.Boolean);
        var data = (byte*)_data[column] + _rows;
        for (var i = 0; i < values.Length; i++)
        {
            data[i] = values[i] != 0 ? (byte)1 : (byte)0;
        }
    }

    /// <summary>Intervals of microseconds only (no months, no days) into an INTERVAL column.</summary>
    public void PutIntervalMicroseconds(int column, ReadOnlySpan<long> microseconds)
    {
        ExpectAt(column, Kind.Interval);
        for (var i = 0; i < microseconds.Length; i++)
        {
            WriteInterval(new NpgsqlInterval(0, 0, microseconds[i]), _data[column], _rows + (ulong)i);
        }
    }

    /// <summary>first, first + step, … into a BIGINT column.</summary>
    public void PutInt64Run(int column, long first, long step, int count)
    {
        ExpectAt(column, Kind.Int64);
        var data = (long*)_data[column] + _rows;
        for (var i = 0; i < count; i++)
        {
            data[i] = first + (step * i);
        }
    }

    /// <summary>One instant in every row of the run (a TIMESTAMP WITH TIME ZONE column).</summary>
    public void PutTimestampRun(int column, DateTimeOffset value, int count) =>
        PutInt64RunOf(column, Kind.Timestamp, (value.UtcTicks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond, count);

    public void PutBooleanRun(int column, bool value, int count)
    {
        ExpectAt(column, Kind.Boolean);
        new Span<byte>((byte*)_data[column] + _rows, count).Fill(value ? (byte)1 : (byte)0);
    }

    /// <summary>Row <paramref name="offset"/> of the run is NULL in the column.</summary>
    public void PutNull(int column, int offset) => SetNull(column, _rows + (ulong)offset);

    /// <summary>Ends a run of <paramref name="count"/> rows written column by column.</summary>
    public void EndRows(int count)
    {
        _rows += (ulong)count;
        if (_rows == VectorSize)
        {
            Flush();
        }
    }

    private void PutInt64RunOf(int column, Kind kind, long value, int count)
    {
        ExpectAt(column, kind);
        new Span<long>((long*)_data[column] + _rows, count).Fill(value);
    }

    private void ExpectAt(int column, Kind kind)
    {
        if (_columns[column].Kind != kind)
        {
            throw new InvalidCastException($"Column {column} of the target is {_columns[column].Kind}, not {kind}.");
        }
    }

    /// <summary>
    /// Drops the values appended so far for the current row (a value further along could not be appended this way);
    /// the row's slot is filled again by the next row.
    /// </summary>
    public void AbandonRow()
    {
        // A NULL written to the slot cleared its validity bit, which the next row's values do not set again.
        for (var i = 0; i < _column; i++)
        {
            var validity = NativeMethods.Vectors.DuckDBVectorGetValidity(_vectors[i]);
            if (validity != null)
            {
                validity[_rows / 64] |= 1UL << (int)(_rows % 64);
            }
        }

        _column = 0;
    }

    /// <summary>Copies a VARCHAR's or BLOB's bytes into the chunk's row <paramref name="row"/> of a column (DuckDB keeps its own copy).</summary>
    private void AssignString(int column, ulong row, ReadOnlySpan<byte> bytes)
    {
        fixed (byte* pointer = bytes)
        {
            NativeMethods.Vectors.DuckDBVectorAssignStringElementLength(_vectors[column], row, pointer, bytes.Length);
        }
    }

    private void Expect(Kind kind) => ExpectAt(_column, kind);

    /// <summary>Marks a row of the current chunk NULL in a column.</summary>
    private void SetNull(int column, ulong row)
    {
        var validity = _validity[column];
        if (validity == null)
        {
            // Two native calls, once per column and chunk rather than for every NULL (a row's deleted-at is one).
            NativeMethods.Vectors.DuckDBVectorEnsureValidityWritable(_vectors[column]);
            validity = _validity[column] = NativeMethods.Vectors.DuckDBVectorGetValidity(_vectors[column]);
        }

        validity[row / 64] &= ~(1UL << (int)(row % 64));
    }

    /// <summary>Hands the rows appended so far to DuckDB (in the connection's transaction, if one is open).</summary>
    public void Close()
    {
        if (_closed)
        {
            return;
        }

        if (_column != 0)
        {
            throw new InvalidOperationException("The last row is incomplete.");
        }

        Flush();
        Check(NativeMethods.Appender.DuckDBAppenderClose(_appender));
        _closed = true;
    }

    public void Dispose()
    {
        _chunk.Dispose();
        _appender.Dispose();
        foreach (var type in _types)
        {
            type.Dispose();
        }
    }

    private const int UnixEpochDay = 719162; // DateOnly(1970, 1, 1).DayNumber

    private static readonly decimal[] PowersOfTen = TenToThe<decimal>(28);

    /// <summary>10^0 … 10^18: a DECIMAL stored as a BIGINT or narrower has at most 18 digits.</summary>
    private static readonly long[] LongPowersOfTen = TenToThe<long>(18);

    /// <summary>10^0 … 10^38: a DECIMAL has at most 38 digits.</summary>
    private static readonly Int128[] HugePowersOfTen = TenToThe<Int128>(38);

    private static OverflowException TooWide(Column column, string scaled) =>
        new($"{scaled} × 10^-{column.Scale} does not fit DECIMAL({column.Precision},{column.Scale}).");

    /// <summary>10^0 … 10^<paramref name="most"/>.</summary>
    private static T[] TenToThe<T>(int most)
        where T : INumberBase<T>
    {
        var powers = new T[most + 1];
        powers[0] = T.One;
        var ten = T.CreateChecked(10);
        for (var i = 1; i < powers.Length; i++)
        {
            powers[i] = powers[i - 1] * ten;
        }

        return powers;
    }

    private static Column Describe(DuckDBLogicalType type)
    {
        switch (NativeMethods.LogicalType.DuckDBGetTypeId(type))
        {
            case DuckDBType.Boolean: return new Column(Kind.Boolean, 0);
            case DuckDBType.SmallInt: return new Column(Kind.Int16, 0);
            case DuckDBType.Integer: return new Column(Kind.Int32, 0);
            case DuckDBType.BigInt: return new Column(Kind.Int64, 0);
            case DuckDBType.Float: return new Column(Kind.Float, 0);
            case DuckDBType.Double: return new Column(Kind.Double, 0);
            case DuckDBType.Date: return new Column(Kind.Date, 0);
            case DuckDBType.Time: return new Column(Kind.Time, 0);
            case DuckDBType.Timestamp or DuckDBType.TimestampTz: return new Column(Kind.Timestamp, 0);
            case DuckDBType.Uuid: return new Column(Kind.Uuid, 0);
            case DuckDBType.Interval: return new Column(Kind.Interval, 0);
            case DuckDBType.Varchar: return new Column(Kind.Varchar, 0);
            case DuckDBType.Blob: return new Column(Kind.Blob, 0);
            case DuckDBType.Decimal:
                var scale = NativeMethods.LogicalType.DuckDBDecimalScale(type);
                var precision = NativeMethods.LogicalType.DuckDBDecimalWidth(type);
                return NativeMethods.LogicalType.DuckDBDecimalInternalType(type) switch
                {
                    DuckDBType.SmallInt => new Column(Kind.Decimal16, scale, precision),
                    DuckDBType.Integer => new Column(Kind.Decimal32, scale, precision),
                    DuckDBType.BigInt => new Column(Kind.Decimal64, scale, precision),
                    DuckDBType.HugeInt => new Column(Kind.Decimal128, scale, precision),
                    _ => new Column(Kind.Unsupported, 0),
                };
            default:
                return new Column(Kind.Unsupported, 0);
        }
    }

    /// <summary>DuckDB keeps a UUID as a 128-bit integer of its big-endian bytes, the top bit flipped so that order is preserved.</summary>
    private static void WriteUuid(Guid value, ulong* target)
    {
        Span<byte> bytes = stackalloc byte[16];
        value.TryWriteBytes(bytes, bigEndian: true, out _);
        WriteUuid(bytes, target);
    }

    private static void WriteUuid(ReadOnlySpan<byte> bigEndian, ulong* target)
    {
        target[0] = BinaryPrimitives.ReadUInt64BigEndian(bigEndian[8..]);
        target[1] = BinaryPrimitives.ReadUInt64BigEndian(bigEndian[..8]) ^ (1UL << 63);
    }

    /// <summary>
    /// DuckDB's interval is (months: int32, days: int32, micros: int64), kept as given, not normalized: what a cast of
    /// the staged text <c>"m months d days us microseconds"</c> gives.
    /// </summary>
    private static void WriteInterval(NpgsqlInterval value, void* data, ulong row)
    {
        var target = (byte*)data + (row * 16);
        *(int*)target = value.Months;
        *(int*)(target + 4) = value.Days;
        *(long*)(target + 8) = value.Time;
    }

    private static void WriteDecimal(Column column, decimal value, void* data, ulong row)
    {
        // The common case, without decimal arithmetic (a tenth of a binlog backlog's time went to the multiply and the
        // truncation check below): a value of at most the column's scale whose coefficient fits a long is that
        // coefficient times 10^(the difference), exactly.
        if (column.Kind != Kind.Decimal128 && value.Scale <= column.Scale)
        {
            Span<int> bits = stackalloc int[4];
            decimal.GetBits(value, bits);
            if (bits[2] == 0 && bits[1] >= 0)
            {
                var coefficient = ((long)bits[1] << 32) | (uint)bits[0];
                var magnitude = checked(coefficient * LongPowersOfTen[column.Scale - value.Scale]);
                WriteScaled(column, decimal.IsNegative(value) ? -magnitude : magnitude, data, row);
                return;
            }
        }

        WriteDecimalByArithmetic(column, value, data, row);
    }

    /// <remarks>
    /// Apart from <see cref="WriteDecimal"/> because it uses <see cref="Int128"/>: ReadyToRun does not precompile a method
    /// that does (the type's layout belongs to the framework), so the common case would start unoptimized.
    /// </remarks>
    private static void WriteDecimalByArithmetic(Column column, decimal value, void* data, ulong row)
    {
        // The source's scale never exceeds the column's (both come from the same numeric(p, s)); a value that would need
        // rounding is refused rather than changed.
        var scaled = value * PowersOfTen[column.Scale];
        if (scaled != decimal.Truncate(scaled))
        {
            throw new InvalidCastException($"{value.ToString(CultureInfo.InvariantCulture)} has more than {column.Scale} decimal places.");
        }

        WriteScaled(column, (Int128)scaled, data, row);
    }

    /// <summary>
    /// Stores a decimal given times 10^scale in a SMALLINT, INTEGER or BIGINT-backed DECIMAL column, without 128-bit
    /// arithmetic (a value too wide for the column's precision fails like a cast).
    /// </summary>
    private static void WriteScaled(Column column, long scaled, void* data, ulong row)
    {
        // Within the storage is not enough: DuckDB takes a stored DECIMAL(4,2) of 100.00 as it is, and the column would
        // then hold a value its type cannot (the source's numeric(p, s) never does, but nothing else is checked here).
        if (scaled >= LongPowersOfTen[column.Precision] || scaled <= -LongPowersOfTen[column.Precision])
        {
            throw TooWide(column, scaled.ToString(CultureInfo.InvariantCulture));
        }

        switch (column.Kind)
        {
            case Kind.Decimal16:
                ((short*)data)[row] = checked((short)scaled);
                break;
            case Kind.Decimal32:
                ((int*)data)[row] = checked((int)scaled);
                break;
            default:
                ((long*)data)[row] = scaled;
                break;
        }
    }

    /// <summary>Stores a decimal given times 10^scale in the column's storage width (a value too wide for it fails like a cast).</summary>
    private static void WriteScaled(Column column, Int128 scaled, void* data, ulong row)
    {
        if (column.Kind != Kind.Decimal128)
        {
            WriteScaled(column, checked((long)scaled), data, row);
            return;
        }

        // The precision, not only the storage, as the long overload checks it.
        if (Int128.Abs(scaled) >= HugePowersOfTen[column.Precision])
        {
            throw TooWide(column, scaled.ToString(CultureInfo.InvariantCulture));
        }

        ((ulong*)data)[row * 2] = (ulong)scaled;
        ((long*)data)[(row * 2) + 1] = (long)(scaled >> 64);
    }

    private void WriteText(string value)
    {
        var length = Encoding.UTF8.GetMaxByteCount(value.Length);
        if (length > _utf8.Length)
        {
            _utf8 = new byte[Math.Max(length, _utf8.Length * 2)];
        }

        var written = Encoding.UTF8.GetBytes(value, _utf8);
        AssignString(_column, _rows, _utf8.AsSpan(0, written));
    }

    private void Flush()
    {
        if (_rows == 0)
        {
            return;
        }

        NativeMethods.DataChunks.DuckDBDataChunkSetSize(_chunk, _rows);
        var state = NativeMethods.Appender.DuckDBAppendDataChunk(_appender, _chunk);
        NativeMethods.DataChunks.DuckDBDataChunkReset(_chunk);
        _rows = 0;
        BindVectors();
        Check(state);
    }

    private void BindVectors()
    {
        for (var i = 0; i < _columns.Length; i++)
        {
            _vectors[i] = NativeMethods.DataChunks.DuckDBDataChunkGetVector(_chunk, i);
            _data[i] = NativeMethods.Vectors.DuckDBVectorGetData(_vectors[i]);
            _validity[i] = null;
        }
    }

    private void Check(DuckDBState state)
    {
        if (state != DuckDBState.Success)
        {
            var error = NativeMethods.Appender.DuckDBAppenderErrorData(_appender);
            throw new DuckDbAppendException(
                NativeMethods.ErrorData.DuckDBErrorDataMessage(error),
                NativeMethods.ErrorData.DuckDBErrorDataErrorType(error));
        }
    }

    private enum Kind
    {
        Unsupported,
        Boolean,
        Int16,
        Int32,
        Int64,
        Float,
        Double,
        Date,
        Time,
        Timestamp,
        Uuid,
        Interval,
        Varchar,
        Blob,
        Decimal16,
        Decimal32,
        Decimal64,
        Decimal128,
    }

    [StructLayout(LayoutKind.Auto)]
    private readonly record struct Column(Kind Kind, byte Scale, byte Precision = 0);
}

/// <summary>DuckDB refused rows given to an appender (DuckDB.NET's own exception cannot be created outside it).</summary>
internal sealed class DuckDbAppendException(string message, DuckDBErrorType errorType) : Exception(message)
{
    public DuckDBErrorType ErrorType { get; } = errorType;
}
