using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using DuckDB.NET.Data;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Npgsql;

namespace Freshet.ControlPlane.Api.Tests.Connections;

public sealed class SchemaBrowserTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task PostgresSource_ListsTablesColumnsPrimaryKeysAndReplicaIdentity()
    {
        await using (var db = new NpgsqlConnection(factory.AdminConnectionString))
        {
            await db.OpenAsync();
            await using var create = new NpgsqlCommand(
                """
                CREATE SCHEMA shop;
                CREATE TABLE shop.order_lines (order_id bigint, line_no int, sku text NOT NULL, price numeric(10,2), PRIMARY KEY (order_id, line_no));
                CREATE TABLE shop.events (payload jsonb);
                """,
                db);
            await create.ExecuteNonQueryAsync();
        }

        using var http = await factory.DemoAdminClientAsync();
        var source = (await HttpAssert.OkAsync(await http.GetAsync("/v1/connections?kind=source"))).GetProperty("items")[0].GetProperty("id").GetString();
        var schema = await HttpAssert.OkAsync(await http.GetAsync($"/v1/connections/{source}/schema"));
        var shop = schema.GetProperty("schemas").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "shop");
        var lines = shop.GetProperty("tables").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "order_lines");
        Assert.Equal(["order_id", "line_no"], lines.GetProperty("primary_key").EnumerateArray().Select(c => c.GetString()));
        var price = lines.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "price");
        Assert.Equal("numeric(10,2)", price.GetProperty("type").GetString());
        Assert.False(lines.GetProperty("columns").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "sku").GetProperty("nullable").GetBoolean());
        var events = shop.GetProperty("tables").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "events");
        Assert.Equal(0, events.GetProperty("primary_key").GetArrayLength());
        Assert.Equal("default", events.GetProperty("replica_identity").GetString());
    }

    [Fact]
    public async Task DuckDbDestination_ListsTheFilesTables_AndAMissingFileIsEmpty()
    {
        using var http = await factory.AcmeAdminClientAsync();
        var name = $"warehouse-{Guid.NewGuid():N}";
        var created = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/connections", new { name, kind = "destination", type = "duckdb", settings = new { path = $"{name}.duckdb" } }), HttpStatusCode.Created);
        var id = created.GetProperty("id").GetString();
        var empty = await HttpAssert.OkAsync(await http.GetAsync($"/v1/connections/{id}/schema"));
        Assert.Equal(0, empty.GetProperty("schemas").GetArrayLength());

        var tenant = (await HttpAssert.OkAsync(await http.GetAsync("/v1/tenant"))).GetProperty("id").GetString()!;
        var folder = Path.Combine(Freshet.Testing.PostgresServer.Root, "duckdb", factory.Database, tenant);
        Directory.CreateDirectory(folder);
        using (var duck = new DuckDBConnection($"Data Source={Path.Combine(folder, name + ".duckdb")}"))
        {
            duck.Open();
            using var command = duck.CreateCommand();
            command.CommandText = "CREATE TABLE customers (id BIGINT PRIMARY KEY, email VARCHAR NOT NULL, score DOUBLE)";
            command.ExecuteNonQuery();
        }

        var schema = await HttpAssert.OkAsync(await http.GetAsync($"/v1/connections/{id}/schema"));
        var table = schema.GetProperty("schemas").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "main")
            .GetProperty("tables").EnumerateArray().Single(t => t.GetProperty("name").GetString() == "customers");
        Assert.Equal(["id"], table.GetProperty("primary_key").EnumerateArray().Select(c => c.GetString()));
        Assert.Equal(3, table.GetProperty("columns").GetArrayLength());

        var test = await HttpAssert.OkAsync(await http.PostAsync($"/v1/connections/{id}/test", null));
        Assert.True(test.GetProperty("ok").GetBoolean(), test.ToString());
    }

    [Fact]
    public async Task ConnectionTypes_DescribeEveryTypesSettingsAndSecrets()
    {
        using var http = await factory.DemoAdminClientAsync();
        var types = await HttpAssert.OkAsync(await http.GetAsync("/v1/connection-types"));
        var names = types.EnumerateArray().Select(t => t.GetProperty("type").GetString()).ToList();
        Assert.Equal(["postgres", "mysql", "snowflake", "bigquery", "duckdb"], names);
        var snowflake = types.EnumerateArray().Single(t => t.GetProperty("type").GetString() == "snowflake");
        Assert.Contains(snowflake.GetProperty("secrets").EnumerateArray(), s => s.GetProperty("name").GetString() == "private_key" && s.GetProperty("required").GetBoolean());
        Assert.Equal(JsonValueKind.Array, snowflake.GetProperty("kinds").ValueKind);
    }
}
