namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// The body of a TABLE_MAP event after its post-header (MySQL libbinlogevents Table_map_event; MariaDB KB
/// "TABLE_MAP_EVENT"): database name and table name (each a one-byte length, the name and a NUL), column count
/// (length-encoded), one type byte per column, the per-type metadata block (length-encoded size), a nullability
/// bitmap, then the optional metadata fields (type(1), length-encoded size, value) that binlog_row_metadata adds.
/// </summary>
internal static class TableMapDecoder
{
    private const byte Signedness = 1;
    private const byte DefaultCharset = 2;
    private const byte ColumnCharset = 3;
    private const byte ColumnName = 4;
    private const byte SetStrValue = 5;
    private const byte EnumStrValue = 6;
    private const byte SimplePrimaryKey = 8;
    private const byte PrimaryKeyWithPrefix = 9;
    private const byte EnumAndSetDefaultCharset = 10;
    private const byte EnumAndSetColumnCharset = 11;

    public static BinlogTable Decode(ulong tableId, ref PayloadReader reader)
    {
        var database = reader.ReadFixedString(reader.ReadByte());
        reader.Skip(1);
        var name = reader.ReadFixedString(reader.ReadByte());
        reader.Skip(1);
        var count = (int)reader.ReadLengthEncoded();
        var listedTypes = reader.ReadBytes(count);
        var metadata = new PayloadReader(reader.ReadLengthEncodedBytes());
        var shapes = new ColumnShape[count];
        for (var i = 0; i < count; i++)
        {
            shapes[i] = ReadShape((MySqlColumnType)listedTypes[i], ref metadata);
        }

        var nullable = reader.ReadBytes((count + 7) / 8);
        var optional = new OptionalMetadata(count);
        while (reader.Remaining > 0)
        {
            var fieldType = reader.ReadByte();
            var field = new PayloadReader(reader.ReadLengthEncodedBytes());
            optional.Read(fieldType, ref field, shapes);
        }

        var columns = new BinlogColumn[count];
        int numeric = 0, character = 0, enumOrSet = 0;
        for (var i = 0; i < count; i++)
        {
            var shape = shapes[i];
            var unsigned = false;
            int? collation = null;
            IReadOnlyList<string>? labels = null;
            if (BinlogColumn.IsNumericType(shape.Type))
            {
                unsigned = optional.Unsigned.Count > numeric && optional.Unsigned[numeric];
                numeric++;
            }
            else if (BinlogColumn.IsCharacterType(shape.Type))
            {
                collation = optional.CharacterCollation(character++);
            }
            else if (shape.Type is MySqlColumnType.Enum or MySqlColumnType.Set)
            {
                collation = optional.EnumOrSetCollation(enumOrSet++);
                var lists = shape.Type == MySqlColumnType.Enum ? optional.EnumLabels : optional.SetLabels;
                var ordinal = shapes.Take(i).Count(s => s.Type == shape.Type);
                labels = lists.Count > ordinal ? lists[ordinal] : null;
            }

            columns[i] = new BinlogColumn(
                i,
                optional.Names.Count > i ? optional.Names[i] : null,
                shape.Type,
                shape.Length,
                shape.Precision,
                shape.Scale,
                BinlogValueReader.IsSet(nullable, i),
                unsigned,
                collation,
                labels,
                optional.KeyColumns.Contains(i));
        }

        return new BinlogTable(tableId, database, name, columns);
    }

    /// <summary>
    /// The per-type metadata: FLOAT/DOUBLE/BLOB/GEOMETRY/JSON: 1 byte (size or length-prefix bytes); TIME2/DATETIME2/
    /// TIMESTAMP2: 1 byte (fractional digits); VARCHAR: 2 bytes little-endian (maximum bytes); BIT: bits mod 8, then
    /// whole bytes; NEWDECIMAL: precision, scale; STRING: real type then length, with two high bits of the length folded
    /// into the real type byte (Field_string::do_save_field_metadata) — which is how ENUM and SET arrive.
    /// </summary>
    private static ColumnShape ReadShape(MySqlColumnType type, ref PayloadReader metadata)
    {
        switch (type)
        {
            case MySqlColumnType.Float or MySqlColumnType.Double or MySqlColumnType.Blob or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob
                or MySqlColumnType.LongBlob or MySqlColumnType.Geometry or MySqlColumnType.Json or MySqlColumnType.BlobCompressed:
                return new ColumnShape(type, metadata.ReadByte(), 0, 0);
            case MySqlColumnType.Time2 or MySqlColumnType.DateTime2 or MySqlColumnType.Timestamp2:
                return new ColumnShape(type, 0, metadata.ReadByte(), 0);
            case MySqlColumnType.VarChar or MySqlColumnType.VarString or MySqlColumnType.VarCharCompressed:
                return new ColumnShape(type, metadata.ReadUInt16(), 0, 0);
            case MySqlColumnType.Bit:
                var extraBits = metadata.ReadByte();
                var bytes = metadata.ReadByte();
                return new ColumnShape(type, bytes * 8 + extraBits, 0, 0);
            case MySqlColumnType.NewDecimal:
                var precision = metadata.ReadByte();
                return new ColumnShape(type, 0, precision, metadata.ReadByte());
            case MySqlColumnType.String or MySqlColumnType.Enum or MySqlColumnType.Set:
                var first = metadata.ReadByte();
                var second = metadata.ReadByte();
                if ((first & 0x30) != 0x30)
                {
                    return new ColumnShape((MySqlColumnType)(first | 0x30), second | (((first & 0x30) ^ 0x30) << 4), 0, 0);
                }

                return new ColumnShape((MySqlColumnType)first, second, 0, 0);
            default:
                return new ColumnShape(type, 0, 0, 0);
        }
    }

