using Freshet.Contracts;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Pipelines;
using Freshet.ControlPlane.Api.Seeding;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api;

/// <summary>The API module's parts of the host's commands (migrate, seed-demo).</summary>
public static class ApiModuleCommands
{
    public static async Task SynchronizeBuiltInClientsAsync(IServiceProvider scopedServices, CancellationToken cancellationToken)
    {
        scopedServices.GetRequiredService<TenantContext>().SetPlatformScope();
        await scopedServices.GetRequiredService<BuiltInClients>().SynchronizeAsync(cancellationToken);
    }

    /// <summary>
    /// Every pipeline of every tenant as a worker spec (secrets included) with its desired state, for a worker embedded
    /// in this host until the scheduler places pipelines. <paramref name="epoch"/> is the placement epoch to run under.
    /// </summary>
    public static Task<IReadOnlyList<(Freshet.Contracts.PipelineSpec Spec, DesiredState State)>> ReadPipelineSpecsAsync(IServiceProvider scopedServices, long epoch, CancellationToken cancellationToken)
    {
        scopedServices.GetRequiredService<TenantContext>().SetPlatformScope();
        return scopedServices.GetRequiredService<PipelineSpecs>().ReadAllAsync(epoch, cancellationToken);
    }

    public static Task SeedDemoAsync(IServiceProvider scopedServices, string credentialsPath, string apiUrl, string? demoSourceConnectionString, CancellationToken cancellationToken) =>
        scopedServices.GetRequiredService<DemoSeeder>().SeedAsync(credentialsPath, apiUrl, demoSourceConnectionString, cancellationToken);
}
