using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using Npgsql;
using NpgsqlTypes;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>Every value kind, scalar and array, with NULLs and edge values, lands in the target exactly as it left the source.</summary>
public sealed class PostgresDestinationValueTests(PostgresDestinationFixture fixture) : IClassFixture<PostgresDestinationFixture>
{
    private static readonly DateTime Timestamp = new DateTime(2024, 12, 31, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(1_234_560);
    private static readonly DateTime TimestampUtc = new DateTime(1999, 6, 30, 12, 0, 1, DateTimeKind.Utc).AddTicks(10);
    private static readonly Guid Id = Guid.Parse("6f1c2f2e-8a4b-4c53-9a55-0d3d1f7a9b10");

    [Fact]
    public async Task CopySnapshotChunkAsync_EveryValueKind_RoundTrips()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();
        var table = KindsTable("kinds_snapshot");
        await destination.EnsureTableAsync(table, Contracts.SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.BeginSnapshotAsync([table], "plan", CancellationToken.None);

        var count = await destination.CopySnapshotChunkAsync(table, new SnapshotChunk(0, 77, At(77)), Rows().ToAsyncEnumerable(), CancellationToken.None);

        Assert.Equal(3, count);
        AssertRows(Rows(), await ReadBackAsync(scope, table));
        await AssertTargetTypesAsync(scope, table);
    }

    [Fact]
    public async Task ApplyAsync_EveryValueKind_RoundTripsThroughInsertUpdateAndUnchanged()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();
        var table = KindsTable("kinds_apply");
        await destination.EnsureTableAsync(table, Contracts.SchemaChangePolicy.Propagate, CancellationToken.None);
        var rows = Rows();

        await destination.ApplyAsync(Batch([.. rows.Select((r, i) => Insert(table, 10, i, r))]), CancellationToken.None);
        AssertRows(rows, await ReadBackAsync(scope, table));

        // Updates move every value through the conflict path: row 1 takes row 3's values and the other way round.
        var swapped = new[] { WithId(rows[2], 1), WithId(rows[1], 2), WithId(rows[0], 3) };
        await destination.ApplyAsync(Batch([.. swapped.Select((r, i) => Update(table, 20, i, r))]), CancellationToken.None);
        AssertRows(swapped, await ReadBackAsync(scope, table));

        // Unchanged values keep the target's; inside a batch they are filled from the key's earlier change.
        var unchanged = Enumerable.Range(1, 3).Select(id => AllUnchanged(table, id)).ToList();
        await destination.ApplyAsync(Batch(
        [
            .. unchanged.Select((r, i) => Update(table, 30, i, r)),
            Insert(table, 30, 10, WithId(rows[0], 4)),
            Update(table, 30, 11, AllUnchanged(table, 4)),
        ]), CancellationToken.None);
        AssertRows([.. swapped, WithId(rows[0], 4)], await ReadBackAsync(scope, table));
    }

