using Freshet.Contracts;
using Freshet.ControlPlane.Api.Data;

namespace Freshet.ControlPlane.Api.Alerts;

/// <summary>
/// A tenant's alert rule: what to watch on which pipelines, for how long, and where to post the notices. The status
/// module evaluates it (through <see cref="AlertRuleCatalog"/>); its signing secret is sealed like connection secrets and
/// shown only when created or rotated.
/// </summary>
internal sealed class AlertRule : ITenantOwned, IVersioned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public required string Name { get; set; }

    public AlertCondition Condition { get; set; }

    /// <summary>Seconds for lag, bytes for retained WAL; null for the other conditions.</summary>
    public double? Threshold { get; set; }

    /// <summary>The health states that fire a health-state rule; empty for the other conditions.</summary>
    public List<PipelineHealthState> States { get; set; } = [];

    public int ForSeconds { get; set; }

    public int QuietPeriodSeconds { get; set; }

    /// <summary>The one pipeline it watches, or null for every pipeline of the tenant.</summary>
    public Guid? PipelineId { get; set; }

    public required string WebhookUrl { get; set; }

    /// <summary>The signing secret, sealed by <see cref="Secrets.SecretBox"/>.</summary>
    public required byte[] EncryptedSigningSecret { get; set; }

    public bool Enabled { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public required string CreatedBy { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public DateTimeOffset SecretRotatedAt { get; set; }

    public int Version { get; set; }
}
