using System.Collections;
using System.Data.Common;
using System.Globalization;
using DuckDB.NET.Native;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.DataPlane.Schema;
using NpgsqlTypes;
using static Freshet.DataPlane.Tests.Destinations.DuckDb.Make;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

public sealed class DuckDbDestinationValueTests
{
    private static readonly ColumnSchema[] ValueColumns =
    [
        Key("id"),
        Column("i16", ValueKind.Int16),
        Column("i32", ValueKind.Int32),
        Column("i64", ValueKind.Int64),
        Column("dec", ValueKind.Decimal, precision: 12, scale: 2),
        Column("dec28", ValueKind.Decimal, precision: 28, scale: 10),
        Column("num", ValueKind.NumericText),
        Column("f32", ValueKind.Float32),
        Column("f64", ValueKind.Float64),
        Column("txt", ValueKind.Text),
        Column("flag", ValueKind.Boolean),
        Column("day", ValueKind.Date),
        Column("tod", ValueKind.Time),
        Column("ts", ValueKind.Timestamp),
        Column("tstz", ValueKind.TimestampTz),
        Column("span", ValueKind.Interval),
        Column("uid", ValueKind.Uuid),
        Column("doc", ValueKind.Json),
        Column("bin", ValueKind.Bytes),
        Column("mood", ValueKind.Enum),
        Column("a_i16", ValueKind.Int16, array: true),
        Column("a_i32", ValueKind.Int32, array: true),
        Column("a_i64", ValueKind.Int64, array: true),
        Column("a_dec", ValueKind.Decimal, array: true, precision: 12, scale: 2),
        Column("a_num", ValueKind.NumericText, array: true),
        Column("a_f32", ValueKind.Float32, array: true),
        Column("a_f64", ValueKind.Float64, array: true),
        Column("a_txt", ValueKind.Text, array: true),
        Column("a_flag", ValueKind.Boolean, array: true),
        Column("a_day", ValueKind.Date, array: true),
        Column("a_tod", ValueKind.Time, array: true),
        Column("a_ts", ValueKind.Timestamp, array: true),
        Column("a_tstz", ValueKind.TimestampTz, array: true),
        Column("a_span", ValueKind.Interval, array: true),
        Column("a_uid", ValueKind.Uuid, array: true),
        Column("a_doc", ValueKind.Json, array: true),
        Column("a_bin", ValueKind.Bytes, array: true),
        Column("a_mood", ValueKind.Enum, array: true),
    ];