    private static TableSchema KindsTable(string name) => Table(
        name,
        Key("id"),
        Column("c_i16", ValueKind.Int16),
        Column("c_i32", ValueKind.Int32),
        Column("c_i64", ValueKind.Int64),
        Column("c_dec", ValueKind.Decimal, "numeric(12,2)", precision: 12, scale: 2),
        Column("c_numtext", ValueKind.NumericText, "numeric"),
        Column("c_numtext_scaled", ValueKind.NumericText, "numeric(40,10)", precision: 40, scale: 10),
        Column("c_f32", ValueKind.Float32),
        Column("c_f64", ValueKind.Float64),
        Column("c_text", ValueKind.Text),
        Column("c_varchar", ValueKind.Text, "character varying(40)"),
        Column("c_char", ValueKind.Text, "character(5)"),
        Column("c_bool", ValueKind.Boolean),
        Column("c_date", ValueKind.Date),
        Column("c_time", ValueKind.Time),
        Column("c_ts", ValueKind.Timestamp),
        Column("c_tstz", ValueKind.TimestampTz),
        Column("c_interval", ValueKind.Interval),
        Column("c_uuid", ValueKind.Uuid),
        Column("c_json", ValueKind.Json, "json"),
        Column("c_jsonb", ValueKind.Json, "jsonb"),
        Column("c_bytea", ValueKind.Bytes),
        Column("c_enum", ValueKind.Enum, "public.mood"),
        Column("a_i16", ValueKind.Int16, isArray: true),
        Column("a_i32", ValueKind.Int32, isArray: true),
        Column("a_i64", ValueKind.Int64, isArray: true),
        Column("a_dec", ValueKind.Decimal, "numeric(10,3)[]", isArray: true, precision: 10, scale: 3),
        Column("a_numtext", ValueKind.NumericText, "numeric[]", isArray: true),
        Column("a_f32", ValueKind.Float32, isArray: true),
        Column("a_f64", ValueKind.Float64, isArray: true),
        Column("a_text", ValueKind.Text, isArray: true),
        Column("a_varchar", ValueKind.Text, "character varying(10)[]", isArray: true),
        Column("a_char", ValueKind.Text, "character(3)[]", isArray: true),
        Column("a_bool", ValueKind.Boolean, isArray: true),
        Column("a_date", ValueKind.Date, isArray: true),
        Column("a_time", ValueKind.Time, isArray: true),
        Column("a_ts", ValueKind.Timestamp, isArray: true),
        Column("a_tstz", ValueKind.TimestampTz, isArray: true),
        Column("a_interval", ValueKind.Interval, isArray: true),
        Column("a_uuid", ValueKind.Uuid, isArray: true),
        Column("a_json", ValueKind.Json, "json[]", isArray: true),
        Column("a_jsonb", ValueKind.Json, "jsonb[]", isArray: true),
        Column("a_bytea", ValueKind.Bytes, isArray: true),
        Column("a_enum", ValueKind.Enum, "mood[]", isArray: true));

    /// <summary>A typical row, a row of NULLs, and a row of edge values (infinities, NaN, empty arrays, null elements).</summary>
    private static object?[][] Rows() =>
    [
        [
            1, (short)-12345, int.MaxValue, long.MinValue, 1234567890.12m, "123456789012345678901234567890.123456789", "123456789012345678901234567890.1234567890",
            3.25f, Math.PI, "héllo wörld ✓ 😀", "varchar text", "ab   ", true, new DateOnly(2024, 2, 29), TimeOnly.FromTimeSpan(new TimeSpan(0, 23, 59, 59, 999, 999)),
            Timestamp, TimestampUtc, new NpgsqlInterval(14, 3, 4_000_005), Id, "{\"b\": 1,  \"a\": [1, 2], \"a\": null}", "{\"a\": [1, 2], \"b\": {\"c\": null}}",
            new byte[] { 0, 1, 2, 255, 0 }, "happy",
            new short?[] { 1, null, -3 }, new int?[] { 1, 2, 3 }, new long?[] { long.MaxValue, null }, new decimal?[] { 1.500m, null, -9999999.999m },
            new[] { "1.5", null, "-99999999999999999999999999999999.000001", "NaN" }, new float?[] { 1.5f, float.NaN, float.PositiveInfinity, null },
            new double?[] { double.NegativeInfinity, 0.1, null }, new[] { "a", null, "", "with \"quotes\", commas {} and \\" }, new[] { "x", null }, new[] { "ab ", null },
            new bool?[] { true, null, false }, new DateOnly?[] { new DateOnly(1, 1, 1), null }, new TimeOnly?[] { new TimeOnly(1, 2, 3), null },
            new DateTime?[] { Timestamp, null }, new DateTime?[] { TimestampUtc, null }, new NpgsqlInterval?[] { new NpgsqlInterval(0, 0, 1), null },
            new Guid?[] { Id, null }, new[] { "[1,  2]", null }, new[] { "{\"k\": \"v\"}", null }, new[] { new byte[] { 7 }, null, [] }, new[] { "sad", null, "happy" },
        ],
        [2, .. Enumerable.Repeat<object?>(null, 43)],
        [
            3, short.MinValue, int.MinValue, long.MaxValue, -0.01m, "NaN", "-0.0000000001",
            float.NaN, double.PositiveInfinity, "", "", "     ", false, DateOnly.MaxValue, TimeOnly.MinValue,
            DateTime.MaxValue, DateTime.SpecifyKind(DateTime.MinValue, DateTimeKind.Utc), new NpgsqlInterval(-1, -2, -3), Guid.Empty, "null", "[]",
            Array.Empty<byte>(), "sad",
            Array.Empty<short?>(), new int?[] { null }, Array.Empty<long?>(), Array.Empty<decimal?>(), Array.Empty<string>(), Array.Empty<float?>(),
            Array.Empty<double?>(), Array.Empty<string>(), Array.Empty<string>(), Array.Empty<string>(), Array.Empty<bool?>(), Array.Empty<DateOnly?>(),
            Array.Empty<TimeOnly?>(), Array.Empty<DateTime?>(), Array.Empty<DateTime?>(), Array.Empty<NpgsqlInterval?>(), Array.Empty<Guid?>(), Array.Empty<string>(),
            Array.Empty<string>(), Array.Empty<byte[]>(), Array.Empty<string>(),
        ],
    ];

