using System.Globalization;
using System.Text.Json;
using Freshet.DataPlane.Schema;
using NpgsqlTypes;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>How a column's values are serialized in a Storage Write row (the proto field type the writer schema declares).</summary>
public enum ProtoEncoding
{
    /// <summary>int64 varint.</summary>
    Int64,

    /// <summary>double.</summary>
    Double,

    /// <summary>bool.</summary>
    Bool,

    /// <summary>UTF-8 string (STRING, JSON, NUMERIC/BIGNUMERIC decimal text, TIME and DATETIME civil-time text).</summary>
    String,

    /// <summary>bytes.</summary>
    Bytes,

    /// <summary>int32 days since 1970-01-01 (DATE).</summary>
    DateDays,

    /// <summary>int64 microseconds since the Unix epoch (TIMESTAMP).</summary>
    TimestampMicros,
}

/// <summary>A BigQuery column: its name, GoogleSQL type, NUMERIC/BIGNUMERIC precision and scale, mode, and wire encoding.</summary>
public sealed record BigQueryColumn(string Name, string Type, int? Precision, int? Scale, bool Required, ProtoEncoding Encoding);

/// <summary>
/// The BigQuery type for each value kind (docs: cloud.google.com/bigquery/docs/reference/standard-sql/data-types) and the
/// proto encoding the Storage Write API accepts for it (cloud.google.com/bigquery/docs/write-api#data_type_conversions).
/// </summary>
public static class BigQueryTypes
{
    public static BigQueryColumn Column(string name, ColumnType type, bool required)
    {
        if (type.IsArray)
        {
            // REPEATED columns would need a nested descriptor per element kind; a JSON array keeps every element exact.
            return new BigQueryColumn(name, "JSON", null, null, required, ProtoEncoding.String);
        }
        return type.Kind switch
        {
            ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64 => new(name, "INT64", null, null, required, ProtoEncoding.Int64),
            ValueKind.Decimal or ValueKind.NumericText => Decimal(name, type, required),
            ValueKind.Float32 or ValueKind.Float64 => new(name, "FLOAT64", null, null, required, ProtoEncoding.Double),
            ValueKind.Boolean => new(name, "BOOL", null, null, required, ProtoEncoding.Bool),
            ValueKind.Date => new(name, "DATE", null, null, required, ProtoEncoding.DateDays),
            ValueKind.Time => new(name, "TIME", null, null, required, ProtoEncoding.String),
            ValueKind.Timestamp => new(name, "DATETIME", null, null, required, ProtoEncoding.String),
            ValueKind.TimestampTz => new(name, "TIMESTAMP", null, null, required, ProtoEncoding.TimestampMicros),
            ValueKind.Json => new(name, "JSON", null, null, required, ProtoEncoding.String),
            ValueKind.Bytes => new(name, "BYTES", null, null, required, ProtoEncoding.Bytes),
            // Intervals have no exact BigQuery counterpart for month+day+microsecond values; ISO 8601 text keeps them exact.
            ValueKind.Interval or ValueKind.Uuid or ValueKind.Text or ValueKind.Enum => new(name, "STRING", null, null, required, ProtoEncoding.String),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, "no BigQuery type for this kind"),
        };
    }

    // NUMERIC(P, S): 0 ≤ S ≤ 9, P − S ≤ 29. BIGNUMERIC(P, S): 0 ≤ S ≤ 38, P − S ≤ 38. A source decimal without a declared
    // precision (PostgreSQL's bare numeric) gets BIGNUMERIC's full range; wider declared types keep their exact text.
    private static BigQueryColumn Decimal(string name, ColumnType type, bool required)
    {
        if (type.Precision is not { } precision)
        {
            return new(name, "BIGNUMERIC", null, null, required, ProtoEncoding.String);
        }
        var scale = type.Scale ?? 0;
        if (scale is >= 0 and <= 9 && precision - scale <= 29)
        {
            return new(name, "NUMERIC", precision, scale, required, ProtoEncoding.String);
        }
        if (scale is >= 0 and <= 38 && precision - scale <= 38)
        {
            return new(name, "BIGNUMERIC", precision, scale, required, ProtoEncoding.String);
        }
        return new(name, "STRING", null, null, required, ProtoEncoding.String);
    }

    /// <summary>The value in the form its encoding writes: long, double, bool, string, byte[], int (days) or long (µs).</summary>
    public static object Wire(BigQueryColumn column, object value) => column.Encoding switch
    {
        ProtoEncoding.Int64 => Convert.ToInt64(value, CultureInfo.InvariantCulture),
        ProtoEncoding.Double => Convert.ToDouble(value, CultureInfo.InvariantCulture),
        ProtoEncoding.Bool => (bool)value,
        ProtoEncoding.Bytes => (byte[])value,
        ProtoEncoding.DateDays => value switch
        {
            DateOnly d => d.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber,
            DateTime dt => DateOnly.FromDateTime(dt).DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber,
            _ => throw new ArgumentException($"Column {column.Name}: {value.GetType().Name} is not a date.", nameof(value)),
        },
        ProtoEncoding.TimestampMicros => value switch
        {
            DateTime dt => (dt.ToUniversalTime().Ticks - DateTime.UnixEpoch.Ticks) / 10,
            DateTimeOffset o => (o.UtcTicks - DateTime.UnixEpoch.Ticks) / 10,
            _ => throw new ArgumentException($"Column {column.Name}: {value.GetType().Name} is not a timestamp.", nameof(value)),
        },
        _ => Text(column, value),
    };

    private static string Text(BigQueryColumn column, object value) => value switch
    {
        string s => s,
        Array array when column.Type == "JSON" => JsonSerializer.Serialize(array),
        TimeOnly t => t.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        TimeSpan span when column.Type == "TIME" => TimeOnly.FromTimeSpan(span).ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        DateTime dt => dt.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        NpgsqlInterval interval => IntervalText(interval),
        Guid guid => guid.ToString(),
        decimal d => d.ToString(CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    // ISO 8601 duration with PostgreSQL's three parts kept apart (months and days are not fixed lengths of time).
    private static string IntervalText(NpgsqlInterval interval)
    {
        var seconds = interval.Time / 1_000_000m;
        return string.Create(CultureInfo.InvariantCulture, $"P{interval.Months}M{interval.Days}DT{seconds}S");
    }
}
