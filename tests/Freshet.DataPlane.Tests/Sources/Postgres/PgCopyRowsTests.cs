using System.Collections;
using System.Text;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources.Postgres;
using Freshet.Testing;
using Npgsql;

namespace Freshet.DataPlane.Tests.Sources.Postgres;

/// <summary>
/// The snapshot's typed reader parses binary COPY itself; every value it hands over must be what Npgsql reads from the
/// same COPY (the path it replaces), edge values included: NULLs, extremes, infinities, decimals of every scale, text
/// that is not ASCII, empty strings and bytes, a row longer than the reader's buffer.
/// </summary>
public sealed class PgCopyRowsTests
{
    private static readonly ColumnSchema[] Columns =
    [
        new("id", new ColumnType(ValueKind.Int32, false, "integer"), true),
        new("i16", new ColumnType(ValueKind.Int16, false, "smallint"), false),
        new("i64", new ColumnType(ValueKind.Int64, false, "bigint"), false),
        new("dec", new ColumnType(ValueKind.Decimal, false, "numeric(12,2)", 12, 2), false),
        new("dec28", new ColumnType(ValueKind.Decimal, false, "numeric(28,10)", 28, 10), false),
        new("wide", new ColumnType(ValueKind.NumericText, false, "numeric"), false),
        new("f32", new ColumnType(ValueKind.Float32, false, "real"), false),
        new("f64", new ColumnType(ValueKind.Float64, false, "double precision"), false),
        new("txt", new ColumnType(ValueKind.Text, false, "text"), false),
        new("grade", new ColumnType(ValueKind.Text, false, "character(5)"), false),
        new("flag", new ColumnType(ValueKind.Boolean, false, "boolean"), false),
        new("day", new ColumnType(ValueKind.Date, false, "date"), false),
        new("tod", new ColumnType(ValueKind.Time, false, "time without time zone"), false),
        new("ts", new ColumnType(ValueKind.Timestamp, false, "timestamp without time zone"), false),
        new("tstz", new ColumnType(ValueKind.TimestampTz, false, "timestamp with time zone"), false),
        new("uid", new ColumnType(ValueKind.Uuid, false, "uuid"), false),
        new("doc", new ColumnType(ValueKind.Json, false, "json"), false),
        new("docb", new ColumnType(ValueKind.Json, false, "jsonb"), false),
        new("bin", new ColumnType(ValueKind.Bytes, false, "bytea"), false),
        new("mood", new ColumnType(ValueKind.Enum, false, "mood"), false),
    ];

    [Fact]
    public async Task EveryScalarKind_ReadsAsNpgsqlReadsIt_TypedGettersAgree()
    {
        var server = await PostgresServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("copyrows");
        await using var connection = new NpgsqlConnection(server.ConnectionString(database));
        await connection.OpenAsync();
        await using (var create = new NpgsqlCommand("""
            CREATE TYPE mood AS ENUM ('sad', 'happy');
            CREATE TABLE scalars (id integer PRIMARY KEY, i16 smallint, i64 bigint, dec numeric(12,2), dec28 numeric(28,10), wide numeric,
                f32 real, f64 double precision, txt text, grade char(5), flag boolean, day date, tod time, ts timestamp, tstz timestamptz,
                uid uuid, doc json, docb jsonb, bin bytea, mood mood);
            INSERT INTO scalars VALUES
                (1, -32768, -9223372036854775808, -9999999999.99, -123456789012345678.0123456789, -1e40, -3.4e38, -1.7e308, '', 'a', false,
                 '4713-01-01 BC', '00:00', '0001-01-01 00:00:01', '0001-01-01 00:00:01+00', '00000000-0000-0000-0000-000000000000', '[]', '{}', '', 'sad'),
                (2, 32767, 9223372036854775807, 9999999999.99, 123456789012345678.0123456789, 123456789012345678901234567890.000000001,
                 'NaN', 'Infinity', 'naïve café ✓ 🚀', 'abcde', true, '5874897-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999',
                 '2026-12-04 20:38:05.123456+01', 'ffffffff-ffff-ffff-ffff-ffffffffffff', '{"a": [1, 2.5, "x"]}', '{"b": {"c": null}}', '\x00ff10', 'happy'),
                (3, 0, 0, 0.01, 0.0000000001, 0, 0, '-Infinity', repeat('long text ', 200000), NULL, NULL, 'infinity', NULL, 'infinity', '-infinity',
                 NULL, NULL, NULL, decode(repeat('ab', 10), 'hex'), NULL),
                (4, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '-infinity', NULL, '-infinity', 'infinity', NULL, NULL, NULL, NULL, NULL),
                (5, 1, 1, 100, 1, 1.5, 1.5, 2.25, 'x', 'x', true, '2000-01-01', '12:00', '2000-01-01 00:00', '1999-12-31 23:59:59.5+00',
                 '12345678-9abc-def0-1234-56789abcdef0', 'null', '"s"', '\x', 'sad');
            """, connection))
        {
            await create.ExecuteNonQueryAsync();
        }

        var table = new TableSchema(new TableId("public", "scalars"), "scalars", Columns);
        Assert.True(PgCopyRows.Reads(table));
        var sql = $"COPY (SELECT {PgSnapshotSession.SelectList(table)} FROM scalars ORDER BY id) TO STDOUT (FORMAT BINARY)";

        var expected = new List<object?[]>();
        await using (var export = await connection.BeginBinaryExportAsync(sql))
        {
            while (await export.StartRowAsync() >= 0)
            {
                expected.Add([.. Columns.Select(c => Read(export, c.Type))]);
            }
        }

        var released = 0;
        var rows = new PgCopyRows(await connection.BeginRawBinaryCopyAsync(sql), table, () => released++, CancellationToken.None);
        var row = 0;
        await using (rows)
        {
            while (await rows.MoveNextAsync())
            {
                for (var column = 0; column < Columns.Length; column++)
                {
                    var want = expected[row][column];
                    if (ReferenceEquals(want, Refused))
                    {
                        Assert.Throws<InvalidCastException>(() => rows.GetValue(column));
                        continue;
                    }

                    Assert.True(Same(want, rows.GetValue(column)), $"row {row + 1} {Columns[column].Name}: expected {want}, read {rows.GetValue(column)}");
                    Assert.True(rows.IsNull(column) == want is null, $"row {row + 1} {Columns[column].Name}: null {rows.IsNull(column)}");
                    if (want is not null)
                    {
                        AssertTypedGetterAgrees(rows, column, want, $"row {row + 1} {Columns[column].Name}");
                    }
                }

                row++;
            }
        }

        Assert.Equal(5, row);
        Assert.Equal(1, released);

        // The connection is usable after the COPY: the next chunk reads on it.
        await using var check = new NpgsqlCommand("SELECT count(*) FROM scalars", connection);
        Assert.Equal(5L, await check.ExecuteScalarAsync());
    }

