using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources.Postgres;
using NpgsqlTypes;

namespace Freshet.DataPlane.Tests.Sources.Postgres;

public sealed class StreamedTransactionTests
{
    private static readonly TableSchema Table = new(new TableId("public", "t"), "t",
    [
        new ColumnSchema("id", new ColumnType(ValueKind.Int64, false, "bigint"), true),
        new ColumnSchema("amount", new ColumnType(ValueKind.Decimal, false, "numeric(12,2)", 12, 2), false),
        new ColumnSchema("at", new ColumnType(ValueKind.TimestampTz, false, "timestamptz"), false),
        new ColumnSchema("span", new ColumnType(ValueKind.Interval, false, "interval"), false),
        new ColumnSchema("tags", new ColumnType(ValueKind.Text, true, "text[]"), false),
        new ColumnSchema("ints", new ColumnType(ValueKind.Int32, true, "integer[]"), false),
        new ColumnSchema("blob", new ColumnType(ValueKind.Bytes, false, "bytea"), false),
        new ColumnSchema("ref", new ColumnType(ValueKind.Uuid, false, "uuid"), false),
        new ColumnSchema("day", new ColumnType(ValueKind.Date, false, "date"), false),
        new ColumnSchema("notes", new ColumnType(ValueKind.Text, false, "text"), false),
    ]);

    [Fact]
    public void Replay_BeyondTheMemoryBudget_SpillsAndReturnsEveryValueInOrder_WithoutAbortedSubtransactions()
    {
        using var transaction = new StreamedTransaction(1000, memoryBudgetBytes: 2_000);
        var expected = new List<object?[]>();
        for (var i = 0; i < 500; i++)
        {
            object?[] values =
            [
                (long)i, 12.34m + i, new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(i * 10), new NpgsqlInterval(1, 2, 3_000_000 + i),
                new string?[] { "a", null, "ü" + i }, new int?[] { 1, null, i }, new byte[] { 0, 255, (byte)i }, Guid.NewGuid(),
                DateOnly.FromDayNumber(700_000 + i), i % 3 == 0 ? UnchangedValue.Instance : i % 3 == 1 ? null : new string('x', i),
            ];
            // Every fifth change belongs to subtransaction 1001, which is rolled back below.
            var subtransaction = i % 5 == 0 ? 1001u : 1000u;
            transaction.Add(new PendingChange(Table, ChangeKind.Insert, values, i % 7 == 0 ? [(long)(i + 1)] : null, 200), subtransaction);
            if (subtransaction == 1000u)
            {
                expected.Add(values);
            }
        }

        transaction.AbortSubtransaction(1001);
        var replayed = transaction.Replay().ToList();

        Assert.True(transaction.Spilled);
        Assert.Equal(expected.Count, replayed.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Length, replayed[i].Values.Length);
            for (var c = 0; c < expected[i].Length; c++)
            {
                Assert.True(ValueEquality.Equal(expected[i][c], replayed[i].Values[c]), $"row {i} column {Table.Columns[c].Name}: {expected[i][c]} vs {replayed[i].Values[c]}");
            }

            Assert.Equal(expected[i][4]!.GetType(), replayed[i].Values[4]!.GetType());
        }
    }

    [Theory]
    [InlineData("0", "0")]
    [InlineData("-1234567890123456789012345678901234567890.000000000123", "-1234567890123456789012345678901234567890.000000000123")]
    [InlineData("0.00000001", "0.00000001")]
    [InlineData("10000.5000", "10000.5000")]
    [InlineData("NaN", "NaN")]
    public async Task NumericText_BinaryFromTheServer_DecodesToTheServersOwnText(string literal, string expected)
    {
        var server = await Freshet.Testing.PostgresServer.SharedAsync();
        await using var connection = new Npgsql.NpgsqlConnection(server.ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand($"SELECT numeric_send('{literal}'::numeric), numeric_send('{literal}'::numeric)::text IS NOT NULL, array_send(ARRAY['{literal}'::numeric, NULL])", connection);
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();

        Assert.Equal(expected, PgNumeric.ToText(reader.GetFieldValue<byte[]>(0)));
        Assert.Equal(new string?[] { expected, null }, PgNumeric.ArrayToText(reader.GetFieldValue<byte[]>(2)).AsEnumerable());
    }
}
