using System.Buffers.Binary;
using System.Text;
using Freshet.DataPlane.Changes;
using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Reads the row images of WRITE/UPDATE/DELETE rows events into the data plane's value representations (see
/// <see cref="BinlogColumn.ToColumnType"/>). Layouts follow the servers' Field::pack and the "binary log row format"
/// of each type in MySQL's sql/field.cc and mysys/my_time.c (the *_packed_from_binary functions).
/// </summary>
internal static class BinlogValueReader
{
    /// <summary>
    /// One row image: a null bitmap over the columns present in this image, then the non-null present values.
    /// Bitmaps are little-endian by bit: column i is bit (i % 8) of byte i / 8.
    /// </summary>
    public static object?[] ReadImage(ref PayloadReader reader, BinlogTable table, ReadOnlySpan<byte> present)
    {
        var columns = table.Columns;
        var presentCount = 0;
        for (var i = 0; i < columns.Count; i++)
        {
            if (IsSet(present, i))
            {
                presentCount++;
            }
        }

        var nulls = reader.ReadBytes((presentCount + 7) / 8);
        var values = new object?[columns.Count];
        var presentIndex = 0;
        for (var i = 0; i < columns.Count; i++)
        {
            if (!IsSet(present, i))
            {
                values[i] = UnchangedValue.Instance;
                continue;
            }

            values[i] = IsSet(nulls, presentIndex++) ? null : ReadValue(ref reader, columns[i]);
        }

        return values;
    }

    public static bool IsSet(ReadOnlySpan<byte> bitmap, int index) => (bitmap[index >> 3] & (1 << (index & 7))) != 0;

    public static object? ReadValue(ref PayloadReader reader, BinlogColumn column)
    {
        switch (column.Type)
        {
            // Each branch boxes its own type: a conditional of two numeric types would widen both to a common one.
            case MySqlColumnType.Tiny:
                var tiny = reader.ReadByte();
                return column.Unsigned ? (short)tiny : (short)(sbyte)tiny;
            case MySqlColumnType.Short:
                var small = reader.ReadUInt16();
                return column.Unsigned ? (object)(int)small : (short)small;
            case MySqlColumnType.Int24:
                var medium = reader.ReadUInt24();
                return column.Unsigned ? (int)medium : (int)(medium << 8) >> 8;
            case MySqlColumnType.Long:
                var integer = reader.ReadUInt32();
                return column.Unsigned ? (object)(long)integer : (int)integer;
            case MySqlColumnType.LongLong:
                var big = reader.ReadUInt64();
                return column.Unsigned ? (object)(decimal)big : (long)big;
            case MySqlColumnType.Float:
                return BitConverter.Int32BitsToSingle((int)reader.ReadUInt32());
            case MySqlColumnType.Double:
                return BitConverter.Int64BitsToDouble((long)reader.ReadUInt64());
            case MySqlColumnType.NewDecimal:
                return MySqlDecimal.Read(reader.ReadBytes(MySqlDecimal.StorageSize(column.Precision, column.Scale)), column.Precision, column.Scale);
            case MySqlColumnType.Year:
                var year = reader.ReadByte();
                return year == 0 ? (short)0 : (short)(1900 + year);
            case MySqlColumnType.Date or MySqlColumnType.NewDate:
                return MySqlTemporal.ReadDate(reader.ReadUInt24());
            case MySqlColumnType.Time:
                return MySqlTemporal.ReadOldTime(reader.ReadUInt24());
            case MySqlColumnType.Time2:
                return MySqlTemporal.ReadTime2(reader.ReadBytes(3 + (column.Precision + 1) / 2), column.Precision);
            case MySqlColumnType.DateTime:
                return MySqlTemporal.ReadOldDateTime(reader.ReadUInt64());
            case MySqlColumnType.DateTime2:
                return MySqlTemporal.ReadDateTime2(reader.ReadBytes(5 + (column.Precision + 1) / 2), column.Precision);
            case MySqlColumnType.Timestamp:
                var seconds = reader.ReadUInt32();
                return seconds == 0 ? null : DateTime.UnixEpoch.AddSeconds(seconds);
            case MySqlColumnType.Timestamp2:
                return MySqlTemporal.ReadTimestamp2(reader.ReadBytes(4 + (column.Precision + 1) / 2), column.Precision);
            case MySqlColumnType.Bit:
                var bits = reader.ReadBytes((column.Length + 7) / 8);
                return column.Length == 1 ? bits[0] != 0 : (object)bits.ToArray();
            case MySqlColumnType.Enum:
                var index = (int)reader.ReadFixed(column.Length);
                // Index 0 is the empty string MySQL stores for a value it could not match (non-strict mode).
                return index == 0 ? "" : Labels(column)[index - 1];
            case MySqlColumnType.Set:
                return ReadSet(reader.ReadFixed(column.Length), Labels(column));
            case MySqlColumnType.String:
                var fixedLength = column.Length < 256 ? reader.ReadByte() : reader.ReadUInt16();
                return column.IsBinary ? PadBinary(reader.ReadBytes(fixedLength), column.Length) : Text(reader.ReadBytes(fixedLength), column);
            case MySqlColumnType.VarChar or MySqlColumnType.VarString:
                var varLength = column.Length < 256 ? reader.ReadByte() : reader.ReadUInt16();
                var varBytes = reader.ReadBytes(varLength);
                return column.IsBinary ? varBytes.ToArray() : Text(varBytes, column);
            case MySqlColumnType.Blob or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob or MySqlColumnType.Geometry:
                var blob = reader.ReadBytes(checked((int)reader.ReadFixed(column.Length)));
                return column.IsBinary ? blob.ToArray() : Text(blob, column);
            case MySqlColumnType.Json:
                // Only MySQL logs this type (MariaDB's JSON is LONGTEXT): binary JSON behind a length prefix.
                return MySqlBinaryJson.ToText(reader.ReadBytes(checked((int)reader.ReadFixed(column.Length))));
            case MySqlColumnType.Null:
                return null;
            default:
                throw new BinlogUnsupportedException($"Column {column.Name} has binlog type {column.Type}, which this reader does not decode.");
        }
    }

