using Freshet.Contracts;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Pipelines;

/// <summary>
/// The pipelines as the scheduler reads them, across every tenant. A singleton for the scheduler module: each call
/// takes its own DI scope (its own DbContext) in platform scope, which lifts both tenant walls for that scope only.
/// </summary>
internal sealed class PipelineCatalog(IServiceScopeFactory scopes) : IPipelineCatalog
{
    private static readonly IReadOnlyDictionary<string, string> NoLabels = new Dictionary<string, string>(StringComparer.Ordinal);

    public async Task<IReadOnlyList<PipelineDemandInfo>> ReadDemandsAsync(CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetPlatformScope();
        var db = scope.ServiceProvider.GetRequiredService<ControlDbContext>();
        var rows = await db.Pipelines.AsNoTracking()
            .OrderBy(p => p.Id)
            .Select(p => new { p.Id, p.TenantId, p.DesiredState, p.Generation })
            .ToListAsync(cancellationToken);

        // Pipelines have no label requirement yet (no field in the API or the table): every worker may run any
        // pipeline. When one is added (e.g. a zone), it is read here.
        return rows.Select(p => new PipelineDemandInfo(p.Id, p.TenantId, p.DesiredState, p.Generation, NoLabels)).ToList();
    }

    public async Task<Freshet.Contracts.PipelineSpec?> ReadSpecAsync(Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        await using var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetPlatformScope();
        return await scope.ServiceProvider.GetRequiredService<PipelineSpecs>().ReadAsync(pipelineId, epoch, cancellationToken);
    }

    public async Task CompleteSnapshotRequestsAsync(Guid pipelineId, IReadOnlyCollection<Guid> requestIds, CancellationToken cancellationToken)
    {
        if (requestIds.Count == 0)
        {
            return;
        }

        await using var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetPlatformScope();
        var db = scope.ServiceProvider.GetRequiredService<ControlDbContext>();
        var now = scope.ServiceProvider.GetRequiredService<TimeProvider>().GetUtcNow();
        var ids = requestIds.ToList();

        // Only pending requests of this pipeline: a repeated report changes nothing, and a worker cannot complete
        // another pipeline's request.
        await db.SnapshotRequests
            .Where(r => r.PipelineId == pipelineId && ids.Contains(r.Id) && r.CompletedAt == null)
            .ExecuteUpdateAsync(u => u.SetProperty(r => r.CompletedAt, now), cancellationToken);
    }
}
