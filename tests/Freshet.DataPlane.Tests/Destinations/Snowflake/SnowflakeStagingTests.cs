using Freshet.DataPlane.Destinations.Snowflake;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

/// <summary>Target tables from source schemas, and rows staged as bound JSON arrays cut to the request size limit.</summary>
public sealed class SnowflakeStagingTests
{
    private static readonly ColumnSchema[] Columns =
    [
        new("id", new ColumnType(ValueKind.Int64, false, "bigint"), IsKey: true),
        new("small", new ColumnType(ValueKind.Int16, false, "smallint"), false),
        new("price", new ColumnType(ValueKind.Decimal, false, "numeric(12,2)", 12, 2), false),
        new("huge", new ColumnType(ValueKind.NumericText, false, "numeric"), false),
        new("ratio", new ColumnType(ValueKind.Float64, false, "double precision"), false),
        new("Name", new ColumnType(ValueKind.Text, false, "text"), false),
        new("ok", new ColumnType(ValueKind.Boolean, false, "boolean"), false),
        new("day", new ColumnType(ValueKind.Date, false, "date"), false),
        new("at", new ColumnType(ValueKind.Time, false, "time"), false),
        new("ts", new ColumnType(ValueKind.Timestamp, false, "timestamp"), false),
        new("tstz", new ColumnType(ValueKind.TimestampTz, false, "timestamptz"), false),
        new("doc", new ColumnType(ValueKind.Json, false, "jsonb"), false),
        new("raw", new ColumnType(ValueKind.Bytes, false, "bytea"), false),
        new("uid", new ColumnType(ValueKind.Uuid, false, "uuid"), false),
    ];

    [Fact]
    public async Task RowsOfEveryKind_StagedInRequestsUnderTheLimit_ArriveExactly()
    {
        const int Limit = 64 * 1024;
        await using var account = await SnowflakeTestAccount.StartAsync(o => o.MaxRequestBytes = Limit);
        var client = account.Client();
        await client.ExecuteAsync(new SnowflakeStatement(SnowflakeStaging.CreateTable("STAGE_orders", Columns, ifNotExists: true)), default);
        var rows = Enumerable.Range(1, 600).Select(i => new object?[]
        {
            (long)i, (short)(i % 100), i + 0.25m, "123456789012345678901234567890123456789.5", i / 3.0, $"name \"{i}\" 'ü' \\ {new string('x', i % 200)}",
            i % 2 == 0, new DateOnly(2024, 2, 29).AddDays(i), new TimeOnly(10, 11, 12).Add(TimeSpan.FromTicks(1234560)),
            new DateTime(2024, 2, 29, 10, 11, 12).AddTicks(1234560).AddMinutes(i), new DateTimeOffset(2024, 2, 29, 10, 11, 12, TimeSpan.FromHours(2)),
            i % 5 == 0 ? null : $"{{\"n\":{i},\"tags\":[\"a\",\"b\"]}}", new byte[] { 0xCA, 0xFE, (byte)i }, Guid.Empty,
        }).ToList();

        var chunks = SnowflakeStaging.Chunks("STAGE_orders", Columns, rows, Limit).ToList();
        foreach (var chunk in chunks)
        {
            await client.ExecuteAsync(new SnowflakeStatement(SnowflakeStaging.InsertFromJson("STAGE_orders", Columns)) { Bindings = [SnowflakeBinding.Text(chunk)] }, default);
        }
        var count = await client.ExecuteAsync(new SnowflakeStatement("SELECT count(*), count(DISTINCT \"id\") FROM \"STAGE_orders\""), default);
        var row = (await client.ExecuteAsync(new SnowflakeStatement(
            "SELECT \"small\", \"price\", \"huge\", \"Name\", \"ok\", \"day\", \"at\", \"ts\", \"tstz\", \"doc\", \"raw\", \"uid\" FROM \"STAGE_orders\" WHERE \"id\" = ?")
        {
            Bindings = [SnowflakeBinding.Fixed(7)],
        }, default)).Rows.Single();
        var nullDoc = (await client.ExecuteAsync(new SnowflakeStatement("SELECT \"doc\" FROM \"STAGE_orders\" WHERE \"id\" = 5"), default)).Rows.Single();

        Assert.True(chunks.Count > 3, $"expected several requests under {Limit} bytes, got {chunks.Count}");
        Assert.Equal<IEnumerable<string?>>(["600", "600"], count.Rows[0]);
        Assert.Equal("7", row[0]);
        Assert.Equal(7.25m, SnowflakeValues.Fixed(row[1]!));
        Assert.Equal("123456789012345678901234567890123456789.5", row[2]);
        Assert.Equal($"name \"7\" 'ü' \\ {new string('x', 7)}", row[3]);
        Assert.False(SnowflakeValues.Boolean(row[4]!));
        Assert.Equal(new DateOnly(2024, 3, 7), SnowflakeValues.Date(row[5]!));
        Assert.Equal(new TimeOnly(10, 11, 12).Add(TimeSpan.FromTicks(1234560)), SnowflakeValues.Time(row[6]!));
        Assert.Equal(new DateTime(2024, 2, 29, 10, 18, 12).AddTicks(1234560), SnowflakeValues.TimestampNtz(row[7]!));
        Assert.Equal(new DateTimeOffset(2024, 2, 29, 8, 11, 12, TimeSpan.Zero), SnowflakeValues.TimestampTz(row[8]!).ToUniversalTime());
        Assert.Equal("""{"n":7,"tags":["a","b"]}""", row[9]);
        Assert.Equal(new byte[] { 0xCA, 0xFE, 7 }, SnowflakeValues.Binary(row[10]!));
        Assert.Equal(Guid.Empty.ToString(), row[11]);
        Assert.Null(nullDoc[0]);
    }

    [Fact]
    public void RowLargerThanAnyRequest_IsAnErrorNamingTheTable()
    {
        var wide = new object?[Columns.Length];
        wide[0] = 1L;
        wide[5] = new string('x', 40_000);

        var error = Assert.Throws<ArgumentException>(() => SnowflakeStaging.Chunks("STAGE_big", Columns, [wide], 32 * 1024).ToList());

        Assert.Contains("STAGE_big", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TargetTypes_FollowTheSourcesPrecision()
    {
        Assert.Equal("NUMBER(12,2)", SnowflakeTypes.TargetType(Columns[2].Type));
        Assert.Equal("VARCHAR", SnowflakeTypes.TargetType(Columns[3].Type));
        Assert.Equal("NUMBER(38,4)", SnowflakeTypes.TargetType(new ColumnType(ValueKind.Decimal, false, "numeric(38,4)", 38, 4)));
        Assert.Equal("VARCHAR", SnowflakeTypes.TargetType(new ColumnType(ValueKind.Decimal, false, "numeric(50,4)", 50, 4)));
        Assert.Equal("VARIANT", SnowflakeTypes.TargetType(new ColumnType(ValueKind.Int32, true, "integer[]")));
        Assert.Equal("TIMESTAMP_TZ(6)", SnowflakeTypes.TargetType(Columns[10].Type));
    }
}
