using System.Data.Common;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace Freshet.ControlPlane.Api.Data;

/// <summary>
/// The second tenancy wall: every connection the API opens carries the request's tenant in session settings
/// that the row-level-security policies read (see <see cref="RowLevelSecurity"/>). Settings are written on every
/// open because pooled connections are shared between requests of different tenants.
/// </summary>
internal sealed class TenantSessionInterceptor : DbConnectionInterceptor
{
    private const string SetSessionSql =
        "SELECT set_config('freshet.tenant_id', @tenant, false), set_config('freshet.scope', @scope, false)";

    public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
    {
        using var command = CreateCommand(connection, eventData);
        command.ExecuteNonQuery();
    }

    public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData, CancellationToken cancellationToken = default)
    {
        await using var command = CreateCommand(connection, eventData);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static NpgsqlCommand CreateCommand(DbConnection connection, ConnectionEndEventData eventData)
    {
        var tenant = (eventData.Context as ControlDbContext)?.Tenant;
        var command = new NpgsqlCommand(SetSessionSql, (NpgsqlConnection)connection);
        command.Parameters.AddWithValue("tenant", tenant?.TenantId?.ToString() ?? "");
        command.Parameters.AddWithValue("scope", tenant is { BypassesTenantWall: true } ? RowLevelSecurity.PlatformScope : "tenant");
        return command;
    }
}
