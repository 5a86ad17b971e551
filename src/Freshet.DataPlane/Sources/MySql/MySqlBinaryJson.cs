using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// MySQL's binary JSON (the JSON column's storage and binlog form; "json_binary.h" in the MySQL source describes it)
/// turned into JSON text, written as MySQL's own JSON_PRETTY-less output is (<c>{"a": 1, "b": [true, null]}</c>).
/// MariaDB stores JSON as text and never reaches this. Checked against hand-built bytes per the documented format only
/// (MySqlBinaryJsonTests): no MySQL server runs here.
/// </summary>
/// <remarks>
/// A value is a type byte and its data. Objects and arrays come in a small form (2-byte counts, sizes and offsets) and
/// a large one (4 bytes): element count, total size, then for objects one key entry per member (key offset, key
/// length(2)), then one value entry per element (type(1), then an offset from the start of the container, or the
/// value itself when it fits: literals, int16/uint16, and in the large form int32/uint32 too). Keys and non-inlined
/// values follow. Strings and opaque values carry a variable-length size (7 bits per byte, low bits first).
/// </remarks>
internal static class MySqlBinaryJson
{
    private const byte SmallObject = 0x00;
    private const byte LargeObject = 0x01;
    private const byte SmallArray = 0x02;
    private const byte LargeArray = 0x03;
    private const byte Literal = 0x04;
    private const byte Int16 = 0x05;
    private const byte UInt16 = 0x06;
    private const byte Int32 = 0x07;
    private const byte UInt32 = 0x08;
    private const byte Int64 = 0x09;
    private const byte UInt64 = 0x0A;
    private const byte Double = 0x0B;
    private const byte String = 0x0C;
    private const byte Opaque = 0x0F;

    private const byte LiteralNull = 0x00;
    private const byte LiteralTrue = 0x01;
    private const byte LiteralFalse = 0x02;

    /// <summary>The JSON text of a binary JSON document; an empty document is JSON null (MySQL logs it so).</summary>
    public static string ToText(ReadOnlySpan<byte> document)
    {
        if (document.IsEmpty)
        {
            return "null";
        }

        var text = new StringBuilder(document.Length * 2);
        WriteValue(text, document[0], document[1..], document.Length);
        return text.ToString();
    }

    private static void WriteValue(StringBuilder text, byte type, ReadOnlySpan<byte> data, int documentLength)
    {
        switch (type)
        {
            case SmallObject or LargeObject:
                WriteContainer(text, data, large: type == LargeObject, isObject: true);
                break;
            case SmallArray or LargeArray:
                WriteContainer(text, data, large: type == LargeArray, isObject: false);
                break;
            case Literal:
                text.Append(LiteralText(Need(data, 1)[0]));
                break;
            case Int16:
                text.Append(BinaryPrimitives.ReadInt16LittleEndian(Need(data, 2)).ToString(CultureInfo.InvariantCulture));
                break;
            case UInt16:
                text.Append(BinaryPrimitives.ReadUInt16LittleEndian(Need(data, 2)).ToString(CultureInfo.InvariantCulture));
                break;
            case Int32:
                text.Append(BinaryPrimitives.ReadInt32LittleEndian(Need(data, 4)).ToString(CultureInfo.InvariantCulture));
                break;
            case UInt32:
                text.Append(BinaryPrimitives.ReadUInt32LittleEndian(Need(data, 4)).ToString(CultureInfo.InvariantCulture));
                break;
            case Int64:
                text.Append(BinaryPrimitives.ReadInt64LittleEndian(Need(data, 8)).ToString(CultureInfo.InvariantCulture));
                break;
            case UInt64:
                text.Append(BinaryPrimitives.ReadUInt64LittleEndian(Need(data, 8)).ToString(CultureInfo.InvariantCulture));
                break;
            case Double:
                text.Append(DoubleText(BinaryPrimitives.ReadDoubleLittleEndian(Need(data, 8))));
                break;
            case String:
                var length = ReadVariableLength(data, out var used);
                AppendQuoted(text, Encoding.UTF8.GetString(Need(data[used..], length)[..length]));
                break;
            case Opaque:
                WriteOpaque(text, data);
                break;
            default:
                throw new MySqlProtocolException($"A MySQL binary JSON value of {documentLength} bytes has unknown type 0x{type:X2}.");
        }
    }