    /// <summary>BINARY(n) is stored with its trailing zero bytes stripped; SELECT gives all n bytes back, and so do we.</summary>
    private static byte[] PadBinary(ReadOnlySpan<byte> stored, int length)
    {
        var value = new byte[Math.Max(length, stored.Length)];
        stored.CopyTo(value);
        return value;
    }

    private static string Text(ReadOnlySpan<byte> bytes, BinlogColumn column) =>
        (column.Collation is int collation ? MySqlCollations.EncodingOf(collation) : Encoding.UTF8).GetString(bytes);

    private static IReadOnlyList<string> Labels(BinlogColumn column) =>
        column.Labels ?? throw new BinlogUnsupportedException(
            $"Column {column.Name ?? column.Index.ToString(System.Globalization.CultureInfo.InvariantCulture)} is an ENUM or SET but the binlog carries no labels: set binlog_row_metadata=FULL on the server.");

    private static string ReadSet(ulong members, IReadOnlyList<string> labels)
    {
        var text = new StringBuilder();
        for (var i = 0; i < labels.Count && i < 64; i++)
        {
            if ((members & (1UL << i)) != 0)
            {
                if (text.Length > 0)
                {
                    text.Append(',');
                }

                text.Append(labels[i]);
            }
        }

        return text.ToString();
    }
}

/// <summary>MySQL's temporal storage formats (mysys/my_time.c, the 5.6 "2" formats), big-endian unlike everything else.</summary>
internal static class MySqlTemporal
{
    private const long DateTimeIntOffset = 0x8000000000;
    private const long TimeIntOffset = 0x800000;
    private const long TimeOffset = 0x800000000000;

    /// <summary>DATE: 3 bytes little-endian, day(5 bits) | month(4) | year(rest). A zero date (or part) has no value: null.</summary>
    public static DateOnly? ReadDate(uint stored)
    {
        var day = (int)(stored & 31);
        var month = (int)(stored >> 5 & 15);
        var year = (int)(stored >> 9);
        return year == 0 || month == 0 || day == 0 ? null : new DateOnly(year, month, day);
    }

    /// <summary>
    /// DATETIME2: 5 bytes big-endian minus 0x8000000000: year*13+month (17 bits), day (5), hour (5), minute (6),
    /// second (6); then the fraction. A zero date (or part) has no value: null.
    /// </summary>
    public static DateTime? ReadDateTime2(ReadOnlySpan<byte> stored, int fsp)
    {
        var integer = (long)ReadBigEndian(stored[..5]) - DateTimeIntOffset;
        var microseconds = ReadFraction(stored[5..], fsp, signed: true);
        var packed = (integer << 24) + microseconds;
        if (packed < 0)
        {
            packed = -packed;
        }

        var ymdhms = packed >> 24;
        microseconds = packed % (1L << 24);
        var ymd = ymdhms >> 17;
        var ym = ymd >> 5;
        var hms = ymdhms % (1 << 17);
        var day = (int)(ymd % (1 << 5));
        var month = (int)(ym % 13);
        var year = (int)(ym / 13);
        if (year == 0 || month == 0 || day == 0)
        {
            return null;
        }

        return new DateTime(year, month, day, (int)(hms >> 12), (int)((hms >> 6) % 64), (int)(hms % 64), DateTimeKind.Unspecified)
            .AddTicks(microseconds * 10);
    }

