using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Freshet.Emulators.BigQuery.Catalog;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using FieldType = Google.Protobuf.Reflection.FieldDescriptorProto.Types.Type;

namespace Freshet.Emulators.BigQuery.Storage;

/// <summary>A row of an append, decoded: a value per table field (null: NULL or absent), and the CDC pseudo-columns.</summary>
internal sealed record DecodedRow(object?[] Values, bool[] Present, string? ChangeType, ChangeSequence? Sequence);

/// <summary>A row that does not fit the table: its index in the request and why.</summary>
internal sealed record RowProblem(int Index, string Message);

/// <summary>A writer schema that cannot be used with the table at all (the whole connection is refused).</summary>
internal sealed class SchemaMismatchException(string message, bool extraFields) : Exception(message)
{
    public bool ExtraFields { get; } = extraFields;
}

/// <summary>
/// How the writer's DescriptorProto maps onto a table: field number → table field (or pseudo-column) and the proto type
/// the writer serializes it as. C#'s protobuf has no DynamicMessage, so rows are read tag by tag with CodedInputStream.
/// The proto types accepted per BigQuery type follow the Storage Write API's "supported protocol buffer data types"
/// table (cloud.google.com/bigquery/docs/write-api#data_type_conversions); the packed civil-time and packed BIGNUMERIC
/// bytes encodings are not emulated.
/// </summary>
internal sealed class RowLayout
{
    public const string ChangeTypeColumn = "_CHANGE_TYPE";
    public const string ChangeSequenceColumn = "_CHANGE_SEQUENCE_NUMBER";

    private const int ChangeTypeSlot = -1;
    private const int ChangeSequenceSlot = -2;

    private static readonly FieldType[] Integers =
        [FieldType.Int32, FieldType.Int64, FieldType.Uint32, FieldType.Uint64, FieldType.Sint32, FieldType.Sint64, FieldType.Fixed32, FieldType.Fixed64, FieldType.Sfixed32, FieldType.Sfixed64];

    private static readonly JsonSerializerOptions CompactJson = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly Dictionary<int, (int Slot, FieldType Type, string Name)> _byNumber = [];

    public RowLayout(DescriptorProto descriptor, TableDefinition table)
    {
        Table = table;
        var extra = new List<string>();
        foreach (var field in descriptor.Field)
        {
            if (field.Label == FieldDescriptorProto.Types.Label.Repeated)
            {
                throw new SchemaMismatchException($"Field {field.Name} is repeated; the table has no REPEATED column of that name.", extraFields: false);
            }
            if (field.Type is FieldType.Message or FieldType.Group)
            {
                throw new SchemaMismatchException($"Field {field.Name} is a message; the emulator has no RECORD columns.", extraFields: false);
            }
            if (string.Equals(field.Name, ChangeTypeColumn, StringComparison.OrdinalIgnoreCase) || string.Equals(field.Name, ChangeSequenceColumn, StringComparison.OrdinalIgnoreCase))
            {
                if (field.Type != FieldType.String)
                {
                    throw new SchemaMismatchException($"Pseudo-column {field.Name} must be a string field.", extraFields: false);
                }
                var isType = string.Equals(field.Name, ChangeTypeColumn, StringComparison.OrdinalIgnoreCase);
                _byNumber[field.Number] = (isType ? ChangeTypeSlot : ChangeSequenceSlot, field.Type, field.Name);
                HasChangeType |= isType;
                continue;
            }
            var index = IndexOf(table, field.Name);
            if (index < 0)
            {
                extra.Add(field.Name);
                continue;
            }
            var column = table.Fields[index];
            if (!Accepts(column.Type, field.Type))
            {
                throw new SchemaMismatchException($"Field {field.Name} is serialized as {field.Type}, which cannot be written into {column.Type} column {column.Name}.", extraFields: false);
            }
            _byNumber[field.Number] = (index, field.Type, field.Name);
        }
        if (extra.Count > 0)
        {
            throw new SchemaMismatchException($"Input schema has more fields than BigQuery schema, extra fields: '{string.Join(",", extra)}'", extraFields: true);
        }
        if (_byNumber.Values.Any(v => v.Slot == ChangeSequenceSlot) && !HasChangeType)
        {
            throw new SchemaMismatchException("_CHANGE_SEQUENCE_NUMBER needs _CHANGE_TYPE in the same schema.", extraFields: false);
        }
    }

    public TableDefinition Table { get; }

