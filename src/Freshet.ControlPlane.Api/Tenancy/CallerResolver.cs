using System.Security.Claims;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Data;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using OpenIddict.Abstractions;

namespace Freshet.ControlPlane.Api.Tenancy;

/// <summary>The authenticated caller as the database knows it now (roles and revocations apply at once).</summary>
internal sealed record Caller(Actor Actor, PlatformRole PlatformRole, Guid? UserId, Guid? ClientTenantId, TenantRole? ClientRole);

internal sealed class CallerResolver(ControlDbContext db, TenantContext tenant, TimeProvider clock)
{
    public async Task<Caller?> ResolveAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var principal = http.User;
        var subject = principal.FindFirstValue(OpenIddictConstants.Claims.Subject);
        var kind = principal.FindFirstValue(FreshetClaims.ActorType);
        var ip = http.Connection.RemoteIpAddress?.ToString();
        if (subject is null || kind is null)
        {
            return null;
        }

        using var system = tenant.EnterSystemScope();
        if (kind == FreshetClaims.ClientActor)
        {
            var client = await db.ApiClients.AsNoTracking()
                .Where(c => c.ClientId == subject && c.RevokedAt == null)
                .Select(c => new { c.ClientId, c.Name, c.TenantId, c.Role, c.PlatformRole })
                .FirstOrDefaultAsync(cancellationToken);
            return client is null
                ? null
                : new Caller(new Actor("client", client.ClientId, client.Name, ip), client.PlatformRole, null, client.TenantId, client.Role);
        }

        if (kind == FreshetClaims.UserActor && Guid.TryParse(subject, out var userId))
        {
            var user = await db.Users.AsNoTracking()
                .Where(u => u.Id == userId)
                .Select(u => new { u.Id, u.Email, u.PlatformRole, u.LockoutEnd })
                .FirstOrDefaultAsync(cancellationToken);
            if (user is null || user.LockoutEnd > clock.GetUtcNow().AddYears(50))
            {
                // Deleted, or disabled for good (lockout set to the far future); a temporary lockout only stops sign-in.
                return null;
            }

            return new Caller(new Actor("user", user.Id.ToString(), user.Email ?? user.Id.ToString(), ip), user.PlatformRole, user.Id, null, null);
        }

        // Any other actor (the worker pool among them) is nobody to tenant and platform endpoints: they answer 401.
        return null;
    }
}
