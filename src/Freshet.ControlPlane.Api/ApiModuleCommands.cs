using Freshet.ControlPlane.Api.Auth;
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

    public static Task SeedDemoAsync(IServiceProvider scopedServices, string credentialsPath, string apiUrl, string? demoSourceConnectionString, string? consoleUrl, CancellationToken cancellationToken) =>
        scopedServices.GetRequiredService<DemoSeeder>().SeedAsync(credentialsPath, apiUrl, demoSourceConnectionString, consoleUrl, cancellationToken);
}
