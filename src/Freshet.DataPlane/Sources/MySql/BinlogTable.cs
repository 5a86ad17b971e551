using System.Globalization;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>Column type codes of the binlog (MySQL <c>enum_field_types</c>).</summary>
internal enum MySqlColumnType : byte
{
    Decimal = 0,
    Tiny = 1,
    Short = 2,
    Long = 3,
    Float = 4,
    Double = 5,
    Null = 6,
    Timestamp = 7,
    LongLong = 8,
    Int24 = 9,
    Date = 10,
    Time = 11,
    DateTime = 12,
    Year = 13,
    NewDate = 14,
    VarChar = 15,
    Bit = 16,
    Timestamp2 = 17,
    DateTime2 = 18,
    Time2 = 19,
    VarCharCompressed = 140,
    BlobCompressed = 141,
    Json = 245,
    NewDecimal = 246,
    Enum = 247,
    Set = 248,
    TinyBlob = 249,
    MediumBlob = 250,
    LongBlob = 251,
    Blob = 252,
    VarString = 253,
    String = 254,
    Geometry = 255,
}

/// <summary>
/// A column as a TABLE_MAP event describes it. <see cref="Type"/> is the real type: a CHAR column that is an ENUM or a
/// SET in the table map's type list is resolved here through its metadata.
/// </summary>
/// <param name="Index">Ordinal in the table.</param>
/// <param name="Name">From the optional metadata (binlog_row_metadata=FULL); null without it.</param>
/// <param name="Type">Real type.</param>
/// <param name="Length">
/// Strings and binary strings: maximum length in bytes. BLOB/TEXT/JSON/GEOMETRY: bytes of the length prefix (1–4).
/// ENUM/SET: bytes of the stored value. FLOAT/DOUBLE: storage size. BIT: bits.
/// </param>
/// <param name="Precision">NEWDECIMAL precision; temporal types: fractional second digits (0–6).</param>
/// <param name="Scale">NEWDECIMAL scale.</param>
/// <param name="Nullable">From the table map's null bitmap.</param>
/// <param name="Unsigned">From the SIGNEDNESS metadata (numeric columns).</param>
/// <param name="Collation">Character and binary string columns, ENUM and SET: the collation id from the charset metadata.</param>
/// <param name="Labels">ENUM and SET: the value labels in definition order.</param>
/// <param name="IsKey">Part of the primary key (SIMPLE_PRIMARY_KEY or PRIMARY_KEY_WITH_PREFIX metadata).</param>
internal sealed record BinlogColumn(
    int Index,
    string? Name,
    MySqlColumnType Type,
    int Length,
    int Precision,
    int Scale,
    bool Nullable,
    bool Unsigned,
    int? Collation,
    IReadOnlyList<string>? Labels,
    bool IsKey)
{
    /// <summary>
    /// Character-string types as the charset metadata counts them (log_event.cc is_character_type): GEOMETRY too
    /// ("base class is blob for geom type"), with the binary collation; a text column after a GEOMETRY otherwise takes
    /// its neighbour's collation.
    /// </summary>
    public static bool IsCharacterType(MySqlColumnType type) =>
        type is MySqlColumnType.String or MySqlColumnType.VarChar or MySqlColumnType.VarString or MySqlColumnType.Blob
            or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob or MySqlColumnType.Geometry;

    public static bool IsNumericType(MySqlColumnType type) =>
        type is MySqlColumnType.Tiny or MySqlColumnType.Short or MySqlColumnType.Int24 or MySqlColumnType.Long or MySqlColumnType.LongLong
            or MySqlColumnType.NewDecimal or MySqlColumnType.Float or MySqlColumnType.Double or MySqlColumnType.Decimal;

    /// <summary>Whether string values are bytes: BINARY, VARBINARY, BLOB (binary collation), GEOMETRY.</summary>
    public bool IsBinary => Type == MySqlColumnType.Geometry || (IsCharacterType(Type) && Collation is int c && MySqlCollations.IsBinary(c));

    /// <summary>
    /// The data plane's type for this column. Integers widen so that unsigned values fit (BIGINT UNSIGNED becomes a
    /// decimal of 20 digits); TIME is an interval because MySQL's TIME spans −838:59:59 to 838:59:59; DATETIME is a
    /// wall-clock timestamp and TIMESTAMP an instant (UTC); BIT(1) is a boolean and wider BITs their big-endian bytes;
    /// SET is text (the labels joined by commas, as MySQL shows them); MariaDB's JSON is LONGTEXT in the binlog and
    /// arrives as text (the catalog can tell it apart). GEOMETRY is its stored bytes (4-byte SRID, then WKB).
    /// </summary>
    public ColumnType ToColumnType()
    {
        var unsigned = Unsigned ? " unsigned" : "";
        return Type switch
        {
            MySqlColumnType.Tiny => new ColumnType(ValueKind.Int16, false, "tinyint" + unsigned),
            MySqlColumnType.Short => new ColumnType(Unsigned ? ValueKind.Int32 : ValueKind.Int16, false, "smallint" + unsigned),
            MySqlColumnType.Int24 => new ColumnType(ValueKind.Int32, false, "mediumint" + unsigned),
            MySqlColumnType.Long => new ColumnType(Unsigned ? ValueKind.Int64 : ValueKind.Int32, false, "int" + unsigned),
            MySqlColumnType.LongLong => Unsigned
                ? new ColumnType(ValueKind.Decimal, false, "bigint unsigned", 20, 0)
                : new ColumnType(ValueKind.Int64, false, "bigint"),
            MySqlColumnType.NewDecimal => new ColumnType(
                Precision <= MySqlDecimal.MaxClrPrecision ? ValueKind.Decimal : ValueKind.NumericText,
                false,
                string.Create(CultureInfo.InvariantCulture, $"decimal({Precision},{Scale})") + unsigned,
                Precision,
                Scale),
            MySqlColumnType.Float => new ColumnType(ValueKind.Float32, false, "float"),
            MySqlColumnType.Double => new ColumnType(ValueKind.Float64, false, "double"),
            MySqlColumnType.Year => new ColumnType(ValueKind.Int16, false, "year"),
            MySqlColumnType.Date or MySqlColumnType.NewDate => new ColumnType(ValueKind.Date, false, "date"),
            MySqlColumnType.Time or MySqlColumnType.Time2 => new ColumnType(ValueKind.Interval, false, WithFsp("time")),
            MySqlColumnType.DateTime or MySqlColumnType.DateTime2 => new ColumnType(ValueKind.Timestamp, false, WithFsp("datetime")),
            MySqlColumnType.Timestamp or MySqlColumnType.Timestamp2 => new ColumnType(ValueKind.TimestampTz, false, WithFsp("timestamp")),
            MySqlColumnType.Bit => Length == 1
                ? new ColumnType(ValueKind.Boolean, false, "bit(1)")
                : new ColumnType(ValueKind.Bytes, false, string.Create(CultureInfo.InvariantCulture, $"bit({Length})")),
            MySqlColumnType.Enum => new ColumnType(ValueKind.Enum, false, "enum"),
            MySqlColumnType.Set => new ColumnType(ValueKind.Text, false, "set"),
            MySqlColumnType.Json => new ColumnType(ValueKind.Json, false, "json"),
            MySqlColumnType.Geometry => new ColumnType(ValueKind.Bytes, false, "geometry"),
            MySqlColumnType.String => IsBinary
                ? new ColumnType(ValueKind.Bytes, false, Sized("binary"), MaxLength: Length)
                : new ColumnType(ValueKind.Text, false, Sized("char")),
            MySqlColumnType.VarChar or MySqlColumnType.VarString => IsBinary
                ? new ColumnType(ValueKind.Bytes, false, Sized("varbinary"), MaxLength: Length)
                : new ColumnType(ValueKind.Text, false, Sized("varchar")),
            MySqlColumnType.Blob or MySqlColumnType.TinyBlob or MySqlColumnType.MediumBlob or MySqlColumnType.LongBlob => IsBinary
                ? new ColumnType(ValueKind.Bytes, false, BlobName("blob"))
                : new ColumnType(ValueKind.Text, false, BlobName("text")),
            _ => throw new BinlogUnsupportedException($"Column {Name ?? Index.ToString(CultureInfo.InvariantCulture)} has binlog type {Type}, which this reader does not decode."),
        };
    }

    private string WithFsp(string name) => Precision > 0 ? string.Create(CultureInfo.InvariantCulture, $"{name}({Precision})") : name;

    // Strings: the byte length, which is the declared character length times the charset's bytes per character.
    private string Sized(string name) => string.Create(CultureInfo.InvariantCulture, $"{name}({Length} bytes)");

    private string BlobName(string name) => Length switch
    {
        1 => "tiny" + name,
        2 => name,
        3 => "medium" + name,
        _ => "long" + name,
    };
}

/// <summary>A table as a TABLE_MAP event maps it; rows events refer to it by <see cref="TableId"/>.</summary>
internal sealed record BinlogTable(ulong TableId, string Database, string Name, IReadOnlyList<BinlogColumn> Columns)
{
    /// <summary>Whether the optional metadata named the columns (binlog_row_metadata=FULL).</summary>
    public bool HasColumnNames => Columns.Count == 0 || Columns[0].Name is not null;

    public override string ToString() => $"{Database}.{Name}";
}
