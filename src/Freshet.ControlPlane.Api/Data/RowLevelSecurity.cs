namespace Freshet.ControlPlane.Api.Data;

/// <summary>
/// SQL for the row-level-security wall on tenant-owned tables. FORCE makes the policy bind the table owner too; the
/// application connects as a non-owner role without BYPASSRLS, so a query that escapes the EF filter still sees
/// only the tenant written into the session by <see cref="TenantSessionInterceptor"/>.
/// </summary>
internal static class RowLevelSecurity
{
    public const string PlatformScope = "platform";

    /// <summary>
    /// The tenant-owned tables the first migration created (it enables the wall on each). A table added by a later
    /// migration enables it in that migration (<see cref="Enable"/>) and is listed in <see cref="LaterTenantOwnedTables"/>.
    /// </summary>
    public static readonly string[] TenantOwnedTables =
        ["memberships", "api_clients", "connections", "pipelines", "pipeline_revisions", "snapshot_requests", "audit_events"];

    /// <summary>Tenant-owned tables added after the first migration, each walled by its own migration.</summary>
    public static readonly string[] LaterTenantOwnedTables = ["alert_rules"];

    public static string Enable(string table) => $"""
        ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
        ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_wall ON {table}
            USING (current_setting('freshet.scope', true) = '{PlatformScope}'
                   OR tenant_id = nullif(current_setting('freshet.tenant_id', true), '')::uuid)
            WITH CHECK (current_setting('freshet.scope', true) = '{PlatformScope}'
                   OR tenant_id = nullif(current_setting('freshet.tenant_id', true), '')::uuid);
        """;

    public static string Disable(string table) => $"""
        DROP POLICY IF EXISTS tenant_wall ON {table};
        ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY;
        ALTER TABLE {table} DISABLE ROW LEVEL SECURITY;
        """;
}
