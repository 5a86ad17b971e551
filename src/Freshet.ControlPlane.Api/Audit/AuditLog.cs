using System.Text.Json.Nodes;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;

namespace Freshet.ControlPlane.Api.Audit;

/// <summary>
/// Adds audit events to the same unit of work as the change they describe, so a change is never saved without its
/// event (and an event never claims a change that rolled back).
/// </summary>
internal sealed class AuditLog(ControlDbContext db, TenantContext tenant, TimeProvider clock)
{
    public void Record(string action, string resourceType, object? resourceId, JsonObject? details = null, Guid? tenantId = null)
    {
        var actor = tenant.Actor;
        db.AuditEvents.Add(new AuditEvent
        {
            Id = Guid.CreateVersion7(clock.GetUtcNow()),
            TenantId = tenantId ?? tenant.TenantId,
            OccurredAt = clock.GetUtcNow(),
            ActorType = actor.Type,
            ActorId = actor.Id,
            ActorName = actor.Name,
            Action = action,
            ResourceType = resourceType,
            ResourceId = resourceId?.ToString(),
            IpAddress = actor.IpAddress,
            Details = details,
        });
    }

    /// <summary>For reads that must be audited on their own (support staff reading a tenant).</summary>
    public async Task RecordNowAsync(string action, string resourceType, object? resourceId, JsonObject? details, CancellationToken cancellationToken)
    {
        Record(action, resourceType, resourceId, details);
        await db.SaveChangesAsync(cancellationToken);
    }
}
