using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Tenancy;

/// <summary>Guards platform endpoints (tenants): support reads them, platform admins change them.</summary>
internal sealed class PlatformAccessFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var access = http.GetEndpoint()?.Metadata.GetMetadata<PlatformAccess>();
        if (access is null)
        {
            return Problems.Forbidden("This endpoint has no access rule.");
        }

        var services = http.RequestServices;
        var caller = await services.GetRequiredService<CallerResolver>().ResolveAsync(http, http.RequestAborted);
        if (caller is null)
        {
            return TypedResults.Problem(title: "Unauthorized", detail: "The token's client or user no longer exists or was revoked.", statusCode: StatusCodes.Status401Unauthorized);
        }

        if (caller.PlatformRole < access.MinimumRole)
        {
            // Tenant members do not learn that platform endpoints exist.
            return caller.PlatformRole == PlatformRole.None
                ? TypedResults.Problem(title: "Not found", statusCode: StatusCodes.Status404NotFound)
                : Problems.Forbidden("This needs the platform_admin role.");
        }

        var tenant = services.GetRequiredService<TenantContext>();
        tenant.SetCaller(caller.Actor, caller.PlatformRole);
        tenant.SetPlatformScope();
        if (!access.Writes && caller.PlatformRole == PlatformRole.Support)
        {
            await services.GetRequiredService<AuditLog>().RecordNowAsync(
                "support.read", "platform", null, new JsonObject { ["method"] = http.Request.Method, ["path"] = http.Request.Path.Value }, http.RequestAborted);
        }

        return await next(context);
    }
}
