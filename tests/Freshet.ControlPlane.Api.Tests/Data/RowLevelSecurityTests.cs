using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Npgsql;

namespace Freshet.ControlPlane.Api.Tests.Data;

/// <summary>The second wall: the database itself refuses rows of another tenant, whatever SQL the app sends.</summary>
public sealed class RowLevelSecurityTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task RawQueryAsApplicationRole_SeesOnlyTheTenantInTheSession()
    {
        var (demoId, acmeId) = await TenantIdsAsync();
        await using var connection = new NpgsqlConnection(factory.AppConnectionString);
        await connection.OpenAsync();

        Assert.Equal(0L, await CountPipelinesAsync(connection, tenant: null, where: "true"));
        Assert.Equal(0L, await CountPipelinesAsync(connection, tenant: acmeId, where: $"tenant_id = '{demoId}'"));
        Assert.Equal(1L, await CountPipelinesAsync(connection, tenant: demoId, where: $"tenant_id = '{demoId}'"));

        foreach (var table in new[] { "connections", "pipeline_revisions", "memberships", "api_clients", "audit_events", "alert_rules" })
        {
            await SetTenantAsync(connection, acmeId);
            await using var command = new NpgsqlCommand($"SELECT count(*) FROM {table} WHERE tenant_id = @demo", connection);
            command.Parameters.AddWithValue("demo", demoId);
            Assert.Equal(0L, (long)(await command.ExecuteScalarAsync())!);
        }
    }

    [Fact]
    public async Task EveryTenantOwnedTable_HasTheWallForced_IncludingTablesOfLaterMigrations()
    {
        await using var connection = new NpgsqlConnection(factory.AdminConnectionString);
        await connection.OpenAsync();
        var tables = Freshet.ControlPlane.Api.Data.RowLevelSecurity.TenantOwnedTables.Concat(Freshet.ControlPlane.Api.Data.RowLevelSecurity.LaterTenantOwnedTables).ToList();
        Assert.Contains("alert_rules", tables);
        foreach (var table in tables)
        {
            await using var command = new NpgsqlCommand(
                "SELECT c.relrowsecurity AND c.relforcerowsecurity AND EXISTS (SELECT 1 FROM pg_policies p WHERE p.tablename = c.relname AND p.policyname = 'tenant_wall') FROM pg_class c WHERE c.relname = @table",
                connection);
            command.Parameters.AddWithValue("table", table);
            Assert.True(await command.ExecuteScalarAsync() is true, $"{table} has no forced tenant wall");
        }
    }

    [Fact]
    public async Task RawInsertForAnotherTenant_IsRefusedByThePolicy()
    {
        var (demoId, acmeId) = await TenantIdsAsync();
        await using var connection = new NpgsqlConnection(factory.AppConnectionString);
        await connection.OpenAsync();
        await SetTenantAsync(connection, acmeId);
        await using var command = new NpgsqlCommand(
            "INSERT INTO audit_events (id, tenant_id, occurred_at, actor_type, actor_id, actor_name, action, resource_type) VALUES (gen_random_uuid(), @demo, now(), 'user', 'x', 'x', 'forged', 'tenant')",
            connection);
        command.Parameters.AddWithValue("demo", demoId);
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
    }

    [Fact]
    public async Task ApplicationRole_CannotSwitchTheWallOff()
    {
        await using var connection = new NpgsqlConnection(factory.AppConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("ALTER TABLE pipelines DISABLE ROW LEVEL SECURITY", connection);
        var error = await Assert.ThrowsAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
        Assert.Equal(PostgresErrorCodes.InsufficientPrivilege, error.SqlState);
        await using var bypass = new NpgsqlCommand("SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user", connection);
        Assert.False((bool)(await bypass.ExecuteScalarAsync())!);
    }

    private async Task<(Guid Demo, Guid Acme)> TenantIdsAsync()
    {
        await using var admin = new NpgsqlConnection(factory.AdminConnectionString);
        await admin.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT slug, id FROM tenants", admin);
        await using var reader = await command.ExecuteReaderAsync();
        var ids = new Dictionary<string, Guid>();
        while (await reader.ReadAsync())
        {
            ids[reader.GetString(0)] = reader.GetGuid(1);
        }

        return (ids["demo"], ids["acme"]);
    }

    private static async Task SetTenantAsync(NpgsqlConnection connection, Guid? tenant)
    {
        await using var command = new NpgsqlCommand("SELECT set_config('freshet.tenant_id', @t, false), set_config('freshet.scope', 'tenant', false)", connection);
        command.Parameters.AddWithValue("t", tenant?.ToString() ?? "");
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<long> CountPipelinesAsync(NpgsqlConnection connection, Guid? tenant, string where)
    {
        await SetTenantAsync(connection, tenant);
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM pipelines WHERE {where}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
