using Freshet.Contracts;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// Columns added, dropped and retyped on a MariaDB table while the pipeline streams into DuckDB, under each
/// schema-change policy — the MySQL counterpart of <see cref="SchemaChangeTests"/>: the new shape comes from the
/// binlog's table maps and goes through the same destination machinery as PostgreSQL's relation messages.
/// </summary>
public sealed class MySqlSchemaChangeTests
{
    private static readonly string[] Key = ["id"];

    private const string Change = """
        ALTER TABLE products ADD COLUMN color VARCHAR(20);
        ALTER TABLE products DROP COLUMN legacy;
        ALTER TABLE products MODIFY COLUMN price BIGINT;
        INSERT INTO products (id, name, price, color) VALUES (100, 'new', {0}, 'red');
        UPDATE products SET color = 'blue', price = price + 1 WHERE id <= 10;
        DELETE FROM products WHERE id = 20;
        """;

    [Theory]
    [InlineData(SchemaChangePolicy.Propagate)]
    [InlineData(SchemaChangePolicy.AddColumnsOnly)]
    [InlineData(SchemaChangePolicy.Ignore)]
    [InlineData(SchemaChangePolicy.Quarantine)]
    public async Task AddDropModifyColumnMidStream_FollowsThePolicy(SchemaChangePolicy policy)
    {
        await using var shop = await MariaDbShop.CreateAsync("ddl_" + policy.ToString().ToLowerInvariant());
        await shop.Source.ExecuteAsync(
            "CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(40), price INT, legacy VARCHAR(10))",
            "INSERT INTO products SELECT seq, CONCAT('p', seq), seq * 10, 'old' FROM seq_1_to_50");
        await shop.LoadAsync(items: 20, lines: 40, seed: 5);
        var spec = shop.Spec() with
        {
            Tables = [new TableSpec(shop.Source.Database, "products"), new TableSpec(shop.Source.Database, "order_lines")],
            SchemaChangePolicy = policy,
        };
        await using var worker = WorkerProcess.Start(await shop.WriteSpecAsync(spec));
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        await shop.Source.ExecuteAsync("UPDATE products SET name = CONCAT(name, '!') WHERE id < 5");

        // Only Propagate retypes the destination's price, so the others get values an INTEGER holds.
        var price = policy == SchemaChangePolicy.Propagate ? "5000000000" : "5000";
        foreach (var statement in string.Format(System.Globalization.CultureInfo.InvariantCulture, Change, price).Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            await shop.Source.ExecuteAsync(statement);
        }

        // The other table keeps streaming whatever happens to this one.
        await shop.Source.ExecuteAsync("INSERT INTO order_lines VALUES (9001, 1, 'after-ddl', 1.5)");
        var lines = await WaitForEqualAsync(shop, "order_lines", MariaDbShop.LineColumns, ["order_id", "line"]);
        Assert.True(lines.Length == 0, lines + "\nWorker output:\n" + worker.Output);

        var table = $"{shop.Source.Database}.products";
        switch (policy)
        {
            case SchemaChangePolicy.Propagate:
                Assert.Equal("", await WaitForEqualAsync(shop, "products", ["id", "name", "price", "color"], Key));
                Assert.Equal(["id INTEGER", "name VARCHAR", "price BIGINT", "color VARCHAR"], await DestinationState.DuckDbColumnsAsync(shop.DuckDbPath, "products"));
                break;
            case SchemaChangePolicy.AddColumnsOnly:
                Assert.Equal("", await WaitForEqualAsync(shop, "products", ["id", "name", "price", "color"], Key));
                var columns = await DestinationState.DuckDbColumnsAsync(shop.DuckDbPath, "products");
                Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR", "color VARCHAR"], columns);
                var legacy = await TableContents.FromDuckDbAsync(shop.DuckDbPath, "products", ["id", "legacy"], Key);
                Assert.Equal("old", legacy.Rows["50"][1]);
                Assert.Equal("∅", legacy.Rows["100"][1]);
                break;
            case SchemaChangePolicy.Ignore:
                Assert.Equal("", await WaitForEqualAsync(shop, "products", ["id", "name", "price"], Key));
                Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await DestinationState.DuckDbColumnsAsync(shop.DuckDbPath, "products"));
                break;
            default:
                var report = await worker.WaitForReportAsync(r => r.Tables.TryGetValue(table, out var t) && t.QuarantineReason is not null, TimeSpan.FromSeconds(30));
                Assert.Contains("color", report.Tables[table].QuarantineReason);
                Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await DestinationState.DuckDbColumnsAsync(shop.DuckDbPath, "products"));
                break;
        }

        var final = worker.Reports().First().Tables.GetValueOrDefault(table);
        Assert.True(policy == SchemaChangePolicy.Quarantine || final?.QuarantineReason is null, final?.QuarantineReason);
    }

    [Fact]
    public async Task AddColumnWhileTheWorkerIsStopped_OldRowsReplayedThenNewOnes_DestinationEqualsSource()
    {
        await using var shop = await MariaDbShop.CreateAsync("ddl_stopped");
        await shop.Source.ExecuteAsync(
            "CREATE TABLE products (id INT PRIMARY KEY, name VARCHAR(40), price INT, legacy VARCHAR(10))",
            "INSERT INTO products SELECT seq, CONCAT('p', seq), seq * 10, 'old' FROM seq_1_to_50");
        var spec = shop.Spec() with { Tables = [new TableSpec(shop.Source.Database, "products")] };
        var specFile = await shop.WriteSpecAsync(spec);
        await using (var first = WorkerProcess.Start(specFile))
        {
            await first.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
            await first.StopAsync();
        }

        // The binlog now holds rows of the old shape, the change, and rows of the new one; the catalog knows only the
        // new shape when the worker starts again from before all of it.
        await shop.Source.ExecuteAsync(
            "INSERT INTO products VALUES (60, 'before', 600, 'x')",
            "UPDATE products SET price = price + 1 WHERE id <= 5",
            "ALTER TABLE products ADD COLUMN color VARCHAR(20), DROP COLUMN legacy",
            "INSERT INTO products (id, name, price, color) VALUES (70, 'after', 700, 'red')",
            "UPDATE products SET color = 'blue' WHERE id BETWEEN 3 AND 8");
        await using var second = WorkerProcess.Start(specFile);
        await second.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        var differences = await WaitForEqualAsync(shop, "products", ["id", "name", "price", "color"], Key);
        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + second.Output);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "color VARCHAR"], await DestinationState.DuckDbColumnsAsync(shop.DuckDbPath, "products"));
        var tables = second.Reports().First().Tables;
        Assert.False(tables.TryGetValue($"{shop.Source.Database}.products", out var products) && products.QuarantineReason is not null, products?.QuarantineReason);
    }

    private static async Task<string> WaitForEqualAsync(MariaDbShop shop, string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var differences = "";
        do
        {
            await Task.Delay(300);
            var source = await TableContents.FromMariaDbAsync(shop.ConnectionString, table, columns, keys);
            try
            {
                differences = (await TableContents.FromDuckDbAsync(shop.DuckDbPath, table, columns, keys)).DifferencesFrom(source);
            }
            catch (DuckDB.NET.Data.DuckDBException e)
            {
                // A column not there yet (the destination has not caught up with the change).
                differences = e.Message;
            }
        }
        while (differences.Length > 0 && DateTime.UtcNow < deadline);

        return differences;
    }
}
