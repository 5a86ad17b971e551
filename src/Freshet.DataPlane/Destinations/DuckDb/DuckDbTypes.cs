using System.Globalization;
using DuckDB.NET.Data;
using DuckDB.NET.Native;
using Freshet.DataPlane.Schema;
using NpgsqlTypes;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// How each value kind is stored in DuckDB, and how it travels there: values are appended to a staging table in a
/// representation the DuckDB.NET appender can write exactly, then converted by SQL into the target type.
/// </summary>
/// <remarks>
/// Timestamps are staged as microseconds since the Unix epoch because the appender cannot write DuckDB's infinities and
/// <see cref="DateTime.MaxValue"/> has sub-microsecond ticks: Npgsql reads PostgreSQL's <c>infinity</c>/<c>-infinity</c> as
/// <see cref="DateTime.MaxValue"/>/<see cref="DateTime.MinValue"/>, so those two become DuckDB's <c>infinity</c>/<c>-infinity</c>.
/// Dates are stored as they are (<see cref="DateOnly.MaxValue"/> is a real 9999-12-31, often used as "open ended").
/// Intervals are staged as text (<c>"m months d days us microseconds"</c>) because the appender only writes
/// <see cref="TimeSpan"/>, which has no months; DuckDB parses that text into exactly those three parts, which is what
/// <see cref="ChunkAppender"/> writes when new rows go straight into the target.
/// Arrays of bytes are staged as base64 text because the appender cannot write a list of blobs.
/// </remarks>
internal static class DuckDbTypes
{
    // DuckDB's TIMESTAMP infinities are ±(2^63 - 1) microseconds; the staged sentinels use the same numbers.
    private const long PositiveInfinity = long.MaxValue;
    private const long NegativeInfinity = -long.MaxValue;