    /// <summary>TIMESTAMP2: 4 bytes big-endian seconds since the epoch (UTC), then fraction; 0 is the zero timestamp: null.</summary>
    public static DateTime? ReadTimestamp2(ReadOnlySpan<byte> stored, int fsp)
    {
        var seconds = (long)ReadBigEndian(stored[..4]);
        var microseconds = ReadFraction(stored[4..], fsp, signed: false);
        return seconds == 0 && microseconds == 0 ? null : DateTime.UnixEpoch.AddTicks(seconds * TimeSpan.TicksPerSecond + microseconds * 10);
    }

    /// <summary>
    /// TIME2 (my_time_packed_from_binary): 3 bytes big-endian minus 0x800000 of hour(10 bits) minute(6) second(6),
    /// then the fraction; with 5–6 digits all 6 bytes are one number minus 0x800000000000. Negative times borrow from
    /// the integer part when there is a fraction.
    /// </summary>
    public static NpgsqlInterval ReadTime2(ReadOnlySpan<byte> stored, int fsp)
    {
        long packed;
        switch (fsp)
        {
            case 1 or 2:
            {
                var integer = (long)ReadBigEndian(stored[..3]) - TimeIntOffset;
                long fraction = stored[3];
                if (integer < 0 && fraction != 0)
                {
                    integer++;
                    fraction -= 0x100;
                }

                packed = (integer << 24) + fraction * 10000;
                break;
            }

            case 3 or 4:
            {
                var integer = (long)ReadBigEndian(stored[..3]) - TimeIntOffset;
                long fraction = (long)ReadBigEndian(stored[3..5]);
                if (integer < 0 && fraction != 0)
                {
                    integer++;
                    fraction -= 0x10000;
                }

                packed = (integer << 24) + fraction * 100;
                break;
            }

            case 5 or 6:
                packed = (long)ReadBigEndian(stored[..6]) - TimeOffset;
                break;
            default:
                packed = ((long)ReadBigEndian(stored[..3]) - TimeIntOffset) << 24;
                break;
        }

        var negative = packed < 0;
        if (negative)
        {
            packed = -packed;
        }

        var hms = packed >> 24;
        var microseconds = (((hms >> 12) % (1 << 10) * 60 + (hms >> 6) % 64) * 60 + hms % 64) * 1_000_000 + packed % (1L << 24);
        return new NpgsqlInterval(0, 0, negative ? -microseconds : microseconds);
    }

    /// <summary>Pre-5.6 TIME: 3 bytes little-endian, signed, HHMMSS as a decimal number.</summary>
    public static NpgsqlInterval ReadOldTime(uint stored)
    {
        var value = (int)(stored << 8) >> 8;
        var magnitude = Math.Abs(value);
        var microseconds = ((magnitude / 10000 * 60L + magnitude / 100 % 100) * 60 + magnitude % 100) * 1_000_000;
        return new NpgsqlInterval(0, 0, value < 0 ? -microseconds : microseconds);
    }

    /// <summary>Pre-5.6 DATETIME: 8 bytes little-endian, YYYYMMDDhhmmss as a decimal number.</summary>
    public static DateTime? ReadOldDateTime(ulong stored)
    {
        var date = stored / 1_000_000;
        var time = stored % 1_000_000;
        int year = (int)(date / 10000), month = (int)(date / 100 % 100), day = (int)(date % 100);
        return year == 0 || month == 0 || day == 0
            ? null
            : new DateTime(year, month, day, (int)(time / 10000), (int)(time / 100 % 100), (int)(time % 100), DateTimeKind.Unspecified);
    }

    /// <summary>Fractional seconds as microseconds: ⌈fsp/2⌉ big-endian bytes, in hundredths, ten-thousandths or millionths.</summary>
    private static long ReadFraction(ReadOnlySpan<byte> stored, int fsp, bool signed) => fsp switch
    {
        1 or 2 => (signed ? (long)(sbyte)stored[0] : stored[0]) * 10000L,
        3 or 4 => (signed ? (long)BinaryPrimitives.ReadInt16BigEndian(stored) : BinaryPrimitives.ReadUInt16BigEndian(stored)) * 100L,
        5 or 6 => signed ? (long)(ReadBigEndian(stored[..3]) << 40) >> 40 : (long)ReadBigEndian(stored[..3]),
        _ => 0,
    };

    private static ulong ReadBigEndian(ReadOnlySpan<byte> bytes)
    {
        ulong value = 0;
        foreach (var b in bytes)
        {
            value = value << 8 | b;
        }

        return value;
    }
}
