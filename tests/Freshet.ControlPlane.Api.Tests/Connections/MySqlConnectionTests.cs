using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Freshet.Testing;

namespace Freshet.ControlPlane.Api.Tests.Connections;

/// <summary>The connection test and schema browser for <c>mysql</c> connections, against the test process's real MariaDB.</summary>
public sealed class MySqlConnectionTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    private static readonly string[] EveryCheck =
        ["login", "server_version", "log_bin", "server_id", "binlog_format", "binlog_row_image", "binlog_row_metadata", "binlog_checksum", "binlog_retention", "replication_slave", "replication_client", "select_on_database"];

    [Fact]
    public async Task Test_ReadyServerAndReplicationUser_PassesEveryItem()
    {
        var server = await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("api_ready");
        var user = UniqueUser("cdc");
        await server.CreateReplicationUserAsync(user, "cdc-pw");
        using var http = await factory.AcmeAdminClientAsync();

        var result = await TestAsync(http, await CreateAsync(http, server, database, user, "cdc-pw"));

        Assert.True(result.GetProperty("ok").GetBoolean(), result.ToString());
        var checks = Checks(result);
        Assert.Equal(EveryCheck, checks.Keys);
        Assert.All(checks, c => Assert.Equal("passed", c.Value.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task Test_UserWithoutReplicationGrants_FailsExactlyThoseItemsWithTheGrant()
    {
        var server = await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("api_grants");
        var user = UniqueUser("plain");
        await server.ExecuteAsync(
            $"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'plain-pw'",
            $"GRANT SELECT ON `{database}`.* TO '{user}'@'127.0.0.1'");
        using var http = await factory.AcmeAdminClientAsync();

        var result = await TestAsync(http, await CreateAsync(http, server, database, user, "plain-pw"));

        Assert.False(result.GetProperty("ok").GetBoolean());
        var failed = Checks(result).Where(c => c.Value.GetProperty("status").GetString() != "passed").ToDictionary();
        Assert.Equal(["replication_slave", "replication_client"], failed.Keys);
        Assert.All(failed.Values, c => Assert.Equal("failed", c.GetProperty("status").GetString()));
        Assert.Equal($"GRANT REPLICATION SLAVE ON *.* TO '{user}'@'127.0.0.1'.", failed["replication_slave"].GetProperty("fix").GetString());
        Assert.Equal($"GRANT REPLICATION CLIENT ON *.* TO '{user}'@'127.0.0.1'.", failed["replication_client"].GetProperty("fix").GetString());
    }

    [Fact]
    public async Task Test_UserWithoutSelectOnTheDatabase_FailsThatItemWithTheGrant()
    {
        var server = await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("api_select");
        var user = UniqueUser("nosel");
        await server.ExecuteAsync(
            $"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'nosel-pw'",
            $"GRANT REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '{user}'@'127.0.0.1'");
        using var http = await factory.AcmeAdminClientAsync();

        var result = await TestAsync(http, await CreateAsync(http, server, database, user, "nosel-pw"));

        var failed = Checks(result).Where(c => c.Value.GetProperty("status").GetString() != "passed").ToDictionary();
        Assert.Equal(["select_on_database"], failed.Keys);
        Assert.Equal($"Run: GRANT SELECT ON `{database}`.* TO '{user}'@'127.0.0.1';", failed["select_on_database"].GetProperty("fix").GetString());
    }

    [Fact]
    public async Task Test_WrongPassword_FailsTheLoginAndSkipsTheRest()
    {
        var server = await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("api_password");
        var user = UniqueUser("cdc");
        await server.CreateReplicationUserAsync(user, "right-pw");
        using var http = await factory.AcmeAdminClientAsync();

        var result = await TestAsync(http, await CreateAsync(http, server, database, user, "wrong-pw"));

        Assert.False(result.GetProperty("ok").GetBoolean());
        var checks = Checks(result);
        Assert.Equal("failed", checks["login"].GetProperty("status").GetString());
        Assert.Contains("Access denied", checks["login"].GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains("password", checks["login"].GetProperty("fix").GetString(), StringComparison.Ordinal);
        Assert.All(checks.Where(c => c.Key != "login"), c => Assert.Equal("skipped", c.Value.GetProperty("status").GetString()));
    }

    [Fact]
    public async Task Test_NothingListening_FailsTheLoginAsUnreachable()
    {
        var server = await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("api_unreachable");
        using var http = await factory.AcmeAdminClientAsync();

        var result = await TestAsync(http, await CreateAsync(http, server, database, "nobody", "pw", port: LocalMachine.FreePort()));

        var login = Checks(result)["login"];
        Assert.Equal("failed", login.GetProperty("status").GetString());
        Assert.StartsWith("Could not reach 127.0.0.1:", login.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Schema_ListsTheDatabasesTablesWithTypesAndPrimaryKeys_AndATableWithoutOneHasNone()
    {
        var server = await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("api_schema");
        var other = await server.CreateDatabaseAsync("api_schema_other");
        await server.ExecuteAsync(
            $"CREATE TABLE `{database}`.order_lines (order_id BIGINT UNSIGNED, line_no INT, sku VARCHAR(40) NOT NULL, price DECIMAL(10,2), PRIMARY KEY (line_no, order_id))",
            $"CREATE TABLE `{database}`.events (payload JSON)",
            $"CREATE VIEW `{database}`.line_view AS SELECT sku FROM `{database}`.order_lines",
            $"CREATE TABLE `{other}`.elsewhere (id INT PRIMARY KEY)");
        var user = UniqueUser("cdc");
        await server.CreateReplicationUserAsync(user, "cdc-pw");
        using var http = await factory.AcmeAdminClientAsync();
        var id = await CreateAsync(http, server, database, user, "cdc-pw");

        var schema = await HttpAssert.OkAsync(await http.GetAsync($"/v1/connections/{id}/schema"));

        var only = Assert.Single(schema.GetProperty("schemas").EnumerateArray());
        Assert.Equal(database, only.GetProperty("name").GetString());
        var tables = only.GetProperty("tables").EnumerateArray().ToDictionary(t => t.GetProperty("name").GetString()!);
        Assert.Equal(["events", "order_lines"], tables.Keys);
        var lines = tables["order_lines"];
        Assert.Equal(["line_no", "order_id"], lines.GetProperty("primary_key").EnumerateArray().Select(c => c.GetString()));
        var columns = lines.GetProperty("columns").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
        Assert.Equal(["order_id", "line_no", "sku", "price"], columns.Keys);
        Assert.Equal("bigint(20) unsigned", columns["order_id"].GetProperty("type").GetString());
        Assert.Equal("decimal(10,2)", columns["price"].GetProperty("type").GetString());
        Assert.False(columns["sku"].GetProperty("nullable").GetBoolean());
        Assert.True(columns["price"].GetProperty("nullable").GetBoolean());
        Assert.Equal(0, tables["events"].GetProperty("primary_key").GetArrayLength());
    }

    [Fact]
    public async Task Schema_WrongPassword_IsABadGatewayProblemNotAServerError()
    {
        var server = await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("api_schema_pw");
        using var http = await factory.AcmeAdminClientAsync();
        var id = await CreateAsync(http, server, database, UniqueUser("ghost"), "pw");

        var response = await http.GetAsync($"/v1/connections/{id}/schema");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
    }

    private static string UniqueUser(string prefix) => $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 13)];

    private static async Task<string> CreateAsync(HttpClient http, MariaDbServer server, string database, string user, string password, int? port = null)
    {
        var created = await HttpAssert.OkAsync(
            await http.PostAsJsonAsync("/v1/connections", new
            {
                name = $"mariadb-{Guid.NewGuid():N}",
                kind = "source",
                type = "mysql",
                settings = new { host = "127.0.0.1", port = port ?? server.Port, database, username = user, ssl_mode = "disabled" },
                secrets = new { password },
            }),
            HttpStatusCode.Created);
        return created.GetProperty("id").GetString()!;
    }

    private static async Task<JsonElement> TestAsync(HttpClient http, string id) =>
        await HttpAssert.OkAsync(await http.PostAsync($"/v1/connections/{id}/test", null));

    private static Dictionary<string, JsonElement> Checks(JsonElement result) =>
        result.GetProperty("checks").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!);
}
