using Microsoft.Extensions.Hosting;

namespace Freshet.ControlPlane.Status;

/// <summary>
/// The status module: worker reports, health, time series, alerts. An empty shell in this release so that hosts
/// can already compose it; the status issue fills it.
/// </summary>
public static class StatusModule
{
    public static IHostApplicationBuilder AddStatusModule(this IHostApplicationBuilder builder) => builder;
}
