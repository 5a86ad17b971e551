using Microsoft.Extensions.Configuration;

namespace Freshet.ControlPlane.Host;

/// <summary>
/// Which modules this process runs (<c>Freshet:Roles</c>, comma-separated; default: api, scheduler, status). The
/// <c>worker</c> role embeds a data-plane worker that the scheduler in this process places pipelines on (the local
/// one-process setup); production runs workers as their own Deployment instead.
/// </summary>
internal sealed record ControlPlaneRoles(bool Api, bool Scheduler, bool Status, bool Worker = false)
{
    public static readonly string[] Known = ["api", "scheduler", "status", "worker"];

    public static ControlPlaneRoles From(IConfiguration configuration)
    {
        var value = configuration["Freshet:Roles"];
        if (string.IsNullOrWhiteSpace(value))
        {
            return new ControlPlaneRoles(true, true, true);
        }

        var roles = value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(r => r.ToLowerInvariant()).ToHashSet();
        var unknown = roles.Except(Known).ToList();
        if (unknown.Count > 0 || roles.Count == 0)
        {
            throw new InvalidOperationException($"Freshet:Roles has unknown role(s) {string.Join(", ", unknown)}; known roles are {string.Join(", ", Known)}.");
        }

        if (roles.Contains("worker") && !(roles.Contains("api") && roles.Contains("scheduler")))
        {
            throw new InvalidOperationException("Freshet:Roles: the embedded worker is placed by the scheduler role in this process, which reads pipelines through the api role; run the three together (a standalone worker is Freshet.DataPlane.Worker).");
        }

        return new ControlPlaneRoles(roles.Contains("api"), roles.Contains("scheduler"), roles.Contains("status"), roles.Contains("worker"));
    }
}