    private static object?[] WithId(object?[] row, int id) => [id, .. row[1..]];

    private static object?[] AllUnchanged(TableSchema table, int id) => [id, .. Enumerable.Repeat<object?>(UnchangedValue.Instance, table.Columns.Count - 1)];

    private async Task AssertTargetTypesAsync(DestinationScope scope, TableSchema table)
    {
        var columns = await scope.ColumnsAsync(table.DestinationName);
        Assert.Equal("numeric(12,2)", columns["c_dec"]);
        Assert.Equal("numeric", columns["c_numtext"]);
        Assert.Equal("numeric(40,10)", columns["c_numtext_scaled"]);
        Assert.Equal("character varying(40)", columns["c_varchar"]);
        Assert.Equal("character(5)", columns["c_char"]);
        Assert.Equal("json", columns["c_json"]);
        Assert.Equal("jsonb", columns["c_jsonb"]);
        Assert.Equal("text", columns["c_enum"]);
        Assert.Equal("text[]", columns["a_enum"]);
        Assert.Equal("numeric(10,3)[]", columns["a_dec"]);
        Assert.Equal("character(3)[]", columns["a_char"]);
        Assert.Equal("timestamp with time zone", columns["c_tstz"]);
        Assert.Equal("boolean", columns[MetadataColumns.Deleted]);
        var key = await scope.ScalarAsync($"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{scope.Qualified(table.DestinationName)}'::regclass AND contype = 'p'");
        Assert.Equal("PRIMARY KEY (id)", key);
    }