    /// <summary>Whether rows carry <c>_CHANGE_TYPE</c>: a CDC write (UPSERT/DELETE by primary key) instead of an append.</summary>
    public bool HasChangeType { get; }

    /// <summary>Decodes one serialized row; returns null and a problem when the row does not fit.</summary>
    public DecodedRow? Decode(ByteString serialized, TableDefinition table, out string? problem)
    {
        var values = new object?[table.Fields.Count];
        var present = new bool[table.Fields.Count];
        string? changeType = null;
        ChangeSequence? sequence = null;
        var input = serialized.CreateCodedInput();
        try
        {
            uint tag;
            while ((tag = input.ReadTag()) != 0)
            {
                var number = WireFormat.GetTagFieldNumber(tag);
                if (!_byNumber.TryGetValue(number, out var field))
                {
                    input.SkipLastField();
                    continue;
                }
                if (WireFormat.GetTagWireType(tag) != WireTypeOf(field.Type))
                {
                    problem = $"Field {field.Name}: wire type {WireFormat.GetTagWireType(tag)} does not match its declared type {field.Type}.";
                    return null;
                }
                var raw = ReadRaw(input, field.Type);
                switch (field.Slot)
                {
                    case ChangeTypeSlot:
                        changeType = (string)raw;
                        break;
                    case ChangeSequenceSlot:
                        if (!ChangeSequence.TryParse((string)raw, out sequence, out problem))
                        {
                            return null;
                        }
                        break;
                    default:
                        var column = table.Fields[field.Slot];
                        if (!TryConvert(column, raw, out var value, out problem))
                        {
                            return null;
                        }
                        values[field.Slot] = value;
                        present[field.Slot] = true;
                        break;
                }
            }
        }
        catch (InvalidProtocolBufferException exception)
        {
            problem = "The row is not a valid serialized message of the writer schema: " + exception.Message;
            return null;
        }
        if (HasChangeType)
        {
            if (changeType is null)
            {
                problem = "_CHANGE_TYPE is missing; it must be UPSERT or DELETE.";
                return null;
            }
            changeType = changeType.ToUpperInvariant();
            if (changeType is not ("UPSERT" or "DELETE"))
            {
                problem = $"_CHANGE_TYPE '{changeType}' must be UPSERT or DELETE.";
                return null;
            }
        }
        var isDelete = changeType == "DELETE";
        foreach (var (column, index) in table.Fields.Select((c, i) => (c, i)))
        {
            var needed = isDelete ? table.PrimaryKey.Contains(column.Name, StringComparer.OrdinalIgnoreCase) : column.IsRequired || (HasChangeType && table.PrimaryKey.Contains(column.Name, StringComparer.OrdinalIgnoreCase));
            if (needed && values[index] is null)
            {
                problem = $"Missing required field: {column.Name}.";
                return null;
            }
        }
        problem = null;
        return new DecodedRow(values, present, changeType, sequence);
    }

