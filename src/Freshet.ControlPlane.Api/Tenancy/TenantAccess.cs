using Freshet.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Freshet.ControlPlane.Api.Tenancy;

/// <summary>What an endpoint in a tenant needs: the least role, and whether it changes anything.</summary>
internal sealed record TenantAccess(TenantRole MinimumRole, bool Writes);

/// <summary>What a platform endpoint needs.</summary>
internal sealed record PlatformAccess(PlatformRole MinimumRole, bool Writes);

internal static class AccessConventions
{
    /// <summary>The header that names the tenant (slug or id) for people who belong to several.</summary>
    public const string TenantHeader = "Freshet-Tenant";

    public static RouteHandlerBuilder Reads(this RouteHandlerBuilder builder, TenantRole minimumRole = TenantRole.Viewer) =>
        builder.WithMetadata(new TenantAccess(minimumRole, Writes: false));

    public static RouteHandlerBuilder Writes(this RouteHandlerBuilder builder, TenantRole minimumRole) =>
        builder.WithMetadata(new TenantAccess(minimumRole, Writes: true)).ProducesProblem(StatusCodes.Status403Forbidden);

    public static RouteHandlerBuilder PlatformReads(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new PlatformAccess(PlatformRole.Support, Writes: false));

    public static RouteHandlerBuilder PlatformWrites(this RouteHandlerBuilder builder) =>
        builder.WithMetadata(new PlatformAccess(PlatformRole.PlatformAdmin, Writes: true));
}
