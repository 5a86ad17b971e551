using Freshet.DataPlane.Destinations.Postgres;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

public sealed class PostgresTypesTests
{
    [Theory]
    [InlineData("numeric(12,2)", ValueKind.Decimal, false, "numeric(12,2)")]
    [InlineData("numeric(5)", ValueKind.Decimal, false, "numeric(5,0)")]
    [InlineData("decimal(10,2)", ValueKind.Decimal, false, "numeric(10,2)")]
    [InlineData("money", ValueKind.Decimal, false, "money")]
    [InlineData("numeric", ValueKind.NumericText, false, "numeric")]
    [InlineData("character varying(40)", ValueKind.Text, false, "character varying(40)")]
    [InlineData("varchar(40)", ValueKind.Text, false, "character varying(40)")]
    [InlineData("character(5)[]", ValueKind.Text, true, "character(5)[]")]
    [InlineData("bpchar", ValueKind.Text, false, "bpchar")]
    [InlineData("timestamp(3) with time zone", ValueKind.TimestampTz, false, "timestamp(3) with time zone")]
    [InlineData("time(0) without time zone", ValueKind.Time, false, "time(0) without time zone")]
    [InlineData("interval(2)", ValueKind.Interval, false, "interval(2)")]
    [InlineData("pg_catalog.int4", ValueKind.Int32, false, "integer")]
    [InlineData("json", ValueKind.Json, false, "json")]
    [InlineData("public.mood", ValueKind.Enum, false, "text")]
    [InlineData("mood[]", ValueKind.Enum, true, "text[]")]
    [InlineData("public.positive_int", ValueKind.Int32, false, "integer")]
    [InlineData("timestamp with time zone", ValueKind.Timestamp, false, "timestamp without time zone")]
    [InlineData("integer", ValueKind.Int32, true, "integer[]")]
    [InlineData("int unsigned", ValueKind.Int64, false, "bigint")]
    [InlineData("datetime(6)", ValueKind.Timestamp, false, "timestamp without time zone")]
    [InlineData("tinyint(1)", ValueKind.Boolean, false, "boolean")]
    [InlineData("float", ValueKind.Float32, false, "real")]
    [InlineData("double", ValueKind.Float64, false, "double precision")]
    [InlineData("longblob", ValueKind.Bytes, false, "bytea")]
    public void TargetType_KeepsBuiltInSourceTypesThatHoldTheKindElseUsesTheKindsOwn(string sourceType, ValueKind kind, bool isArray, string expected) =>
        Assert.Equal(expected, PostgresTypes.TargetType(new ColumnType(kind, isArray, sourceType)));

    [Fact]
    public void TargetType_NumericTextWithoutABuiltInSpelling_KeepsDeclaredPrecision() =>
        Assert.Equal("numeric(40,10)", PostgresTypes.TargetType(new ColumnType(ValueKind.NumericText, false, "decimal unsigned", 40, 10)));
}
