using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.Contracts;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>
/// The JSON a webhook receives (snake_case, like the API): <c>id</c> (also the <c>webhook-id</c> header), <c>type</c>
/// (<c>alert.firing</c>, <c>alert.resolved</c>, <c>alert.test</c>), <c>created_at</c>, <c>tenant_id</c>, <c>rule</c>,
/// <c>pipeline</c>, <c>alert</c> (what fired, since when, resolved when) and <c>health</c> (state and reasons).
/// </summary>
internal static class AlertPayloads
{
    public const string Firing = "alert.firing";
    public const string Resolved = "alert.resolved";
    public const string Test = "alert.test";

    public static string Name(Enum value) => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    public static JsonObject Alert(
        Guid id,
        string type,
        DateTimeOffset createdAt,
        AlertRuleDefinition rule,
        AlertSubject subject,
        PipelineStatusView status,
        long incidentId,
        DateTimeOffset conditionSince,
        DateTimeOffset openedAt,
        DateTimeOffset? resolvedAt,
        AlertReading reading) =>
        new()
        {
            ["id"] = id,
            ["type"] = type,
            ["created_at"] = createdAt,
            ["tenant_id"] = rule.TenantId,
            ["rule"] = Rule(rule),
            ["pipeline"] = new JsonObject { ["id"] = subject.Query.PipelineId, ["name"] = subject.PipelineName },
            ["alert"] = new JsonObject
            {
                ["id"] = incidentId,
                ["condition_since"] = conditionSince,
                ["opened_at"] = openedAt,
                ["resolved_at"] = resolvedAt,
                ["summary"] = reading.Summary,
                ["value"] = reading.Value,
            },
            ["health"] = new JsonObject
            {
                ["state"] = Name(status.Health.State),
                ["reasons"] = new JsonArray([.. status.Health.Reasons.Select(r => (JsonNode)new JsonObject { ["code"] = r.Code, ["message"] = r.Message })]),
            },
            ["test"] = false,
        };

    public static JsonObject Sample(Guid id, DateTimeOffset createdAt, AlertRuleDefinition rule) =>
        new()
        {
            ["id"] = id,
            ["type"] = Test,
            ["created_at"] = createdAt,
            ["tenant_id"] = rule.TenantId,
            ["rule"] = Rule(rule),
            ["pipeline"] = null,
            ["alert"] = new JsonObject
            {
                ["id"] = null,
                ["summary"] = $"A test notification for the alert rule \"{rule.Name}\": if you can read this, the webhook and its signature work.",
            },
            ["health"] = null,
            ["test"] = true,
        };

    private static JsonObject Rule(AlertRuleDefinition rule) =>
        new()
        {
            ["id"] = rule.RuleId,
            ["name"] = rule.Name,
            ["condition"] = Name(rule.Condition),
            ["threshold"] = rule.Threshold,
            ["states"] = new JsonArray([.. rule.States.Select(s => (JsonNode)Name(s))]),
            ["for_seconds"] = rule.For.TotalSeconds,
        };
}
