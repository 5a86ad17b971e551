using System.Globalization;
using DuckDB.NET.Data;
using Freshet.DataPlane.Destinations.DuckDb;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

/// <summary>
/// Decimals into DuckDB DECIMAL columns of every storage width (SMALLINT, INTEGER, BIGINT and HUGEINT-backed), with
/// values of fewer, as many and more places than the column's scale, read back by DuckDB itself.
/// </summary>
public sealed class ChunkAppenderDecimalTests
{
    [Fact]
    public void AppendDecimal_AnyScaleTheColumnHolds_StoresTheExactValue()
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        Execute(connection, "CREATE TABLE d (d4 DECIMAL(4,2), d9 DECIMAL(9,3), d18 DECIMAL(18,6), d28 DECIMAL(28,10))");

        decimal[][] rows =
        [
            [5m, 5m, 5m, 5m],                                   // fewer places than the column's
            [-0.01m, -0.001m, -0.000001m, -0.0000000001m],      // the smallest step, negative
            [1.500m, 1.5000m, 1.5000000m, 1.50000000000m],      // more places, all of them zeros
            [99.99m, 999999.999m, 999999999999.999999m, 999999999999999999.9999999999m], // the widest each holds
            [-99.99m, -999999.999m, -999999999999.999999m, -999999999999999999.9999999999m],
            [0m, -0m, 0.000m, 0m],
        ];

        var appender = ChunkAppender.TryOpen(connection, "d", 4)!;
        using (appender)
        {
            foreach (var row in rows)
            {
                foreach (var value in row)
                {
                    appender.AppendDecimal(value);
                }
            }

            appender.Close();
        }

        var stored = Query(connection, "SELECT d4::VARCHAR, d9::VARCHAR, d18::VARCHAR, d28::VARCHAR FROM d");
        Assert.Equal(rows.Length, stored.Count);
        for (var r = 0; r < rows.Length; r++)
        {
            for (var c = 0; c < 4; c++)
            {
                Assert.Equal(rows[r][c], decimal.Parse(stored[r][c], CultureInfo.InvariantCulture));
            }
        }
    }

    [Theory]
    [InlineData(1.005, typeof(InvalidCastException))] // a place more than the column keeps: refused, not rounded
    [InlineData(100, typeof(OverflowException))]      // wider than DECIMAL(4,2)
    public void AppendDecimal_ValueTheColumnCannotHold_FailsLikeACast(double value, Type failure)
    {
        using var connection = new DuckDBConnection("DataSource=:memory:");
        connection.Open();
        Execute(connection, "CREATE TABLE d (d4 DECIMAL(4,2))");
        using var appender = ChunkAppender.TryOpen(connection, "d", 1)!;

        Assert.Throws(failure, () => appender.AppendDecimal((decimal)value));
    }

    private static void Execute(DuckDBConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static List<string[]> Query(DuckDBConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string[]>();
        while (reader.Read())
        {
            rows.Add([.. Enumerable.Range(0, reader.FieldCount).Select(reader.GetString)]);
        }

        return rows;
    }
}
