using System.Text.Json.Nodes;

namespace Freshet.ControlPlane.Api.Audit;

internal sealed class AuditEvent
{
    public Guid Id { get; set; }

    /// <summary>The tenant the event concerns; null for platform-level events.</summary>
    public Guid? TenantId { get; set; }

    public DateTimeOffset OccurredAt { get; set; }

    public required string ActorType { get; set; }

    public required string ActorId { get; set; }

    public required string ActorName { get; set; }

    public required string Action { get; set; }

    public required string ResourceType { get; set; }

    public string? ResourceId { get; set; }

    public string? IpAddress { get; set; }

    /// <summary>What changed (field names and non-secret values); never a secret.</summary>
    public JsonObject? Details { get; set; }
}
