using Microsoft.Extensions.Configuration;

namespace Freshet.ControlPlane.Host;

/// <summary>Which modules this process runs (<c>Freshet:Roles</c>, comma-separated; default: all of them).</summary>
internal sealed record ControlPlaneRoles(bool Api, bool Scheduler, bool Status)
{
    public static readonly string[] Known = ["api", "scheduler", "status"];

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

        return new ControlPlaneRoles(roles.Contains("api"), roles.Contains("scheduler"), roles.Contains("status"));
    }
}
