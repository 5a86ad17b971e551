namespace Freshet.DataPlane.Schema;

/// <summary>
/// The portable kinds of value the data plane carries. Each kind has exactly one CLR representation, so sources and
/// destinations agree without knowing each other:
/// Int16 <c>short</c>, Int32 <c>int</c>, Int64 <c>long</c>, Decimal <c>decimal</c> (precision ≤ 28),
/// NumericText <c>string</c> (exact decimal text for numerics too wide for <c>decimal</c>), Float32 <c>float</c>,
/// Float64 <c>double</c>, Text <c>string</c>, Boolean <c>bool</c>, Date <c>DateOnly</c>, Time <c>TimeOnly</c>,
/// Timestamp <c>DateTime</c> (Unspecified kind), TimestampTz <c>DateTime</c> (UTC kind), Interval
/// <see cref="NpgsqlTypes.NpgsqlInterval"/> (months, days, microseconds), Uuid <c>Guid</c>, Json <c>string</c>,
/// Bytes <c>byte[]</c>, Enum <c>string</c> (the label).
/// An array column holds a one-dimensional <c>T?[]</c> (or <c>T[]</c> for reference types) of its element's representation.
/// </summary>
public enum ValueKind
{
    Int16,
    Int32,
    Int64,
    Decimal,
    NumericText,
    Float32,
    Float64,
    Text,
    Boolean,
    Date,
    Time,
    Timestamp,
    TimestampTz,
    Interval,
    Uuid,
    Json,
    Bytes,
    Enum,
}

/// <summary>A column's type as the data plane sees it.</summary>
/// <param name="Kind">The value kind (of the element, for arrays).</param>
/// <param name="IsArray">Whether the column holds a one-dimensional array of <paramref name="Kind"/>.</param>
/// <param name="SourceTypeName">The type as the source names it, e.g. <c>numeric(12,2)</c> or <c>public.mood[]</c>.</param>
/// <param name="Precision">Numeric precision when declared.</param>
/// <param name="Scale">Numeric scale when declared.</param>
/// <param name="MaxLength">Declared character length (varchar(n), char(n)), when any.</param>
public sealed record ColumnType(
    ValueKind Kind,
    bool IsArray,
    string SourceTypeName,
    int? Precision = null,
    int? Scale = null,
    int? MaxLength = null)
{
    /// <summary>Whether two types carry the same values (the source's spelling may differ).</summary>
    public bool SameValuesAs(ColumnType other) =>
        Kind == other.Kind && IsArray == other.IsArray && Precision == other.Precision && Scale == other.Scale;

    public override string ToString() => SourceTypeName;
}
