using System.Text;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Pipelines;
using Freshet.ControlPlane.Api.Secrets;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Alerts;

/// <summary>
/// The alert rules and the pipelines they watch, across every tenant, for the status module's evaluation. Like
/// <see cref="PipelineCatalog"/>, each call takes its own scope in platform scope; signing secrets are opened here and
/// handed over in process only.
/// </summary>
internal sealed class AlertRuleCatalog(IServiceScopeFactory scopes) : IAlertRuleCatalog
{
    public async Task<IReadOnlyList<AlertRuleDefinition>> ReadEnabledRulesAsync(CancellationToken cancellationToken)
    {
        await using var scope = PlatformScope(out var db);
        var box = scope.ServiceProvider.GetRequiredService<SecretBox>();
        var rules = await db.AlertRules.AsNoTracking().Where(r => r.Enabled).OrderBy(r => r.Id).ToListAsync(cancellationToken);
        return rules.Select(r => Definition(r, box)).ToList();
    }

    public async Task<AlertRuleDefinition?> ReadRuleAsync(Guid ruleId, CancellationToken cancellationToken)
    {
        await using var scope = PlatformScope(out var db);
        var rule = await db.AlertRules.AsNoTracking().FirstOrDefaultAsync(r => r.Id == ruleId, cancellationToken);
        return rule is null ? null : Definition(rule, scope.ServiceProvider.GetRequiredService<SecretBox>());
    }

    public async Task<IReadOnlyList<AlertSubject>> ReadSubjectsAsync(IReadOnlyCollection<Guid> tenantIds, CancellationToken cancellationToken)
    {
        await using var scope = PlatformScope(out var db);
        var ids = tenantIds.ToList();
        var pipelines = await db.Pipelines.AsNoTracking().Where(p => ids.Contains(p.TenantId)).OrderBy(p => p.Id).ToListAsync(cancellationToken);
        // Where pipelines run, read as the status API reads it.
        var runtimeOf = await PipelineRuntimes.ReadAsync(scope.ServiceProvider, pipelines, cancellationToken);
        return pipelines.Select(p => new AlertSubject(p.TenantId, p.Name, PipelineStatusQueries.For(p, runtimeOf?.Invoke(p)))).ToList();
    }

    public static AlertRuleDefinition Definition(AlertRule rule, SecretBox box) =>
        new(
            rule.Id,
            rule.TenantId,
            rule.Name,
            rule.Condition,
            rule.Threshold,
            rule.States,
            TimeSpan.FromSeconds(rule.ForSeconds),
            TimeSpan.FromSeconds(rule.QuietPeriodSeconds),
            rule.PipelineId,
            new Uri(rule.WebhookUrl),
            Encoding.UTF8.GetString(box.Open(rule.EncryptedSigningSecret)),
            rule.Enabled);

    private AsyncServiceScope PlatformScope(out ControlDbContext db)
    {
        var scope = scopes.CreateAsyncScope();
        scope.ServiceProvider.GetRequiredService<TenantContext>().SetPlatformScope();
        db = scope.ServiceProvider.GetRequiredService<ControlDbContext>();
        return scope;
    }
}
