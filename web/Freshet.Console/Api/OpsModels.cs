using System.Text.Json.Serialization;

namespace Freshet.Console.Api;

// Shapes of the operations areas (pipeline metrics and re-snapshots, alerts, the support view), as the console reads
// them. Conditions, states and delivery states stay strings, as in ApiModels.cs: one the API adds later shows by name.

/// <summary>A series read of <c>GET /v1/pipelines/{id}/metrics</c>: one point per step, oldest first.</summary>
public sealed record PipelineMetrics(DateTimeOffset From, DateTimeOffset To, int StepSeconds, IReadOnlyList<MetricPoint> Points);

public sealed record MetricPoint(DateTimeOffset At, double LagSeconds, double LagSecondsMax, long? LagBytes, double RowsPerSecond, double BytesPerSecond, long Errors);

/// <summary>A table to copy again (<c>POST /v1/pipelines/{id}/resnapshot</c>) and its progress (<c>…/resnapshots</c>).</summary>
public sealed record SnapshotRequest(Guid Id, string Schema, string Name, DateTimeOffset RequestedAt, string RequestedBy, DateTimeOffset? CompletedAt);

public sealed record AlertRule(
    Guid Id,
    string Name,
    string Condition,
    double? Threshold,
    IReadOnlyList<string> States,
    int ForSeconds,
    int QuietPeriodSeconds,
    Guid? PipelineId,
    string WebhookUrl,
    bool Enabled,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset UpdatedAt,
    DateTimeOffset SecretRotatedAt) : IConcurrencyTagged
{
    [JsonIgnore]
    public string? ETag { get; set; }
}

/// <summary>Only create and rotate answer with the signing secret; it is never readable again.</summary>
public sealed record AlertRuleWithSecret(AlertRule Rule, string SigningSecret) : IConcurrencyTagged
{
    /// <summary>The response's ETag is the rule's.</summary>
    [JsonIgnore]
    public string? ETag
    {
        get => Rule.ETag;
        set => Rule.ETag = value;
    }
}

public sealed record AlertDeliveryAttempt(int Attempt, DateTimeOffset At, int? StatusCode, string? Error, double DurationMs);

public sealed record AlertDelivery(
    Guid Id, Guid RuleId, long? IncidentId, Guid? PipelineId, string Type, string State, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt, IReadOnlyList<AlertDeliveryAttempt> Attempts);

public sealed record AlertIncident(
    long Id,
    Guid RuleId,
    string RuleName,
    Guid PipelineId,
    string PipelineName,
    DateTimeOffset ConditionSince,
    DateTimeOffset OpenedAt,
    DateTimeOffset? ResolvedAt,
    string? Resolution,
    string Summary,
    double? Value,
    bool Notified);

/// <summary>The pipeline list (<c>GET /v1/pipelines</c>), as far as choosing one for an alert rule needs it.</summary>
public sealed record PipelineSummary(Guid Id, string Name);

/// <summary>One tenant in support staff's list (<c>GET /v1/support/tenants</c>), worst health first.</summary>
public sealed record SupportTenant(Guid TenantId, string Slug, string Name, string? Worst, double? MaxLagSeconds, IReadOnlyDictionary<string, int> Counts, int Pipelines);
