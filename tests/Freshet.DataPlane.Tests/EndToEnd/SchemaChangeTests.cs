using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>Columns added, dropped and retyped at the source while the pipeline streams, under each schema-change policy.</summary>
public sealed class SchemaChangeTests
{
    private const string Tables = """
        CREATE TABLE products (id integer PRIMARY KEY, name text, price integer, legacy text);
        CREATE TABLE stock (id integer PRIMARY KEY, qty integer);
        INSERT INTO products SELECT g, 'p' || g, g * 10, 'old' FROM generate_series(1, 50) g;
        INSERT INTO stock SELECT g, g FROM generate_series(1, 50) g;
        """;

    private const string Change = """
        ALTER TABLE products ADD COLUMN color text;
        ALTER TABLE products DROP COLUMN legacy;
        ALTER TABLE products ALTER COLUMN price TYPE bigint;
        INSERT INTO products VALUES (100, 'new', 5000000000, 'red');
        UPDATE products SET color = 'blue', price = price + 1 WHERE id <= 10;
        DELETE FROM products WHERE id = 20;
        UPDATE stock SET qty = qty + 1;
        """;

    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task Propagate_AddDropRetypeMidStream_DestinationFollowsTheSource(Target target)
    {
        await using var harness = await StartAsync(target, SchemaChangePolicy.Propagate);
        await using var worker = WorkerProcess.Start(await harness.WriteSpecAsync(Spec(harness, SchemaChangePolicy.Propagate)));
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        await harness.ExecuteAsync("UPDATE products SET name = name || '!' WHERE id < 5");
        await harness.ExecuteAsync(Change);
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), worker);

        var differences = await harness.DifferencesAsync("products", ["id", "name", "price", "color"], ["id"]);
        Assert.True(differences.Length == 0, differences + worker.Output);
        if (target == Target.DuckDb)
        {
            Assert.Equal(["id INTEGER", "name VARCHAR", "price BIGINT", "color VARCHAR"], await DestinationState.DuckDbColumnsAsync(harness.DuckDbPath, "products"));
        }
        else
        {
            Assert.Equal("bigint", await harness.ScalarAsync<string>(
                "SELECT data_type FROM information_schema.columns WHERE table_schema = 'analytics' AND table_name = 'products' AND column_name = 'price'", harness.DestinationConnectionString));
            Assert.Equal(0L, await harness.ScalarAsync<long>(
                "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'analytics' AND table_name = 'products' AND column_name = 'legacy'", harness.DestinationConnectionString));
        }
    }

    [Fact]
    public async Task AddColumnsOnly_NewColumnArrives_DroppedColumnKeptAndNullForNewRows()
    {
        await using var harness = await StartAsync(Target.DuckDb, SchemaChangePolicy.AddColumnsOnly);
        await using var worker = WorkerProcess.Start(await harness.WriteSpecAsync(Spec(harness, SchemaChangePolicy.AddColumnsOnly)));
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        // The destination keeps price as INTEGER (no retype under this policy), so the values must still fit it.
        await harness.ExecuteAsync(Change.Replace("5000000000", "5000", StringComparison.Ordinal));
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), worker);

        var differences = await harness.DifferencesAsync("products", ["id", "name", "price", "color"], ["id"]);
        Assert.True(differences.Length == 0, differences + worker.Output);
        var columns = await DestinationState.DuckDbColumnsAsync(harness.DuckDbPath, "products");
        Assert.Contains("legacy VARCHAR", columns);
        Assert.Contains("color VARCHAR", columns);
        var legacy = await TableContents.FromDuckDbAsync(harness.DuckDbPath, "products", ["id", "legacy"], ["id"]);
        Assert.Equal("old", legacy.Rows["50"][1]);
        Assert.Equal("∅", legacy.Rows["100"][1]);
    }

    [Fact]
    public async Task QuarantinePolicy_ColumnsChange_OnlyThatTableStops()
    {
        await using var harness = await StartAsync(Target.DuckDb, SchemaChangePolicy.Quarantine);
        await using var worker = WorkerProcess.Start(await harness.WriteSpecAsync(Spec(harness, SchemaChangePolicy.Quarantine)));
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        await harness.ExecuteAsync(Change);
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), worker);

        var report = await worker.WaitForReportAsync(r => r.Tables.TryGetValue("public.products", out var t) && t.QuarantineReason is not null, TimeSpan.FromSeconds(10));
        Assert.Contains("color", report.Tables["public.products"].QuarantineReason);
        Assert.Equal("", await harness.DifferencesAsync("stock", ["id", "qty"], ["id"]));
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await DestinationState.DuckDbColumnsAsync(harness.DuckDbPath, "products"));
    }

    private static async Task<PipelineHarness> StartAsync(Target target, SchemaChangePolicy policy)
    {
        var harness = await PipelineHarness.CreateAsync(target, "schema_" + policy.ToString().ToLowerInvariant());
        await harness.ExecuteAsync(Tables);
        return harness;
    }

    private static PipelineSpec Spec(PipelineHarness harness, SchemaChangePolicy policy) =>
        harness.Spec(tables: [new TableSpec("public", "products"), new TableSpec("public", "stock")], policy: policy);
}
