using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Tenancy;

/// <summary>
/// Decides, before any handler runs, which tenant a request acts in and whether the caller may do what the endpoint
/// declares (<see cref="TenantAccess"/>). A tenant the caller cannot see answers 404 exactly like one that does not
/// exist; a visible tenant with too little role answers 403. Support staff may read any tenant, never write, and
/// each of their reads is audited.
/// </summary>
internal sealed class TenantAccessFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var access = http.GetEndpoint()?.Metadata.GetMetadata<TenantAccess>();
        if (access is null)
        {
            // Fail closed: an endpoint that forgot to declare its access is not served.
            return Problems.Forbidden("This endpoint has no access rule.");
        }

        var services = http.RequestServices;
        var tenant = services.GetRequiredService<TenantContext>();
        var caller = await services.GetRequiredService<CallerResolver>().ResolveAsync(http, http.RequestAborted);
        if (caller is null)
        {
            return TypedResults.Problem(title: "Unauthorized", detail: "The token's client or user no longer exists or was revoked.", statusCode: StatusCodes.Status401Unauthorized);
        }

        tenant.SetCaller(caller.Actor, caller.PlatformRole);
        var db = services.GetRequiredService<ControlDbContext>();
        var requested = http.Request.Headers[AccessConventions.TenantHeader].ToString();
        var selection = await SelectTenantAsync(db, tenant, caller, requested, http.RequestAborted);
        if (selection.Problem is not null)
        {
            return selection.Problem;
        }

        var (tenantId, slug, role) = selection.Tenant!.Value;
        var supportAccess = role is null;
        if (supportAccess)
        {
            if (access.Writes)
            {
                return Problems.Forbidden("Support access to a tenant is read-only.");
            }
        }
        else if (role < access.MinimumRole || (access.Writes && role < TenantRole.Editor))
        {
            return Problems.Forbidden($"This needs the {ApiJson.EnumValue(access.MinimumRole)} role or higher; you are {ApiJson.EnumValue(role!.Value)}.");
        }

        tenant.SetTenant(tenantId, slug, role, supportAccess);
        if (supportAccess)
        {
            await services.GetRequiredService<AuditLog>().RecordNowAsync(
                "support.read",
                "tenant",
                tenantId,
                new JsonObject { ["method"] = http.Request.Method, ["path"] = http.Request.Path.Value, ["query"] = http.Request.QueryString.Value },
                http.RequestAborted);
        }

        return await next(context);
    }

    private static async Task<(IResult? Problem, (Guid Id, string Slug, TenantRole? Role)? Tenant)> SelectTenantAsync(
        ControlDbContext db, TenantContext tenant, Caller caller, string requested, CancellationToken cancellationToken)
    {
        using var system = tenant.EnterSystemScope();
        var hasHeader = !string.IsNullOrWhiteSpace(requested);
        var requestedId = Guid.TryParse(requested, out var parsed) ? parsed : (Guid?)null;
        var requestedSlug = hasHeader ? requested.Trim().ToLowerInvariant() : null;

        if (caller.ClientTenantId is { } clientTenant)
        {
            var own = await db.Tenants.AsNoTracking().Where(t => t.Id == clientTenant).Select(t => new { t.Id, t.Slug }).FirstOrDefaultAsync(cancellationToken);
            if (own is null || (hasHeader && own.Id != requestedId && own.Slug != requestedSlug))
            {
                return (TenantNotFound(), null);
            }

            return (null, (own.Id, own.Slug, caller.ClientRole));
        }

        if (caller.UserId is { } userId)
        {
            var memberships = from m in db.Memberships.AsNoTracking()
                              join t in db.Tenants.AsNoTracking() on m.TenantId equals t.Id
                              where m.UserId == userId
                              select new { t.Id, t.Slug, m.Role };
            if (hasHeader)
            {
                memberships = requestedId is { } id ? memberships.Where(m => m.Id == id) : memberships.Where(m => m.Slug == requestedSlug);
            }

            var found = await memberships.Take(2).ToListAsync(cancellationToken);
            if (found.Count == 1)
            {
                return (null, (found[0].Id, found[0].Slug, found[0].Role));
            }

            if (found.Count > 1)
            {
                return (Problems.BadRequest($"You belong to several tenants: name one in the {AccessConventions.TenantHeader} header (slug or id)."), null);
            }
        }

        if (caller.PlatformRole >= PlatformRole.Support && hasHeader)
        {
            var any = await db.Tenants.AsNoTracking()
                .Where(t => requestedId != null ? t.Id == requestedId : t.Slug == requestedSlug)
                .Select(t => new { t.Id, t.Slug })
                .FirstOrDefaultAsync(cancellationToken);
            if (any is not null)
            {
                return (null, (any.Id, any.Slug, null));
            }
        }

        if (!hasHeader && caller.PlatformRole >= PlatformRole.Support)
        {
            return (Problems.BadRequest($"Platform staff name the tenant to read in the {AccessConventions.TenantHeader} header."), null);
        }

        return (TenantNotFound(), null);
    }

    private static IResult TenantNotFound() =>
        TypedResults.Problem(title: "Tenant not found", detail: "No tenant with this name is visible to you.", statusCode: StatusCodes.Status404NotFound);
}