    private static readonly object?[][] ValueRows =
    [
        [
            1, (short)12, 123456, 1234567890123L, 1234.56m, 123456789012345678.0123456789m, "123456789012345678901234567890.123456789",
            1.5f, Math.PI, "hello ünïcode ✓", true, new DateOnly(2024, 2, 29), new TimeOnly(13, 45, 30).Add(TimeSpan.FromTicks(1234560)),
            new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Unspecified).AddTicks(1234560),
            new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc).AddTicks(6543210),
            new NpgsqlInterval(14, 3, 3_723_000_456), Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"), """{"a": [1, 2], "b": null}""",
            new byte[] { 0, 1, 2, 255 }, "happy",
            new short?[] { 1, null, -3 }, new int?[] { 1, 2, 3 }, new long?[] { long.MaxValue, null }, new decimal?[] { 1.50m, null, -2.25m },
            new[] { "-0.000000000000000000000000000000001", null }, new float?[] { 1.25f, null }, new double?[] { -0.5, null, double.MaxValue },
            new[] { "a", null, string.Empty }, new bool?[] { true, null, false }, new DateOnly?[] { new DateOnly(1999, 12, 31), null },
            new TimeOnly?[] { new TimeOnly(0, 0), null, new TimeOnly(23, 59, 59).Add(TimeSpan.FromTicks(9999990)) },
            new DateTime?[] { new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Unspecified).AddTicks(10), null },
            new DateTime?[] { new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc).AddTicks(70), null },
            new NpgsqlInterval?[] { new NpgsqlInterval(1, -2, 3), null }, new Guid?[] { Guid.Parse("6f9619ff-8b86-d011-b42d-00c04fc964ff"), null },
            new[] { "{}", null, "[1]" }, new[] { new byte[] { 1, 2 }, null, [] }, new[] { "sad", null },
        ],
        [
            2, short.MinValue, int.MinValue, long.MinValue, -9999999999.99m, -999999999999999999.9999999999m,
            "-123456789012345678901234567890123456789.000000000000000000001", float.MaxValue, double.NegativeInfinity, string.Empty, false,
            DateOnly.MinValue, new TimeOnly(23, 59, 59).Add(TimeSpan.FromTicks(9999990)), DateTime.MaxValue,
            DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc), new NpgsqlInterval(-5, -7, -1), Guid.Empty, " [ 1 ,  2 ] ",
            Array.Empty<byte>(), string.Empty,
            Array.Empty<short?>(), Array.Empty<int?>(), Array.Empty<long?>(), Array.Empty<decimal?>(), Array.Empty<string?>(),
            Array.Empty<float?>(), Array.Empty<double?>(), Array.Empty<string?>(), Array.Empty<bool?>(), Array.Empty<DateOnly?>(),
            Array.Empty<TimeOnly?>(), Array.Empty<DateTime?>(), Array.Empty<DateTime?>(), Array.Empty<NpgsqlInterval?>(), Array.Empty<Guid?>(),
            Array.Empty<string?>(), Array.Empty<byte[]?>(), Array.Empty<string?>(),
        ],
        [
            3, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
            null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null, null,
        ],
        [
            4, short.MaxValue, int.MaxValue, long.MaxValue, 9999999999.99m, 0.0000000001m, "NaN", float.NaN, double.Epsilon, "'\"\\\n\t",
            true, DateOnly.MaxValue, TimeOnly.MinValue, DateTime.MinValue,
            DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc), new NpgsqlInterval(int.MaxValue, int.MinValue, long.MinValue + 1),
            Guid.Parse("ffffffff-ffff-ffff-ffff-ffffffffffff"), "\"\"", new byte[] { 0 }, "ünïcode label",
            new short?[] { null }, new[] { 7 }, new long[] { -1 }, new[] { 0.01m }, new[] { "0" }, new[] { float.NegativeInfinity },
            new[] { 0.0 }, new[] { "x" }, new[] { false }, new[] { DateOnly.MaxValue }, new[] { TimeOnly.MinValue },
            new DateTime?[] { DateTime.MaxValue, DateTime.MinValue, new DateTime(1969, 12, 31, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(9999990) },
            new DateTime?[] { DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc), new DateTime(1900, 1, 1, 0, 0, 0, DateTimeKind.Utc) },
            new[] { new NpgsqlInterval(0, 0, 0) }, new[] { Guid.Empty }, new[] { "null" }, new[] { new byte[] { 255 } }, new string?[] { null },
        ],
    ];

    [Fact]
    public Task EveryValueKind_RoundTripsThroughSnapshotAndApply() => RoundTripAsync(ValueColumns, ValueRows, firstBatchRows: ValueRows.Length);

    /// <summary>
    /// The kinds that new rows append straight into the target (arrays always go through staging; intervals are written
    /// as their three parts, which must be what casting the staged text gives):
    /// the first row takes the direct path of a snapshot chunk and of an apply; the later rows hold timestamp
    /// infinities, which send the rest of the chunk, and their batch, through staging.
    /// </summary>
    [Fact]
    public Task DirectlyAppendedKinds_RoundTripThroughSnapshotAndApply()
    {
        var direct = ValueColumns.Select((c, i) => (Column: c, Index: i)).Where(x => new WrittenColumn(x.Column.Name, x.Column.Type, x.Column.Name, DuckDbTypes.TargetType(x.Column.Type), x.Column.IsKey).AppendsDirectly).ToArray();
        Assert.Contains(direct, x => x.Column.Type.Kind == ValueKind.TimestampTz);
        Assert.Contains(direct, x => x.Column.Type.Kind == ValueKind.Interval);
        return RoundTripAsync(
            [.. direct.Select(x => x.Column)],
            [.. ValueRows.Select(row => direct.Select(x => row[x.Index]).ToArray())],
            firstBatchRows: 1);
    }

    [Fact]
    public async Task EnsureTableAsync_MapsEveryKindToItsDuckDbType()
    {
        using var file = new TempDuckDbFile();
        var table = new TableSchema(new TableId("public", "typed"), "typed", ValueColumns);
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, table);

        var types = await file.QueryAsync(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'typed' ORDER BY column_index");

        var expected = new[]
        {
            "id INTEGER", "i16 SMALLINT", "i32 INTEGER", "i64 BIGINT", "dec DECIMAL(12,2)", "dec28 DECIMAL(28,10)", "num VARCHAR", "f32 FLOAT",
            "f64 DOUBLE", "txt VARCHAR", "flag BOOLEAN", "day DATE", "tod TIME", "ts TIMESTAMP", "tstz TIMESTAMP WITH TIME ZONE", "span INTERVAL",
            "uid UUID", "doc JSON", "bin BLOB", "mood VARCHAR", "a_i16 SMALLINT[]", "a_i32 INTEGER[]", "a_i64 BIGINT[]", "a_dec DECIMAL(12,2)[]",
            "a_num VARCHAR[]", "a_f32 FLOAT[]", "a_f64 DOUBLE[]", "a_txt VARCHAR[]", "a_flag BOOLEAN[]", "a_day DATE[]", "a_tod TIME[]",
            "a_ts TIMESTAMP[]", "a_tstz TIMESTAMP WITH TIME ZONE[]", "a_span INTERVAL[]", "a_uid UUID[]", "a_doc JSON[]", "a_bin BLOB[]",
            "a_mood VARCHAR[]", "_freshet_position BIGINT", "_freshet_sequence BIGINT", "_freshet_committed_at TIMESTAMP WITH TIME ZONE",
            "_freshet_synced_at TIMESTAMP WITH TIME ZONE", "_freshet_deleted BOOLEAN", "_freshet_deleted_at TIMESTAMP WITH TIME ZONE",
        };
        Assert.Equal(expected, types.Select(t => $"{t[0]} {t[1]}"));
    }

    [Fact]
    public async Task InfiniteTimestamps_AreStoredAsDuckDbInfinity()
    {
        using var file = new TempDuckDbFile();
        var table = Table("moments", Key("id"), Column("ts", ValueKind.Timestamp), Column("tstz", ValueKind.TimestampTz));
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, table);

        await destination.ApplyAsync(
            Batch(
                Insert(table, 10, 0, 1, DateTime.MaxValue, DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc)),
                Insert(table, 10, 1, 2, DateTime.MinValue, DateTime.SpecifyKind(DateTime.MaxValue, DateTimeKind.Utc))),
            CancellationToken.None);

        var rows = await file.QueryAsync("SELECT CAST(ts AS VARCHAR), CAST(tstz AS VARCHAR) FROM moments ORDER BY id");
        Assert.Equal(["infinity", "-infinity"], rows[0]);
        Assert.Equal(["-infinity", "infinity"], rows[1]);
    }

    private static async Task RoundTripAsync(ColumnSchema[] columns, object?[][] values, int firstBatchRows)
    {
        using var file = new TempDuckDbFile();
        var snapshotted = new TableSchema(new TableId("public", "values_snapshot"), "values_snapshot", columns);
        var applied = new TableSchema(new TableId("public", "values_applied"), "values_applied", columns);
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, snapshotted, applied);

        await destination.BeginSnapshotAsync([snapshotted], "plan", CancellationToken.None);
        var copied = await destination.CopySnapshotChunkAsync(
            snapshotted, new SnapshotChunk(0, 100, Make.Epoch), Rows(values), CancellationToken.None);
        var inserts = values.Select((row, i) => Insert(applied, 200, i, row)).ToArray();
        await destination.ApplyAsync(Batch(inserts[..firstBatchRows]), CancellationToken.None);
        if (firstBatchRows < inserts.Length)
        {
            await destination.ApplyAsync(Batch(inserts[firstBatchRows..]), CancellationToken.None);
        }

        Assert.Equal(values.Length, copied);
        foreach (var table in new[] { snapshotted, applied })
        {
            var stored = await file.ReadAsync($"SELECT * FROM {table.DestinationName} ORDER BY id", reader => ReadRows(reader, table));
            Assert.Equal(values.Length, stored.Count);
            for (var row = 0; row < values.Length; row++)
            {
                for (var column = 0; column < columns.Length; column++)
                {
                    var expected = values[row][column];
                    var actual = stored[row][column];
                    Assert.True(
                        Same(expected, actual),
                        $"{table.DestinationName} row {row + 1} column {columns[column].Name}: expected {Show(expected)}, read {Show(actual)}");
                }
            }
        }
    }

    private static List<object?[]> ReadRows(DbDataReader reader, TableSchema table)
    {
        var rows = new List<object?[]>();
        while (reader.Read())
        {
            rows.Add([.. table.Columns.Select((c, i) => Read(reader, i, c.Type))]);
        }

        return rows;
    }

    /// <summary>Reads a stored value back into the CLR representation of its value kind.</summary>
    private static object? Read(DbDataReader reader, int ordinal, ColumnType type)
    {
        if (reader.IsDBNull(ordinal))
        {
            return null;
        }

        if (type.IsArray)
        {
            return type.Kind switch
            {
                ValueKind.Int16 => reader.GetFieldValue<List<short?>>(ordinal),
                ValueKind.Int32 => reader.GetFieldValue<List<int?>>(ordinal),
                ValueKind.Int64 => reader.GetFieldValue<List<long?>>(ordinal),
                ValueKind.Decimal => reader.GetFieldValue<List<decimal?>>(ordinal),
                ValueKind.Float32 => reader.GetFieldValue<List<float?>>(ordinal),
                ValueKind.Float64 => reader.GetFieldValue<List<double?>>(ordinal),
                ValueKind.Boolean => reader.GetFieldValue<List<bool?>>(ordinal),
                ValueKind.Date => reader.GetFieldValue<List<DateOnly?>>(ordinal),
                ValueKind.Time => reader.GetFieldValue<List<TimeOnly?>>(ordinal),
                ValueKind.Timestamp or ValueKind.TimestampTz =>
                    reader.GetFieldValue<List<DuckDBTimestamp?>>(ordinal).Select(t => t is { } v ? FromDuckDb(v) : (DateTime?)null).ToList(),
                ValueKind.Interval =>
                    reader.GetFieldValue<List<DuckDBInterval?>>(ordinal).Select(i => i is { } v ? FromDuckDb(v) : (NpgsqlInterval?)null).ToList(),
                ValueKind.Uuid => reader.GetFieldValue<List<Guid?>>(ordinal),
                ValueKind.Bytes => reader.GetFieldValue<List<Stream?>>(ordinal).Select(s => s is null ? null : Bytes(s)).ToList(),
                _ => reader.GetFieldValue<List<string?>>(ordinal),
            };
        }

        return type.Kind switch
        {
            ValueKind.Int16 => reader.GetInt16(ordinal),
            ValueKind.Int32 => reader.GetInt32(ordinal),
            ValueKind.Int64 => reader.GetInt64(ordinal),
            ValueKind.Decimal => reader.GetDecimal(ordinal),
            ValueKind.Float32 => reader.GetFloat(ordinal),
            ValueKind.Float64 => reader.GetDouble(ordinal),
            ValueKind.Boolean => reader.GetBoolean(ordinal),
            ValueKind.Date => reader.GetFieldValue<DateOnly>(ordinal),
            ValueKind.Time => reader.GetFieldValue<TimeOnly>(ordinal),
            ValueKind.Timestamp or ValueKind.TimestampTz => FromDuckDb(reader.GetFieldValue<DuckDBTimestamp>(ordinal)),
            ValueKind.Interval => FromDuckDb(reader.GetFieldValue<DuckDBInterval>(ordinal)),
            ValueKind.Uuid => reader.GetGuid(ordinal),
            ValueKind.Bytes => Bytes(reader.GetStream(ordinal)),
            _ => reader.GetString(ordinal),
        };
    }

    private static DateTime FromDuckDb(DuckDBTimestamp timestamp) =>
        timestamp.IsPositiveInfinity ? DateTime.MaxValue : timestamp.IsNegativeInfinity ? DateTime.MinValue : timestamp.ToDateTime();

    private static NpgsqlInterval FromDuckDb(DuckDBInterval interval) => new(interval.Months, interval.Days, unchecked((long)interval.Micros));

    private static byte[] Bytes(Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    private static bool Same(object? expected, object? actual) => (expected, actual) switch
    {
        (null, null) => true,
        (null, _) or (_, null) => false,
        (DateTime e, DateTime a) => e.Ticks == a.Ticks,
        (string e, string a) => string.Equals(e, a, StringComparison.Ordinal),
        (byte[] e, byte[] a) => e.AsSpan().SequenceEqual(a),
        (IEnumerable e, IEnumerable a) => e.Cast<object?>().Count() == a.Cast<object?>().Count()
            && e.Cast<object?>().Zip(a.Cast<object?>()).All(p => Same(p.First, p.Second)),
        _ => Equals(expected, actual),
    };

    private static string Show(object? value) => value switch
    {
        null => "null",
        string s => $"\"{s}\"",
        DateTime t => t.ToString("O", CultureInfo.InvariantCulture),
        byte[] b => "0x" + Convert.ToHexString(b),
        IEnumerable items => "[" + string.Join(", ", items.Cast<object?>().Select(Show)) + "]",
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };
}
