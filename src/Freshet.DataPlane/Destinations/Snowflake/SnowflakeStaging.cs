using System.Globalization;
using System.Text;
using System.Text.Json;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// Loads rows into a Snowflake table over the SQL API alone (no PUT, no external stage): rows travel as one TEXT binding
/// holding a JSON array of objects, flattened and cast column by column on the service —
/// <c>INSERT … SELECT f.value:"col"::TYPE … FROM TABLE(FLATTEN(INPUT =&gt; PARSE_JSON(?))) f</c>. Requests are cut so that
/// each body stays under the configured size limit (the SQL API documents none; the limit is a setting).
/// </summary>
internal static class SnowflakeStaging
{
    // Room for the statement text and the request's JSON envelope around the bound array (escaping included).
    private const int EnvelopeBytes = 16 * 1024;

    public static string CreateTable(string name, IReadOnlyList<ColumnSchema> columns, bool ifNotExists) =>
        $"CREATE {(ifNotExists ? "TABLE IF NOT EXISTS" : "TABLE")} {SnowflakeTypes.Quote(name)} ("
        + string.Join(", ", columns.Select(c => $"{SnowflakeTypes.Quote(c.Name)} {SnowflakeTypes.TargetType(c.Type)}{(c.IsKey ? " NOT NULL" : "")}"))
        + ")";

    public static string InsertFromJson(string table, IReadOnlyList<ColumnSchema> columns) =>
        $"INSERT INTO {SnowflakeTypes.Quote(table)} ({string.Join(", ", columns.Select(c => SnowflakeTypes.Quote(c.Name)))}) SELECT "
        + string.Join(", ", columns.Select(Extract))
        + " FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f";

    /// <summary>
    /// The rows as JSON arrays, each small enough that its request stays under <paramref name="maxRequestBytes"/>
    /// (a row larger than that on its own is an error naming the table: no request could carry it).
    /// </summary>
    public static IEnumerable<string> Chunks(string table, IReadOnlyList<ColumnSchema> columns, IEnumerable<object?[]> rows, int maxRequestBytes)
    {
        var budget = maxRequestBytes - EnvelopeBytes;
        if (budget <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(maxRequestBytes), maxRequestBytes, $"must exceed {EnvelopeBytes} bytes");
        }
        var chunk = new StringBuilder("[");
        var chunkBytes = 1;
        foreach (var row in rows)
        {
            var json = Row(columns, row);
            // Inside the request body the array is itself a JSON string, escaped as the client's serializer escapes it
            // (quotes, backslashes, and with the default encoder also non-ASCII and HTML-sensitive characters as \uXXXX).
            var bytes = JsonEncodedText.Encode(json).EncodedUtf8Bytes.Length + 1;
            if (bytes + 1 > budget)
            {
                throw new ArgumentException($"A row of {table} needs {bytes} bytes, more than a request may carry ({budget}).", nameof(rows));
            }
            if (chunkBytes + bytes + 1 > budget)
            {
                yield return chunk.Append(']').ToString();
                chunk.Clear().Append('[');
                chunkBytes = 1;
            }
            if (chunk.Length > 1)
            {
                chunk.Append(',');
            }
            chunk.Append(json);
            chunkBytes += bytes;
        }
        if (chunk.Length > 1)
        {
            yield return chunk.Append(']').ToString();
        }
    }

    private static string Extract(ColumnSchema column)
    {
        var path = $"f.value:{SnowflakeTypes.Quote(column.Name)}";
        var type = SnowflakeTypes.TargetType(column.Type);
        return type switch
        {
            // JSON values travel as their text so that a JSON null stays distinct from SQL NULL.
            "VARIANT" => $"PARSE_JSON({path}::VARCHAR)",
            "BINARY" => $"HEX_DECODE_BINARY({path}::VARCHAR)",
            _ => $"{path}::{type}",
        };
    }

    private static string Row(IReadOnlyList<ColumnSchema> columns, object?[] row)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            for (var i = 0; i < columns.Count; i++)
            {
                writer.WritePropertyName(columns[i].Name);
                WriteValue(writer, columns[i].Type, row[i]);
            }
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    // Values go as JSON strings in the forms Snowflake's casts read (ISO dates and times, plain decimal text), so no
    // precision is lost to JSON numbers.
    private static void WriteValue(Utf8JsonWriter writer, ColumnType type, object? value)
    {
        if (value is null or DBNull)
        {
            writer.WriteNullValue();
            return;
        }
        if (type.IsArray || type.Kind == ValueKind.Json)
        {
            writer.WriteStringValue(value is string text ? text : JsonSerializer.Serialize(value));
            return;
        }
        writer.WriteStringValue(value switch
        {
            bool b => b ? "true" : "false",
            DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
            TimeOnly t => t.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
            TimeSpan span when type.Kind == ValueKind.Time => span.ToString(@"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture),
            TimeSpan span => System.Xml.XmlConvert.ToString(span),
            // ISO 8601 with the offset attached: a form both Snowflake's AUTO input format and the emulator read.
            DateTime dt when type.Kind == ValueKind.TimestampTz => dt.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00:00",
            DateTime dt => dt.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
            DateTimeOffset o => o.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffffzzz", CultureInfo.InvariantCulture),
            byte[] bytes => Convert.ToHexString(bytes),
            float f => f.ToString("R", CultureInfo.InvariantCulture),
            double f => f.ToString("R", CultureInfo.InvariantCulture),
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString(),
        });
    }
}