    private static void WriteContainer(StringBuilder text, ReadOnlySpan<byte> container, bool large, bool isObject)
    {
        var offsetSize = large ? 4 : 2;
        var count = ReadOffset(container, 0, large);
        var size = ReadOffset(container, offsetSize, large);
        if (size > container.Length)
        {
            throw new MySqlProtocolException($"A MySQL binary JSON {(isObject ? "object" : "array")} says it has {size} bytes; {container.Length} are there.");
        }

        container = container[..size];
        var keyEntrySize = offsetSize + 2;
        var valueEntrySize = 1 + offsetSize;
        var keysStart = 2 * offsetSize;
        var valuesStart = keysStart + (isObject ? count * keyEntrySize : 0);
        if (valuesStart + count * valueEntrySize > size)
        {
            throw new MySqlProtocolException($"A MySQL binary JSON {(isObject ? "object" : "array")} of {count} elements does not fit its {size} bytes.");
        }

        text.Append(isObject ? '{' : '[');
        for (var i = 0; i < count; i++)
        {
            if (i > 0)
            {
                text.Append(", ");
            }

            if (isObject)
            {
                var keyEntry = keysStart + i * keyEntrySize;
                var keyOffset = ReadOffset(container, keyEntry, large);
                var keyLength = BinaryPrimitives.ReadUInt16LittleEndian(container[(keyEntry + offsetSize)..]);
                AppendQuoted(text, Encoding.UTF8.GetString(Need(container[keyOffset..], keyLength)[..keyLength]));
                text.Append(": ");
            }

            var valueEntry = valuesStart + i * valueEntrySize;
            var type = container[valueEntry];
            var inlined = container.Slice(valueEntry + 1, offsetSize);
            if (IsInlined(type, large))
            {
                WriteValue(text, type, inlined, size);
            }
            else
            {
                var offset = ReadOffset(container, valueEntry + 1, large);
                if (offset >= size)
                {
                    throw new MySqlProtocolException($"A MySQL binary JSON value offset {offset} lies past its container of {size} bytes.");
                }

                WriteValue(text, type, container[offset..], size);
            }
        }

        text.Append(isObject ? '}' : ']');
    }

    /// <summary>Literals and 16-bit integers always sit in the value entry; 32-bit ones too when entries are 4 bytes wide.</summary>
    private static bool IsInlined(byte type, bool large) =>
        type is Literal or Int16 or UInt16 || (large && type is Int32 or UInt32);

    /// <summary>
    /// Opaque: the MySQL column type of the value(1), a variable length, the bytes. DECIMAL is precision(1), scale(1)
    /// and the binlog's decimal form; DATE/TIME/DATETIME/TIMESTAMP an 8-byte packed value; anything else MySQL
    /// itself prints as <c>"base64:typeN:…"</c>, and so does this.
    /// </summary>
    private static void WriteOpaque(StringBuilder text, ReadOnlySpan<byte> data)
    {
        var fieldType = (MySqlColumnType)Need(data, 1)[0];
        var length = ReadVariableLength(data[1..], out var used);
        var value = Need(data[(1 + used)..], length)[..length];
        switch (fieldType)
        {
            case MySqlColumnType.NewDecimal:
                var precision = Need(value, 2)[0];
                var scale = value[1];
                var stored = value[2..];
                var decimalValue = MySqlDecimal.Read(Need(stored, MySqlDecimal.StorageSize(precision, scale)), precision, scale);
                text.Append(decimalValue is decimal d ? d.ToString(CultureInfo.InvariantCulture) : (string)decimalValue);
                break;
            case MySqlColumnType.Date:
                var (date, _) = UnpackDateTime(BinaryPrimitives.ReadInt64LittleEndian(Need(value, 8)));
                AppendQuoted(text, date);
                break;
            case MySqlColumnType.DateTime or MySqlColumnType.DateTime2 or MySqlColumnType.Timestamp or MySqlColumnType.Timestamp2:
                var (day, time) = UnpackDateTime(BinaryPrimitives.ReadInt64LittleEndian(Need(value, 8)));
                AppendQuoted(text, day + " " + time);
                break;
            case MySqlColumnType.Time or MySqlColumnType.Time2:
                AppendQuoted(text, UnpackTime(BinaryPrimitives.ReadInt64LittleEndian(Need(value, 8))));
                break;
            default:
                AppendQuoted(text, string.Create(CultureInfo.InvariantCulture, $"base64:type{(int)fieldType}:{Convert.ToBase64String(value)}"));
                break;
        }
    }