    private static void AssertTypedGetterAgrees(PgCopyRows rows, int column, object want, string where)
    {
        switch (Columns[column].Type.Kind)
        {
            case ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64:
                Assert.Equal(Convert.ToInt64(want, System.Globalization.CultureInfo.InvariantCulture), rows.GetInteger(column));
                break;
            case ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText:
                Assert.Equal((string)want, Encoding.UTF8.GetString(rows.GetUtf8(column)));
                break;
            case ValueKind.Timestamp or ValueKind.TimestampTz:
                var finite = rows.TryGetTimestamp(column, out var microseconds);
                Assert.True(finite == !DuckDbTypes.IsInfinity(want), where);
                if (finite)
                {
                    Assert.Equal(DuckDbTypes.Microseconds((DateTime)want), microseconds);
                }

                break;
            case ValueKind.Date:
                if (rows.TryGetDate(column, out var days))
                {
                    Assert.Equal(((DateOnly)want).DayNumber - 719162, days);
                }
                else
                {
                    Assert.True(want is DateOnly d && (d == DateOnly.MaxValue || d == DateOnly.MinValue), where);
                }

                break;
            case ValueKind.Decimal:
                var scale = Columns[column].Type.Scale!.Value;
                Assert.True(rows.TryGetScaledDecimal(column, scale, out var scaled), where);
                Assert.Equal((decimal)want, (decimal)scaled / (decimal)Math.Pow(10, scale));
                // One place fewer than the value has: refused, not rounded.
                if ((decimal)want != decimal.Truncate((decimal)want))
                {
                    Assert.False(rows.TryGetScaledDecimal(column, 0, out _), where);
                }

                break;
        }
    }

    private static object? Read(NpgsqlBinaryExporter export, ColumnType type)
    {
        try
        {
            return PgValueReader.Read(export, type);
        }
        catch (Exception exception) when (exception is InvalidCastException or ArgumentOutOfRangeException)
        {
            // A value Npgsql does not read (a date beyond DateOnly): the typed reader must refuse it too.
            return Refused;
        }
    }

    private static readonly object Refused = new();

    private static bool Same(object? expected, object? actual) => expected switch
    {
        byte[] bytes => actual is byte[] other && bytes.AsSpan().SequenceEqual(other),
        IStructuralEquatable structural => structural.Equals(actual, StructuralComparisons.StructuralEqualityComparer),
        DateTime time => actual is DateTime other && other == time && other.Kind == time.Kind,
        decimal number => actual is decimal other && other == number && other.Scale == number.Scale,
        _ => Equals(expected, actual),
    };
}
