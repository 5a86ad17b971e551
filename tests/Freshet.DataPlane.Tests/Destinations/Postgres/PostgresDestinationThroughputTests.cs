using System.Diagnostics;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Xunit.Abstractions;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>Batches of the sizes the engine cuts (up to 100k rows) apply in one transaction; the times are reported, not asserted.</summary>
public sealed class PostgresDestinationThroughputTests(PostgresDestinationFixture fixture, ITestOutputHelper output) : IClassFixture<PostgresDestinationFixture>
{
    private static readonly TableSchema Orders = Table(
        "orders",
        Key("id", ValueKind.Int64, "bigint"),
        Column("customer", ValueKind.Text, "character varying(80)"),
        Column("qty", ValueKind.Int32),
        Column("price", ValueKind.Decimal, "numeric(12,2)", precision: 12, scale: 2),
        Column("placed_at", ValueKind.TimestampTz),
        Column("notes", ValueKind.Text));

    [Fact]
    public async Task ApplyAsync_BatchesUpTo100kRows_ApplyEveryChange()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();
        await destination.EnsureTableAsync(Orders, SchemaChangePolicy.Propagate, CancellationToken.None);
        long position = 1, offset = 0;
        foreach (var size in new[] { 100, 10_000, 100_000 })
        {
            var inserts = Batch([.. Enumerable.Range(0, size).Select(i => Insert(Orders, position, i, Row(offset + i, i, "new")))]);
            var insertTime = await TimeAsync(() => destination.ApplyAsync(inserts, CancellationToken.None));
            position++;

            // Every other update leaves the notes unchanged, as an unchanged TOAST value would.
            var updates = Batch([.. Enumerable.Range(0, size).Select(i => Update(Orders, position, i, Row(offset + i, i + 1, i % 2 == 0 ? UnchangedValue.Instance : "updated")))]);
            var updateTime = await TimeAsync(() => destination.ApplyAsync(updates, CancellationToken.None));
            position++;

            var deletes = Batch([.. Enumerable.Range(0, size / 2).Select(i => Delete(Orders, position, i, offset + i))]);
            var deleteTime = await TimeAsync(() => destination.ApplyAsync(deletes, CancellationToken.None));
            position++;

            output.WriteLine($"{size,7} rows: insert {insertTime.TotalMilliseconds,7:F0} ms, update {updateTime.TotalMilliseconds,7:F0} ms, delete {size / 2} {deleteTime.TotalMilliseconds,7:F0} ms");
            var counts = (await scope.QueryAsync(
                $"SELECT count(*), count(*) FILTER (WHERE notes = 'updated'), sum(qty) FROM {scope.Qualified("orders")} WHERE id >= {offset} AND id < {offset + size}"))[0];
            var kept = Enumerable.Range(size / 2, size - (size / 2)).ToList();
            Assert.Equal(new object?[] { (long)kept.Count, (long)kept.Count(i => i % 2 == 1), kept.Sum(i => (long)i + 1) }, counts);
            offset += size;
        }
    }

    private static object?[] Row(long id, int i, object notes) =>
        [id, $"customer {i % 997}", i, (i % 10_000) / 100m, new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddSeconds(i), notes];

    private static async Task<TimeSpan> TimeAsync(Func<Task> action)
    {
        var started = Stopwatch.GetTimestamp();
        await action();
        return Stopwatch.GetElapsedTime(started);
    }
}
