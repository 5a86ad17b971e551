using System.Buffers;
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
    /// (a row larger than that on its own is an error naming the table: no request could carry it). Each array is
    /// encoded as it is needed: enumerate and send one at a time, and no more than one array is held.
    /// </summary>
    public static IEnumerable<StagedJson> Chunks(string table, IReadOnlyList<ColumnSchema> columns, IEnumerable<object?[]> rows, int maxRequestBytes)
    {
        var chunker = new JsonChunker(table, columns, maxRequestBytes);
        foreach (var row in rows)
        {
            if (chunker.Add(row) is { } full)
            {
                yield return full;
            }
        }
        if (chunker.Finish() is { } last)
        {
            yield return last;
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
    /// it, <see cref="Finish"/> the last one. Each array is written straight into a <see cref="StagedJson"/> as the request
    /// carries it (escaped inside the request's JSON), so its size is known exactly and no string of it is ever made.
    /// </summary>
    internal sealed class JsonChunker
    {
        private readonly string _table;
        private readonly IReadOnlyList<ColumnSchema> _columns;
        private readonly int _budget;
        private readonly ArrayBufferWriter<byte> _row = new();
        private readonly Utf8JsonWriter _rowWriter;
        private SegmentedBuffer _chunk = new();

        public JsonChunker(string table, IReadOnlyList<ColumnSchema> columns, int maxRequestBytes)
        {
            _budget = maxRequestBytes - EnvelopeBytes;
            if (_budget <= 0)
            {
                throw new ArgumentOutOfRangeException(nameof(maxRequestBytes), maxRequestBytes, $"must exceed {EnvelopeBytes} bytes");
            }
            _table = table;
            _columns = columns;
            _rowWriter = new Utf8JsonWriter(_row);
        }

        /// <summary>Rows in the array being filled.</summary>
        public int PendingRows { get; private set; }

        public StagedJson? Add(object?[] row)
        {
            _row.ResetWrittenCount();
            _rowWriter.Reset();
            WriteRow(_rowWriter, _columns, row);
            var json = _row.WrittenSpan;
            var bytes = StagedJson.EscapedLength(json) + 1;
            if (bytes + 1 > _budget)
            {
                throw new ArgumentException($"A row of {_table} needs {bytes} bytes, more than a request may carry ({_budget}).", nameof(row));
            }
            StagedJson? full = null;
            if (_chunk.Length + bytes + 1 > _budget)
            {
                full = Take();
            }
            _chunk.Write(PendingRows == 0 ? "["u8 : ","u8);
            StagedJson.WriteEscaped(_chunk, json);
            PendingRows++;
            return full;
        }

        public StagedJson? Finish() => PendingRows > 0 ? Take() : null;

        private StagedJson Take()
        {
            _chunk.Write("]"u8);
            var taken = new StagedJson(_chunk, PendingRows);
            _chunk = new SegmentedBuffer();
            PendingRows = 0;
            return taken;
        }
    }

    // Utf8JsonWriter's default encoder writes every non-ASCII character as \uXXXX, so a row's JSON is ASCII whose only
    // characters that need escaping again inside a JSON string are quotes and backslashes (see StagedJson).
    private static void WriteRow(Utf8JsonWriter writer, IReadOnlyList<ColumnSchema> columns, object?[] row)
    {
        writer.WriteStartObject();
        for (var i = 0; i < columns.Count; i++)
        {
            writer.WritePropertyName(columns[i].Name);
            WriteValue(writer, columns[i].Type, row[i]);
        }
        writer.WriteEndObject();
        writer.Flush();
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

/// <summary>
/// Rows staged as one JSON array and bound as a TEXT value, held as the request carries it: the array's UTF-8 text
/// escaped for the inside of a JSON string, in small segments (<see cref="SegmentedBuffer"/>), never as one string.
/// </summary>
public sealed class StagedJson
{
    internal StagedJson(SegmentedBuffer escaped, int rows)
    {
        Escaped = escaped;
        Rows = rows;
    }

    /// <summary>Rows in the array.</summary>
    public int Rows { get; }

    /// <summary>What the value adds to a request body: its escaped bytes, without the quotes around them.</summary>
    public int Bytes => checked((int)Escaped.Length);

    internal SegmentedBuffer Escaped { get; }

    /// <summary>The array's JSON text (for tests and diagnostics: it is the large string this type exists to avoid).</summary>
    public override string ToString()
    {
        var escaped = new byte[Escaped.Length + 2];
        escaped[0] = escaped[^1] = (byte)'"';
        var at = 1;
        foreach (var segment in Escaped.Segments())
        {
            segment.Span.CopyTo(escaped.AsSpan(at));
            at += segment.Length;
        }
        return JsonSerializer.Deserialize<string>(escaped)!;
    }

    /// <summary>
    /// The length of <paramref name="json"/> escaped for a JSON string. Only for text Utf8JsonWriter wrote with its
    /// default encoder: ASCII without control characters, where quotes and backslashes are all that need escaping.
    /// </summary>
    internal static int EscapedLength(ReadOnlySpan<byte> json) => json.Length + json.Count((byte)'"') + json.Count((byte)'\\');

    internal static void WriteEscaped(SegmentedBuffer output, ReadOnlySpan<byte> json)
    {
        while (true)
        {
            var special = json.IndexOfAny((byte)'"', (byte)'\\');
            if (special < 0)
            {
                output.Write(json);
                return;
            }
            output.Write(json[..special]);
            output.Write(json[special] == (byte)'"' ? "\\\""u8 : "\\\\"u8);
            json = json[(special + 1)..];
        }
    }
}