    /// <summary>The target column type, spelled as <c>duckdb_columns()</c> reports it so that types compare as text.</summary>
    public static string TargetType(ColumnType type)
    {
        var element = type.Kind switch
        {
            ValueKind.Int16 => "SMALLINT",
            ValueKind.Int32 => "INTEGER",
            ValueKind.Int64 => "BIGINT",
            ValueKind.Decimal => HasDuckDbPrecision(type) ? $"DECIMAL({type.Precision},{type.Scale ?? 0})" : "VARCHAR",
            ValueKind.NumericText => "VARCHAR",
            ValueKind.Float32 => "FLOAT",
            ValueKind.Float64 => "DOUBLE",
            ValueKind.Text => "VARCHAR",
            ValueKind.Boolean => "BOOLEAN",
            ValueKind.Date => "DATE",
            ValueKind.Time => "TIME",
            ValueKind.Timestamp => "TIMESTAMP",
            ValueKind.TimestampTz => "TIMESTAMP WITH TIME ZONE",
            ValueKind.Interval => "INTERVAL",
            ValueKind.Uuid => "UUID",
            ValueKind.Json => "JSON",
            ValueKind.Bytes => "BLOB",
            ValueKind.Enum => "VARCHAR",
            _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, "Unknown value kind."),
        };
        return type.IsArray ? element + "[]" : element;
    }

    /// <summary>The staging column type the appender writes.</summary>
    public static string StagingType(ColumnType type)
    {
        var element = type.Kind switch
        {
            ValueKind.Timestamp or ValueKind.TimestampTz => "BIGINT",
            ValueKind.Interval => "VARCHAR",
            ValueKind.Bytes when type.IsArray => "VARCHAR",
            _ => null,
        };
        if (element is null)
        {
            return TargetType(type);
        }

        return type.IsArray ? element + "[]" : element;
    }

    /// <summary>SQL turning the staged value <paramref name="staged"/> into the target type of <paramref name="type"/>.</summary>
    public static string FromStaging(ColumnType type, string staged)
    {
        if (type.IsArray)
        {
            return type.Kind switch
            {
                ValueKind.Timestamp or ValueKind.TimestampTz or ValueKind.Bytes =>
                    $"list_transform({staged}, lambda e: {ElementFromStaging(type.Kind, "e")})",
                ValueKind.Interval => $"CAST({staged} AS INTERVAL[])",
                _ => staged,
            };
        }

        return type.Kind switch
        {
            ValueKind.Timestamp or ValueKind.TimestampTz => ElementFromStaging(type.Kind, staged),
            ValueKind.Interval => $"CAST({staged} AS INTERVAL)",
            _ => staged,
        };
    }

    /// <summary>Whether two DuckDB type spellings name the same type.</summary>
    public static bool SameType(string left, string right) =>
        string.Equals(Normalize(left), Normalize(right), StringComparison.OrdinalIgnoreCase);

    /// <summary>Appends a value (never null, never unchanged) in the staging representation of <paramref name="type"/>.</summary>
    public static Action<IDuckDBAppenderRow, object> Writer(ColumnType type) => type.IsArray ? ArrayWriter(type) : ScalarWriter(type);

    private static bool HasDuckDbPrecision(ColumnType type) => type.Precision is > 0 and <= 38 && (type.Scale ?? 0) <= type.Precision;

    private static string ElementFromStaging(ValueKind kind, string staged) => kind switch
    {
        ValueKind.Timestamp =>
            $"CASE {staged} WHEN {PositiveInfinity} THEN 'infinity'::TIMESTAMP WHEN {NegativeInfinity} THEN '-infinity'::TIMESTAMP ELSE make_timestamp({staged}) END",
        ValueKind.TimestampTz =>
            $"CASE {staged} WHEN {PositiveInfinity} THEN 'infinity'::TIMESTAMPTZ WHEN {NegativeInfinity} THEN '-infinity'::TIMESTAMPTZ ELSE make_timestamptz({staged}) END",
        ValueKind.Bytes => $"from_base64({staged})",
        _ => staged,
    };

    private static string Normalize(string type) => type.Replace(" ", string.Empty, StringComparison.Ordinal);

    private static Action<IDuckDBAppenderRow, object> ScalarWriter(ColumnType type) => type.Kind switch
    {
        ValueKind.Int16 => static (row, value) => row.AppendValue((short)value),
        ValueKind.Int32 => static (row, value) => row.AppendValue((int)value),
        ValueKind.Int64 => static (row, value) => row.AppendValue((long)value),
        ValueKind.Decimal when HasDuckDbPrecision(type) => static (row, value) => row.AppendValue((decimal)value),
        ValueKind.Decimal => static (row, value) => row.AppendValue(((decimal)value).ToString(CultureInfo.InvariantCulture)),
        ValueKind.Float32 => static (row, value) => row.AppendValue((float)value),
        ValueKind.Float64 => static (row, value) => row.AppendValue((double)value),
        ValueKind.Boolean => static (row, value) => row.AppendValue((bool)value),
        ValueKind.Date => static (row, value) => row.AppendValue((DuckDBDateOnly)(DateOnly)value),
        ValueKind.Time => static (row, value) => row.AppendValue((DuckDBTimeOnly)(TimeOnly)value),
        ValueKind.Timestamp or ValueKind.TimestampTz => static (row, value) => row.AppendValue(Microseconds((DateTime)value)),
        ValueKind.Interval => static (row, value) => row.AppendValue(IntervalText((NpgsqlInterval)value)),
        ValueKind.Uuid => static (row, value) => row.AppendValue((Guid)value),
        ValueKind.Bytes => static (row, value) => row.AppendValue((byte[])value),
        ValueKind.NumericText or ValueKind.Text or ValueKind.Json or ValueKind.Enum => static (row, value) => row.AppendValue((string)value),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, "Unknown value kind."),
    };

    private static Action<IDuckDBAppenderRow, object> ArrayWriter(ColumnType type) => type.Kind switch
    {
        ValueKind.Int16 => static (row, value) => AppendStructs<short>(row, value),
        ValueKind.Int32 => static (row, value) => AppendStructs<int>(row, value),
        ValueKind.Int64 => static (row, value) => AppendStructs<long>(row, value),
        ValueKind.Decimal when HasDuckDbPrecision(type) => static (row, value) => AppendStructs<decimal>(row, value),
        ValueKind.Decimal => static (row, value) =>
            row.AppendValue(ToText<decimal>(value, static d => d.ToString(CultureInfo.InvariantCulture))),
        ValueKind.Float32 => static (row, value) => AppendStructs<float>(row, value),
        ValueKind.Float64 => static (row, value) => AppendStructs<double>(row, value),
        ValueKind.Boolean => static (row, value) => AppendStructs<bool>(row, value),
        ValueKind.Date => static (row, value) => AppendStructs<DateOnly>(row, value),
        ValueKind.Time => static (row, value) => AppendStructs<TimeOnly>(row, value),
        ValueKind.Timestamp or ValueKind.TimestampTz => static (row, value) =>
            row.AppendValue(ConvertToStructs<DateTime, long>(value, Microseconds)),
        ValueKind.Interval => static (row, value) => row.AppendValue(ToText<NpgsqlInterval>(value, IntervalText)),
        ValueKind.Uuid => static (row, value) => AppendStructs<Guid>(row, value),
        ValueKind.Bytes => static (row, value) => row.AppendValue(((IEnumerable<byte[]?>)value).Select(static item => item is null ? null : Convert.ToBase64String(item)).ToArray()),
        ValueKind.NumericText or ValueKind.Text or ValueKind.Json or ValueKind.Enum => static (row, value) =>
            row.AppendValue((IEnumerable<string?>)value),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, "Unknown value kind."),
    };

    /// <summary>Whether a value is one of the timestamp infinities, which only the staged path writes.</summary>
    public static bool IsInfinity(object? value) => value is DateTime time && (time == DateTime.MaxValue || time == DateTime.MinValue);

    /// <summary>Microseconds since the Unix epoch; the infinities Npgsql reads as Min/MaxValue become DuckDB's infinities.</summary>
    internal static long Microseconds(DateTime value)
    {
        if (value == DateTime.MaxValue)
        {
            return PositiveInfinity;
        }

        if (value == DateTime.MinValue)
        {
            return NegativeInfinity;
        }

        return (value.Ticks - DateTime.UnixEpoch.Ticks) / TimeSpan.TicksPerMicrosecond;
    }

    internal static string IntervalText(NpgsqlInterval value) =>
        string.Create(CultureInfo.InvariantCulture, $"{value.Months} months {value.Days} days {value.Time} microseconds");

    // Arrays arrive as T?[] (or T[] when the source knew there are no nulls); the appender's list writer takes both.
    private static IDuckDBAppenderRow AppendStructs<T>(IDuckDBAppenderRow row, object value)
        where T : struct =>
        value is IEnumerable<T?> nullable ? row.AppendValue(nullable) : row.AppendValue((IEnumerable<T>)value);

    private static string?[] ToText<TSource>(object value, Func<TSource, string> convert)
        where TSource : struct =>
        value is IEnumerable<TSource?> nullable
            ? [.. nullable.Select(item => item is { } present ? convert(present) : null)]
            : [.. ((IEnumerable<TSource>)value).Select(item => (string?)convert(item))];

    private static TResult?[] ConvertToStructs<TSource, TResult>(object value, Func<TSource, TResult> convert)
        where TSource : struct
        where TResult : struct
    {
        if (value is IEnumerable<TSource?> nullable)
        {
            return [.. nullable.Select(item => item is { } present ? convert(present) : (TResult?)null)];
        }

        return [.. ((IEnumerable<TSource>)value).Select(item => (TResult?)convert(item))];
    }
}