    private readonly record struct ColumnShape(MySqlColumnType Type, int Length, int Precision, int Scale);

    /// <summary>The optional metadata fields this reader uses; unknown fields are skipped by their length.</summary>
    private sealed class OptionalMetadata(int columnCount)
    {
        private int? _defaultCharacterCollation;
        private readonly Dictionary<int, int> _characterCollations = [];
        private List<int>? _characterColumnCollations;
        private int? _defaultEnumOrSetCollation;
        private readonly Dictionary<int, int> _enumOrSetCollations = [];
        private List<int>? _enumOrSetColumnCollations;

        public List<bool> Unsigned { get; } = [];

        public List<string> Names { get; } = new(columnCount);

        public List<IReadOnlyList<string>> EnumLabels { get; } = [];

        public List<IReadOnlyList<string>> SetLabels { get; } = [];

        public HashSet<int> KeyColumns { get; } = [];

        public int? CharacterCollation(int ordinal) =>
            _characterColumnCollations is { } list ? (list.Count > ordinal ? list[ordinal] : null)
            : _characterCollations.TryGetValue(ordinal, out var collation) ? collation : _defaultCharacterCollation;

        public int? EnumOrSetCollation(int ordinal) =>
            _enumOrSetColumnCollations is { } list ? (list.Count > ordinal ? list[ordinal] : null)
            : _enumOrSetCollations.TryGetValue(ordinal, out var collation) ? collation : _defaultEnumOrSetCollation;

        public void Read(byte fieldType, ref PayloadReader field, ColumnShape[] shapes)
        {
            switch (fieldType)
            {
                case Signedness:
                    // One bit per numeric column, most significant bit first.
                    var numericCount = shapes.Count(s => BinlogColumn.IsNumericType(s.Type));
                    for (var i = 0; i < numericCount; i++)
                    {
                        Unsigned.Add((field.Rest[i >> 3] & (0x80 >> (i & 7))) != 0);
                    }

                    break;
                case DefaultCharset:
                    ReadDefaultCharset(ref field, out _defaultCharacterCollation, _characterCollations);
                    break;
                case ColumnCharset:
                    _characterColumnCollations = ReadIntegers(ref field);
                    break;
                case EnumAndSetDefaultCharset:
                    ReadDefaultCharset(ref field, out _defaultEnumOrSetCollation, _enumOrSetCollations);
                    break;
                case EnumAndSetColumnCharset:
                    _enumOrSetColumnCollations = ReadIntegers(ref field);
                    break;
                case ColumnName:
                    while (field.Remaining > 0)
                    {
                        Names.Add(field.ReadLengthEncodedString());
                    }

                    break;
                case EnumStrValue:
                    ReadLabelLists(ref field, EnumLabels);
                    break;
                case SetStrValue:
                    ReadLabelLists(ref field, SetLabels);
                    break;
                case SimplePrimaryKey:
                    foreach (var index in ReadIntegers(ref field))
                    {
                        KeyColumns.Add(index);
                    }

                    break;
                case PrimaryKeyWithPrefix:
                    // (column index, prefix length) pairs; a prefix key still names its column.
                    var pairs = ReadIntegers(ref field);
                    for (var i = 0; i < pairs.Count; i += 2)
                    {
                        KeyColumns.Add(pairs[i]);
                    }

                    break;
            }
        }

        /// <summary>The default collation, then (ordinal among these columns, collation) pairs for the exceptions.</summary>
        private static void ReadDefaultCharset(ref PayloadReader field, out int? defaultCollation, Dictionary<int, int> exceptions)
        {
            defaultCollation = (int)field.ReadLengthEncoded();
            while (field.Remaining > 0)
            {
                var ordinal = (int)field.ReadLengthEncoded();
                exceptions[ordinal] = (int)field.ReadLengthEncoded();
            }
        }

        private static List<int> ReadIntegers(ref PayloadReader field)
        {
            var values = new List<int>();
            while (field.Remaining > 0)
            {
                values.Add((int)field.ReadLengthEncoded());
            }

            return values;
        }

        /// <summary>Per ENUM (or SET) column: label count, then each label (length-encoded).</summary>
        private static void ReadLabelLists(ref PayloadReader field, List<IReadOnlyList<string>> lists)
        {
            while (field.Remaining > 0)
            {
                var labels = new string[(int)field.ReadLengthEncoded()];
                for (var i = 0; i < labels.Length; i++)
                {
                    labels[i] = field.ReadLengthEncodedString();
                }

                lists.Add(labels);
            }
        }
    }
}
