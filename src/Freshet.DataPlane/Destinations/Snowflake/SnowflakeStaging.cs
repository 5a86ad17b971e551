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
    internal const int EnvelopeBytes = 16 * 1024;

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
        var chunker = new JsonChunker(table, columns, maxRequestBytes);
        foreach (var row in rows)
        {
            if (chunker.Add(row) is { } full)
            {
                yield return full.Json;
            }
        }
        if (chunker.Finish() is { } last)
        {
            yield return last.Json;
        }
    }

    /// <summary>The expression that reads one staged JSON field as <paramref name="column"/>'s Snowflake type.</summary>
    public static string Extract(ColumnSchema column) => Extract($"f.value:{SnowflakeTypes.Quote(column.Name)}", column.Type);

    public static string Extract(string path, ColumnType columnType)
    {
        var type = SnowflakeTypes.TargetType(columnType);
        return type switch
        {
            // JSON values travel as their text so that a JSON null stays distinct from SQL NULL.
            "VARIANT" => $"PARSE_JSON({path}::VARCHAR)",
            "BINARY" => $"HEX_DECODE_BINARY({path}::VARCHAR)",
            _ => $"{path}::{type}",
        };
    }

    /// <summary>
    /// Cuts rows into JSON arrays as they come: <see cref="Add"/> hands back an array when the next row would not fit in
    /// it, <see cref="Finish"/> the last one. Each array's size is counted as it is sent: escaped inside the request's JSON.
    /// </summary>
    internal sealed class JsonChunker
    {
        private readonly string _table;
        private readonly IReadOnlyList<ColumnSchema> _columns;
        private readonly int _budget;
        private readonly StringBuilder _chunk = new("[");
        private int _chunkBytes = 1;

        public JsonChunker(string table, IReadOnlyList<ColumnSchema> columns, int maxRequestBytes)
        {
            _budget = maxRequestBytes - EnvelopeBytes;
            if (_budget <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(maxRequestBytes), maxRequestBytes, $"must exceed {EnvelopeBytes} bytes");
            }
            _table = table;
            _columns = columns;
        }

        /// <summary>Rows in the array being filled.</summary>
        public int PendingRows { get; private set; }

        public (string Json, int Bytes)? Add(object?[] row)
        {
            var json = Row(_columns, row);
            // Inside the request body the array is itself a JSON string, escaped as the client's serializer escapes it
            // (quotes, backslashes, and with the default encoder also non-ASCII and HTML-sensitive characters as \uXXXX).
            var bytes = JsonEncodedText.Encode(json).EncodedUtf8Bytes.Length + 1;
            if (bytes + 1 > _budget)
            {
                throw new ArgumentException($"A row of {_table} needs {bytes} bytes, more than a request may carry ({_budget}).", nameof(row));
            }
            (string, int)? full = null;
            if (_chunkBytes + bytes + 1 > _budget)
            {
                full = Take();
            }
            if (_chunk.Length > 1)
            {
                _chunk.Append(',');
            }
            _chunk.Append(json);
            _chunkBytes += bytes;
            PendingRows++;
            return full;
        }

        public (string Json, int Bytes)? Finish() => PendingRows > 0 ? Take() : null;

        private (string, int) Take()
        {
            var taken = (_chunk.Append(']').ToString(), _chunkBytes + 1);
            _chunk.Clear().Append('[');
            _chunkBytes = 1;
            PendingRows = 0;
            return taken;
        }
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
            NpgsqlTypes.NpgsqlInterval interval => IsoInterval(interval),
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

    /// <summary>
    /// An interval as ISO 8601 (<c>P14M3DT3723.5S</c>): months, days and seconds kept apart, as PostgreSQL keeps them
    /// (a month is not a fixed number of days), and exact to the microsecond.
    /// </summary>
    public static string IsoInterval(NpgsqlTypes.NpgsqlInterval interval)
    {
        var seconds = interval.Time / 1_000_000m;
        return string.Create(CultureInfo.InvariantCulture, $"P{interval.Months}M{interval.Days}DT{seconds:0.######}S");
    }
}
