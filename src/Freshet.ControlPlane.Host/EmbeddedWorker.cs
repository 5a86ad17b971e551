using Freshet.DataPlane;
using Freshet.DataPlane.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Freshet.ControlPlane.Host;

/// <summary>
/// The <c>worker</c> role: a data-plane worker inside the control-plane process, as the local one-command setup needs.
/// It is the same <see cref="WorkerAgent"/> as a standalone worker's — it registers, holds a lease, runs what the
/// scheduler places on it under each placement's epoch, and drains on shutdown — but talks to the scheduler module's
/// <see cref="Contracts.IWorkerControl"/> in this process instead of over HTTPS.
/// </summary>
internal static class EmbeddedWorker
{
    public static void Add(WebApplicationBuilder builder, bool publishReports)
    {
        var section = builder.Configuration.GetSection(DataPlaneOptions.Section);
        var options = section.Get<DataPlaneOptions>() ?? new DataPlaneOptions();
        var agentOptions = section.Get<WorkerAgentOptions>() ?? new WorkerAgentOptions();
        // The scheduler module registers IWorkerControl; the agent resolves it from the container.
        if (publishReports)
        {
            builder.Services.AddSingleton<IProgressReportPublisher, EmbeddedWorkerReports>();
        }

        builder.Services.AddDataPlaneWorkerAgent(options, agentOptions);
        builder.Services.Configure<HostOptions>(o =>
        {
            if (o.ShutdownTimeout < agentOptions.ShutdownTimeout)
            {
                o.ShutdownTimeout = agentOptions.ShutdownTimeout;
            }
        });
    }
}