    private static void AssertRows(IReadOnlyList<object?[]> expected, IReadOnlyList<object?[]> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var r = 0; r < expected.Count; r++)
        {
            for (var c = 0; c < expected[r].Length; c++)
            {
                AssertValue(expected[r][c], actual[r][c], $"row {r}, column {c}");
            }
        }
    }

    private static void AssertValue(object? expected, object? actual, string where)
    {
        if (expected is Array expectedArray)
        {
            var actualArray = Assert.IsAssignableFrom<Array>(actual);
            Assert.True(expectedArray.Length == actualArray.Length, $"{where}: {expectedArray.Length} elements expected, {actualArray.Length} found");
            for (var i = 0; i < expectedArray.Length; i++)
            {
                AssertValue(expectedArray.GetValue(i), actualArray.GetValue(i), $"{where}[{i}]");
            }

            return;
        }

        Assert.True(Equals(expected, actual), $"{where}: expected {expected ?? "NULL"} ({expected?.GetType().Name}), found {actual ?? "NULL"} ({actual?.GetType().Name})");
        if (expected is DateTime time && time != DateTime.MinValue && time != DateTime.MaxValue)
        {
            Assert.True(time.Kind == ((DateTime)actual!).Kind, $"{where}: kind {time.Kind} expected, {((DateTime)actual!).Kind} found");
        }
    }

    private async Task<List<object?[]>> ReadBackAsync(DestinationScope scope, TableSchema table)
    {
        var select = string.Join(", ", table.Columns.Select(c => c.Type.Kind == ValueKind.NumericText ? $"CAST(\"{c.Name}\" AS text{(c.Type.IsArray ? "[]" : "")})" : $"\"{c.Name}\""));
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT {select} FROM {scope.Qualified(table.DestinationName)} ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            rows.Add([.. table.Columns.Select((c, i) => Read(reader, i, c.Type))]);
        }

        return rows;
    }

    /// <summary>Reads a value as the kind's one CLR representation.</summary>
    private static object? Read(NpgsqlDataReader reader, int ordinal, ColumnType type)
    {
        if (reader.IsDBNull(ordinal))
        {
            return null;
        }

        return (type.Kind, type.IsArray) switch
        {
            (ValueKind.Int16, false) => reader.GetFieldValue<short>(ordinal),
            (ValueKind.Int16, true) => reader.GetFieldValue<short?[]>(ordinal),
            (ValueKind.Int32, false) => reader.GetFieldValue<int>(ordinal),
            (ValueKind.Int32, true) => reader.GetFieldValue<int?[]>(ordinal),
            (ValueKind.Int64, false) => reader.GetFieldValue<long>(ordinal),
            (ValueKind.Int64, true) => reader.GetFieldValue<long?[]>(ordinal),
            (ValueKind.Decimal, false) => reader.GetFieldValue<decimal>(ordinal),
            (ValueKind.Decimal, true) => reader.GetFieldValue<decimal?[]>(ordinal),
            (ValueKind.Float32, false) => reader.GetFieldValue<float>(ordinal),
            (ValueKind.Float32, true) => reader.GetFieldValue<float?[]>(ordinal),
            (ValueKind.Float64, false) => reader.GetFieldValue<double>(ordinal),
            (ValueKind.Float64, true) => reader.GetFieldValue<double?[]>(ordinal),
            (ValueKind.Boolean, false) => reader.GetFieldValue<bool>(ordinal),
            (ValueKind.Boolean, true) => reader.GetFieldValue<bool?[]>(ordinal),
            (ValueKind.Date, false) => reader.GetFieldValue<DateOnly>(ordinal),
            (ValueKind.Date, true) => reader.GetFieldValue<DateOnly?[]>(ordinal),
            (ValueKind.Time, false) => reader.GetFieldValue<TimeOnly>(ordinal),
            (ValueKind.Time, true) => reader.GetFieldValue<TimeOnly?[]>(ordinal),
            (ValueKind.Timestamp or ValueKind.TimestampTz, false) => reader.GetFieldValue<DateTime>(ordinal),
            (ValueKind.Timestamp or ValueKind.TimestampTz, true) => reader.GetFieldValue<DateTime?[]>(ordinal),
            (ValueKind.Interval, false) => reader.GetFieldValue<NpgsqlInterval>(ordinal),
            (ValueKind.Interval, true) => reader.GetFieldValue<NpgsqlInterval?[]>(ordinal),
            (ValueKind.Uuid, false) => reader.GetFieldValue<Guid>(ordinal),
            (ValueKind.Uuid, true) => reader.GetFieldValue<Guid?[]>(ordinal),
            (ValueKind.Bytes, false) => reader.GetFieldValue<byte[]>(ordinal),
            (ValueKind.Bytes, true) => reader.GetFieldValue<byte[]?[]>(ordinal),
            (_, false) => reader.GetFieldValue<string>(ordinal),
            (_, true) => reader.GetFieldValue<string?[]>(ordinal),
        };
    }
}