    private static int IndexOf(TableDefinition table, string name)
    {
        for (var i = 0; i < table.Fields.Count; i++)
        {
            if (string.Equals(table.Fields[i].Name, name, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        return -1;
    }

    private static bool Accepts(string bigQueryType, FieldType protoType) => bigQueryType switch
    {
        "INT64" => Integers.Contains(protoType) || protoType == FieldType.Enum,
        "FLOAT64" => protoType is FieldType.Double or FieldType.Float,
        "NUMERIC" or "BIGNUMERIC" => protoType is FieldType.String or FieldType.Double or FieldType.Float || Integers.Contains(protoType),
        "STRING" => protoType is FieldType.String or FieldType.Enum,
        "BOOL" => protoType == FieldType.Bool || Integers.Contains(protoType),
        "DATE" => protoType is FieldType.Int32 or FieldType.Int64 or FieldType.String,
        "TIME" or "DATETIME" => protoType == FieldType.String,
        "TIMESTAMP" => protoType is FieldType.Int64 or FieldType.String,
        "JSON" => protoType == FieldType.String,
        "BYTES" => protoType == FieldType.Bytes,
        _ => false,
    };

    private static WireFormat.WireType WireTypeOf(FieldType type) => type switch
    {
        FieldType.Double or FieldType.Fixed64 or FieldType.Sfixed64 => WireFormat.WireType.Fixed64,
        FieldType.Float or FieldType.Fixed32 or FieldType.Sfixed32 => WireFormat.WireType.Fixed32,
        FieldType.String or FieldType.Bytes => WireFormat.WireType.LengthDelimited,
        _ => WireFormat.WireType.Varint,
    };

    private static object ReadRaw(CodedInputStream input, FieldType type) => type switch
    {
        FieldType.Double => input.ReadDouble(),
        FieldType.Float => (double)input.ReadFloat(),
        FieldType.Int64 => input.ReadInt64(),
        FieldType.Uint64 => (BigInteger)input.ReadUInt64(),
        FieldType.Int32 => (long)input.ReadInt32(),
        FieldType.Fixed64 => (BigInteger)input.ReadFixed64(),
        FieldType.Fixed32 => (long)input.ReadFixed32(),
        FieldType.Bool => input.ReadBool(),
        FieldType.String => input.ReadString(),
        FieldType.Bytes => input.ReadBytes().ToByteArray(),
        FieldType.Uint32 => (long)input.ReadUInt32(),
        FieldType.Enum => (long)input.ReadEnum(),
        FieldType.Sfixed32 => (long)input.ReadSFixed32(),
        FieldType.Sfixed64 => input.ReadSFixed64(),
        FieldType.Sint32 => (long)input.ReadSInt32(),
        FieldType.Sint64 => input.ReadSInt64(),
        _ => throw new InvalidOperationException($"Unexpected field type {type}."),
    };

    private static bool TryConvert(BigQueryField column, object raw, out object? value, out string? problem)
    {
        value = null;
        problem = null;
        try
        {
            switch (column.Type)
            {
                case "INT64":
                    if (raw is BigInteger big && big > long.MaxValue)
                    {
                        problem = $"Field {column.Name}: {big} is out of range for INT64.";
                        return false;
                    }
                    value = raw is BigInteger b ? (long)b : (long)raw;
                    return true;
                case "FLOAT64":
                    value = (double)raw;
                    return true;
                case "NUMERIC" or "BIGNUMERIC":
                    return TryDecimal(column, raw, out value, out problem);
                case "STRING" or "JSON":
                    var text = raw is long enumValue ? enumValue.ToString(CultureInfo.InvariantCulture) : (string)raw;
                    if (column.Type == "JSON")
                    {
                        try
                        {
                            // BigQuery stores JSON normalized: whitespace goes, the text is returned minified.
                            text = System.Text.Json.Nodes.JsonNode.Parse(text)?.ToJsonString(CompactJson) ?? "null";
                        }
                        catch (JsonException)
                        {
                            problem = $"Field {column.Name}: the value is not valid JSON.";
                            return false;
                        }
                    }
                    value = text;
                    return true;
                case "BOOL":
                    value = raw is bool flag ? flag : raw is BigInteger bigFlag ? !bigFlag.IsZero : (long)raw != 0;
                    return true;
                case "DATE":
                    if (raw is string dateText)
                    {
                        if (!DateOnly.TryParseExact(dateText, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var date))
                        {
                            problem = $"Field {column.Name}: '{dateText}' is not a DATE (YYYY-MM-DD).";
                            return false;
                        }
                        value = date;
                        return true;
                    }
                    value = DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + checked((int)(long)raw));
                    return true;
                case "TIME":
                    if (!TimeOnly.TryParseExact((string)raw, ["HH:mm:ss", "HH:mm:ss.FFFFFF"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var time))
                    {
                        problem = $"Field {column.Name}: '{raw}' is not a TIME (HH:MM:SS[.ffffff]).";
                        return false;
                    }
                    value = time;
                    return true;
                case "DATETIME":
                    if (!DateTime.TryParseExact((string)raw, ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm:ss.FFFFFF", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-ddTHH:mm:ss.FFFFFF"],
                            CultureInfo.InvariantCulture, DateTimeStyles.None, out var dateTime))
                    {
                        problem = $"Field {column.Name}: '{raw}' is not a DATETIME (YYYY-MM-DD HH:MM:SS[.ffffff]).";
                        return false;
                    }
                    value = dateTime;
                    return true;
                case "TIMESTAMP":
                    if (raw is string timestampText)
                    {
                        if (!DateTimeOffset.TryParse(timestampText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                        {
                            problem = $"Field {column.Name}: '{timestampText}' is not a TIMESTAMP.";
                            return false;
                        }
                        value = parsed.UtcDateTime;
                        return true;
                    }
                    // Microseconds since the Unix epoch; BigQuery's range is years 0001 to 9999.
                    value = DateTime.UnixEpoch.AddTicks(checked((long)raw * 10));
                    return true;
                case "BYTES":
                    value = (byte[])raw;
                    return true;
                default:
                    problem = $"Field {column.Name}: type {column.Type} is not emulated.";
                    return false;
            }
        }
        catch (Exception exception) when (exception is OverflowException or ArgumentOutOfRangeException)
        {
            problem = $"Field {column.Name}: the value is out of range for {column.Type}.";
            return false;
        }
    }

    private static bool TryDecimal(BigQueryField column, object raw, out object? value, out string? problem)
    {
        value = null;
        problem = null;
        var text = raw switch
        {
            string s => s.Trim(),
            double d => d.ToString("R", CultureInfo.InvariantCulture),
            long l => l.ToString(CultureInfo.InvariantCulture),
            BigInteger b => b.ToString(CultureInfo.InvariantCulture),
            _ => "",
        };
        // NUMERIC: 38 digits, 9 after the point; BIGNUMERIC: 76 (77 with a partial digit), 38 after the point.
        var (defaultPrecision, defaultScale) = column.Type == "NUMERIC" ? (38, 9) : (76, 38);
        var scale = column.Scale ?? (column.Precision is null ? defaultScale : 0);
        var precision = column.Precision ?? defaultPrecision;
        if (!BigDecimalText.TryParse(text, out var negative, out var whole, out var fraction))
        {
            problem = $"Field {column.Name}: '{text}' is not a {column.Type} value.";
            return false;
        }
        // Digits beyond the scale are rounded half away from zero, as BigQuery does when coercing to a parameterized type.
        var rounded = BigDecimalText.Round(whole, fraction, scale);
        if (rounded.Whole.TrimStart('0').Length > precision - scale)
        {
            problem = $"Field {column.Name}: {text} has more than {precision - scale} digits before the decimal point ({column.Type}({precision}, {scale})).";
            return false;
        }
        var normalized = (negative && (rounded.Whole.Trim('0').Length > 0 || rounded.Fraction.Trim('0').Length > 0) ? "-" : "")
            + (rounded.Whole.TrimStart('0') is { Length: > 0 } w ? w : "0")
            + (rounded.Fraction.Length > 0 ? "." + rounded.Fraction : "");
        // Values that fit System.Decimal go to DuckDB as decimals; wider BIGNUMERIC values are kept as text (see DuckDbType).
        value = column.DuckDbType == "VARCHAR" ? normalized : decimal.Parse(normalized, NumberStyles.Number, CultureInfo.InvariantCulture);
        return true;
    }
}

/// <summary>Exact decimal text without System.Decimal's 28-digit limit.</summary>
internal static class BigDecimalText
{
    public static bool TryParse(string text, out bool negative, out string whole, out string fraction)
    {
        negative = false;
        whole = fraction = "";
        var s = text;
        if (s.StartsWith('-') || s.StartsWith('+'))
        {
            negative = s[0] == '-';
            s = s[1..];
        }
        var exponent = 0;
        var e = s.IndexOfAny(['e', 'E']);
        if (e >= 0)
        {
            if (!int.TryParse(s[(e + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent))
            {
                return false;
            }
            s = s[..e];
        }
        var dot = s.IndexOf('.', StringComparison.Ordinal);
        whole = dot < 0 ? s : s[..dot];
        fraction = dot < 0 ? "" : s[(dot + 1)..];
        if (whole.Length + fraction.Length == 0 || !whole.All(char.IsAsciiDigit) || !fraction.All(char.IsAsciiDigit))
        {
            return false;
        }
        if (exponent > 0)
        {
            var moved = fraction.PadRight(exponent, '0');
            whole += moved[..exponent];
            fraction = moved[exponent..];
        }
        else if (exponent < 0)
        {
            var padded = whole.PadLeft(-exponent + 1, '0');
            fraction = padded[^(-exponent)..] + fraction;
            whole = padded[..^(-exponent)];
        }
        return true;
    }

    public static (string Whole, string Fraction) Round(string whole, string fraction, int scale)
    {
        if (fraction.Length <= scale)
        {
            return (whole, fraction.TrimEnd('0'));
        }
        var digits = (whole + fraction[..scale]).ToCharArray();
        if (fraction[scale] >= '5')
        {
            var i = digits.Length - 1;
            while (i >= 0 && digits[i] == '9')
            {
                digits[i--] = '0';
            }
            if (i < 0)
            {
                digits = ['1', .. digits];
            }
            else
            {
                digits[i]++;
            }
        }
        var text = new string(digits);
        return (text[..^scale], text[^scale..].TrimEnd('0'));
    }
}
