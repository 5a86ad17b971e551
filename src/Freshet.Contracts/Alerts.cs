namespace Freshet.Contracts;

/// <summary>What an alert rule watches on each pipeline in its scope.</summary>
public enum AlertCondition
{
    /// <summary>Lag in seconds above the rule's threshold.</summary>
    LagAbove,
    /// <summary>Health in one of the rule's states (by default Failing or Stale).</summary>
    HealthState,
    /// <summary>WAL retained by the pipeline's replication slot above the rule's threshold, in bytes (PostgreSQL).</summary>
    RetainedWalAbove,
    /// <summary>At least one of the pipeline's tables is quarantined.</summary>
    TableQuarantined,
}

/// <summary>
/// An alert rule as the status module evaluates and delivers it: owned by the API module (a tenant resource), read
/// with its signing secret opened, in process only (secrets never travel on the bus).
/// </summary>
/// <param name="RuleId">The rule.</param>
/// <param name="TenantId">Its tenant; it watches only that tenant's pipelines.</param>
/// <param name="Name">For people.</param>
/// <param name="Condition">What it watches.</param>
/// <param name="Threshold">Seconds (<see cref="AlertCondition.LagAbove"/>) or bytes (<see cref="AlertCondition.RetainedWalAbove"/>); null otherwise.</param>
/// <param name="States">The states that fire <see cref="AlertCondition.HealthState"/>; empty otherwise.</param>
/// <param name="For">How long the condition must hold before the alert fires.</param>
/// <param name="QuietPeriod">After a notification fires, how long further firings of the same rule and pipeline stay silent.</param>
/// <param name="PipelineId">The one pipeline it watches, or null for every pipeline of the tenant.</param>
/// <param name="WebhookUrl">Where notifications are posted.</param>
/// <param name="SigningSecret">The per-rule secret (<c>whsec_</c> + base64) that signs each delivery.</param>
/// <param name="Enabled">Disabled rules are not evaluated; their open alerts close without a notice.</param>
public sealed record AlertRuleDefinition(
    Guid RuleId,
    Guid TenantId,
    string Name,
    AlertCondition Condition,
    double? Threshold,
    IReadOnlyList<PipelineHealthState> States,
    TimeSpan For,
    TimeSpan QuietPeriod,
    Guid? PipelineId,
    Uri WebhookUrl,
    string SigningSecret,
    bool Enabled);

/// <summary>How alert rules' signing secrets are written (as Standard Webhooks writes them): this prefix, then base64.</summary>
public static class AlertSigningSecrets
{
    /// <summary>What every signing secret starts with; the key is the base64-decoded rest.</summary>
    public const string Prefix = "whsec_";
}

/// <summary>A pipeline an alert rule may watch: its tenant, its name, and what its health is judged from.</summary>
public sealed record AlertSubject(Guid TenantId, string PipelineName, PipelineStatusQuery Query);

/// <summary>The alert rules and the pipelines they watch, across tenants; provided by the API module.</summary>
public interface IAlertRuleCatalog
{
    /// <summary>Every enabled rule of every tenant.</summary>
    Task<IReadOnlyList<AlertRuleDefinition>> ReadEnabledRulesAsync(CancellationToken cancellationToken);

    /// <summary>One rule, enabled or not; null when it was deleted.</summary>
    Task<AlertRuleDefinition?> ReadRuleAsync(Guid ruleId, CancellationToken cancellationToken);

    /// <summary>Every pipeline of the given tenants, with what its health is judged from.</summary>
    Task<IReadOnlyList<AlertSubject>> ReadSubjectsAsync(IReadOnlyCollection<Guid> tenantIds, CancellationToken cancellationToken);
}

/// <summary>One time a rule's condition held on a pipeline long enough to fire, until it cleared.</summary>
/// <param name="Id">Increasing; pages go backwards from it.</param>
/// <param name="RuleId">The rule (it may since have been deleted).</param>
/// <param name="RuleName">The rule's name when the alert opened.</param>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="PipelineName">The pipeline's name when the alert opened.</param>
/// <param name="ConditionSince">Since when the condition held.</param>
/// <param name="OpenedAt">When it held for the rule's duration and the alert fired.</param>
/// <param name="ResolvedAt">When the condition cleared (or the rule or pipeline went away); null while open.</param>
/// <param name="Resolution"><c>cleared</c>, <c>rule_removed</c> or <c>pipeline_removed</c>; null while open.</param>
/// <param name="Summary">What fired, for people.</param>
/// <param name="Value">The watched value when it fired (lag seconds, retained bytes, quarantined tables), when it has one.</param>
/// <param name="Notified">A firing notice was sent (false when the rule's quiet period silenced it; its resolution is then silent too).</param>
public sealed record AlertIncidentView(
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

/// <summary>One try at posting a notification.</summary>
/// <param name="Attempt">1 for the first try.</param>
/// <param name="At">When it started.</param>
/// <param name="StatusCode">The receiver's HTTP status, when it answered.</param>
/// <param name="Error">Why it failed, when it did.</param>
/// <param name="DurationMs">How long it took.</param>
public sealed record AlertDeliveryAttemptView(int Attempt, DateTimeOffset At, int? StatusCode, string? Error, double DurationMs);

/// <summary>A notification and its delivery.</summary>
/// <param name="Id">Sent as the <c>webhook-id</c> header and the payload's <c>id</c>: the same on every retry, so a receiver can drop repeats.</param>
/// <param name="RuleId">The rule.</param>
/// <param name="IncidentId">The alert it tells of; null for a test.</param>
/// <param name="PipelineId">The pipeline; null for a test.</param>
/// <param name="Type"><c>alert.firing</c>, <c>alert.resolved</c> or <c>alert.test</c>.</param>
/// <param name="State"><c>pending</c>, <c>delivered</c>, <c>failed</c> (every retry failed) or <c>dropped</c> (the rule went away first).</param>
/// <param name="CreatedAt">When it was raised.</param>
/// <param name="CompletedAt">When it was delivered, or given up.</param>
/// <param name="Attempts">Every try, first first.</param>
public sealed record AlertDeliveryView(
    Guid Id,
    Guid RuleId,
    long? IncidentId,
    Guid? PipelineId,
    string Type,
    string State,
    DateTimeOffset CreatedAt,
    DateTimeOffset? CompletedAt,
    IReadOnlyList<AlertDeliveryAttemptView> Attempts);

/// <summary>Alert history and test sends, provided by the status module. Every read is confined to one tenant.</summary>
public interface IAlertHistory
{
    /// <summary>The tenant's alerts, newest first, before the id <paramref name="before"/> when given.</summary>
    Task<IReadOnlyList<AlertIncidentView>> ReadIncidentsAsync(
        Guid tenantId, Guid? ruleId, Guid? pipelineId, bool? open, long? before, int limit, CancellationToken cancellationToken);

    /// <summary>A rule's notifications with their attempts, newest first (ids are time-ordered), before the id <paramref name="before"/> when given.</summary>
    Task<IReadOnlyList<AlertDeliveryView>> ReadDeliveriesAsync(
        Guid tenantId, Guid ruleId, Guid? before, int limit, CancellationToken cancellationToken);

    /// <summary>Posts a sample notification for <paramref name="rule"/> once, now, and records it with the rule's deliveries.</summary>
    Task<AlertDeliveryView> SendTestAsync(AlertRuleDefinition rule, CancellationToken cancellationToken);
}
