using System.Security.Claims;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;

namespace Freshet.ControlPlane.Api.Workers;

/// <summary>Marks an endpoint of the worker protocol: only the worker pool's tokens reach it.</summary>
internal sealed record WorkerAccess;

/// <summary>
/// Admits only tokens issued to the worker pool's OAuth client (actor <c>worker</c>, subject the configured client
/// id). Everyone else — people, tenant and platform API clients — gets 404, so the surface is not advertised; while no
/// worker client is configured, nobody gets in. Answers 503 when this host runs no scheduler to talk to.
/// </summary>
internal sealed class WorkerAccessFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var http = context.HttpContext;
        var services = http.RequestServices;
        var worker = services.GetRequiredService<IOptionsMonitor<AuthOptions>>().CurrentValue.WorkerClient;
        if (!IsWorker(http.User, worker))
        {
            return TypedResults.Problem(title: "Not found", statusCode: StatusCodes.Status404NotFound);
        }

        // Specs carry secrets; nothing the worker protocol answers is worth keeping in a cache.
        http.Response.Headers.CacheControl = "no-store";
        if (services.GetService<IWorkerControl>() is null)
        {
            return WorkerProblems.NoScheduler();
        }

        return await next(context);
    }

    public static bool IsWorker(ClaimsPrincipal user, WorkerClientOptions worker) =>
        worker.IsEnabled
        && user.FindFirstValue(FreshetClaims.ActorType) == FreshetClaims.WorkerActor
        && string.Equals(user.FindFirstValue(OpenIddictConstants.Claims.Subject), worker.ClientId, StringComparison.Ordinal);
}

internal static class WorkerProblems
{
    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult NoScheduler() =>
        TypedResults.Problem(
            title: "Scheduler unavailable",
            detail: "This control plane process does not run the scheduler role; the worker pool cannot be reached through it.",
            statusCode: StatusCodes.Status503ServiceUnavailable);
}