    /// <summary>
    /// MySQL's packed DATETIME: bits 24+ are ((year·13 + month)·32 + day)·2^17 + hour·2^12 + minute·2^6 + second, the
    /// low 24 bits microseconds; a negative value is the negation of that.
    /// </summary>
    private static (string Date, string Time) UnpackDateTime(long packed)
    {
        var magnitude = Math.Abs(packed);
        var micros = magnitude % (1L << 24);
        var whole = magnitude >> 24;
        var ymd = whole >> 17;
        var hms = whole % (1L << 17);
        var yearMonth = ymd >> 5;
        var date = string.Create(CultureInfo.InvariantCulture, $"{yearMonth / 13:D4}-{yearMonth % 13:D2}-{ymd % 32:D2}");
        var time = string.Create(CultureInfo.InvariantCulture, $"{hms >> 12:D2}:{(hms >> 6) % 64:D2}:{hms % 64:D2}.{micros:D6}");
        return (date, time);
    }

    /// <summary>MySQL's packed TIME: bits 24+ are hour·2^12 + minute·2^6 + second, the low 24 microseconds; negative times negated.</summary>
    private static string UnpackTime(long packed)
    {
        var magnitude = Math.Abs(packed);
        var micros = magnitude % (1L << 24);
        var whole = magnitude >> 24;
        var sign = packed < 0 ? "-" : "";
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{(whole >> 12) % (1L << 10):D2}:{(whole >> 6) % 64:D2}:{whole % 64:D2}.{micros:D6}");
    }

    private static string LiteralText(byte literal) => literal switch
    {
        LiteralNull => "null",
        LiteralTrue => "true",
        LiteralFalse => "false",
        _ => throw new MySqlProtocolException($"A MySQL binary JSON literal has unknown value 0x{literal:X2}."),
    };

    /// <summary>The shortest text that reads back as the same double; integral values keep a ".0" so they stay doubles.</summary>
    private static string DoubleText(double value)
    {
        if (!double.IsFinite(value))
        {
            throw new MySqlProtocolException($"A MySQL binary JSON double is {value}, which JSON cannot carry.");
        }

        var text = value.ToString("R", CultureInfo.InvariantCulture);
        return text.Contains('.', StringComparison.Ordinal) || text.Contains('E', StringComparison.Ordinal) ? text : text + ".0";
    }

    private static int ReadOffset(ReadOnlySpan<byte> container, int at, bool large)
    {
        var value = large
            ? BinaryPrimitives.ReadUInt32LittleEndian(Need(container[at..], 4))
            : BinaryPrimitives.ReadUInt16LittleEndian(Need(container[at..], 2));
        return value <= int.MaxValue ? (int)value : throw new MySqlProtocolException($"A MySQL binary JSON offset {value} is too large.");
    }

    /// <summary>A length of 1–5 bytes, 7 bits each, lowest first; the high bit says another byte follows.</summary>
    private static int ReadVariableLength(ReadOnlySpan<byte> data, out int used)
    {
        long length = 0;
        for (used = 0; used < 5; used++)
        {
            var b = Need(data[used..], 1)[0];
            length |= (long)(b & 0x7F) << (7 * used);
            if ((b & 0x80) == 0)
            {
                used++;
                return length <= int.MaxValue ? (int)length : throw new MySqlProtocolException($"A MySQL binary JSON length {length} is too large.");
            }
        }

        throw new MySqlProtocolException("A MySQL binary JSON length runs over 5 bytes.");
    }

    private static ReadOnlySpan<byte> Need(ReadOnlySpan<byte> data, int count) =>
        data.Length >= count ? data : throw new MySqlProtocolException($"A MySQL binary JSON value needs {count} bytes; {data.Length} remain.");

    /// <summary>A JSON string literal: quotes, backslashes and control characters escaped; everything else as it is.</summary>
    private static void AppendQuoted(StringBuilder text, string value)
    {
        text.Append('"');
        foreach (var c in value)
        {
            switch (c)
            {
                case '"':
                    text.Append("\\\"");
                    break;
                case '\\':
                    text.Append("\\\\");
                    break;
                case '\n':
                    text.Append("\\n");
                    break;
                case '\r':
                    text.Append("\\r");
                    break;
                case '\t':
                    text.Append("\\t");
                    break;
                case '\b':
                    text.Append("\\b");
                    break;
                case '\f':
                    text.Append("\\f");
                    break;
                case < ' ':
                    text.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    break;
                default:
                    text.Append(c);
                    break;
            }
        }

        text.Append('"');
    }
}
