using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>The Snowflake column type for each value kind (arrays and JSON become VARIANT).</summary>
internal static class SnowflakeTypes
{
    public static string TargetType(ColumnType type)
    {
        if (type.IsArray)
        {
            return "VARIANT";
        }
        return type.Kind switch
        {
            ValueKind.Int16 => "NUMBER(5,0)",
            ValueKind.Int32 => "NUMBER(10,0)",
            ValueKind.Int64 => "NUMBER(19,0)",
            // Snowflake's NUMBER stops at 38 digits; wider or unconstrained numerics keep their exact text.
            ValueKind.Decimal or ValueKind.NumericText when type.Precision is { } p && p <= 38 => $"NUMBER({p},{type.Scale ?? 0})",
            ValueKind.Decimal or ValueKind.NumericText => "VARCHAR",
            ValueKind.Float32 or ValueKind.Float64 => "FLOAT",
            ValueKind.Boolean => "BOOLEAN",
            ValueKind.Date => "DATE",
            ValueKind.Time => "TIME(6)",
            ValueKind.Timestamp => "TIMESTAMP_NTZ(6)",
            ValueKind.TimestampTz => "TIMESTAMP_TZ(6)",
            ValueKind.Json => "VARIANT",
            ValueKind.Bytes => "BINARY",
            // Intervals have no Snowflake type; their ISO 8601 text keeps them exact.
            ValueKind.Interval or ValueKind.Uuid or ValueKind.Text or ValueKind.Enum => "VARCHAR",
            _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, "no Snowflake type for this kind"),
        };
    }

    /// <summary>Identifiers are always quoted, so the source's spelling (case included) is the target's.</summary>
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
}
