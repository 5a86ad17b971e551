using Freshet.Contracts;
using Freshet.ControlPlane.Api;
using Freshet.DataPlane;
using Freshet.DataPlane.Runtime;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Host;

/// <summary>
/// The <c>worker</c> role: a data-plane worker inside the control-plane process that runs every pipeline of the
/// control database, as the local one-command setup needs. Until the scheduler assigns pipelines (with a new epoch per
/// placement), this single worker runs under an epoch taken from the clock when the process starts: later than any
/// earlier run's, so a restarted process always supersedes its predecessor. Running two such processes at once is not
/// supported; the destinations' epoch fencing would stop the older one.
/// </summary>
internal static class EmbeddedWorker
{
    public static void Add(WebApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(DataPlaneOptions.Section).Get<DataPlaneOptions>() ?? new DataPlaneOptions();
        builder.Services.AddDataPlaneWorker<ControlDatabaseFeed>(options);
    }

    /// <summary>Reads the assignments straight from the control database (all tenants), level-triggered.</summary>
    private sealed class ControlDatabaseFeed(IServiceScopeFactory scopes, TimeProvider time) : IPipelineAssignmentFeed
    {
        private readonly long _epoch = time.GetUtcNow().ToUnixTimeMilliseconds();

        public async Task<IReadOnlyList<PipelineAssignment>> GetAssignmentsAsync(CancellationToken cancellationToken)
        {
            await using var scope = scopes.CreateAsyncScope();
            var specs = await ApiModuleCommands.ReadPipelineSpecsAsync(scope.ServiceProvider, _epoch, cancellationToken);
            return [.. specs.Select(s => new PipelineAssignment(s.Spec, s.State))];
        }
    }
}
