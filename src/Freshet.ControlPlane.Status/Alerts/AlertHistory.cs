using Freshet.Contracts;
using Freshet.ControlPlane.Status.Metrics;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>Alerts and deliveries as the API reads them, every query confined to the caller's tenant; and test sends.</summary>
internal sealed class AlertHistory(NpgsqlDataSource dataSource, WebhookSender sender, TimeProvider time, StatusMetrics? metrics = null) : IAlertHistory
{
    public async Task<IReadOnlyList<AlertIncidentView>> ReadIncidentsAsync(
        Guid tenantId, Guid? ruleId, Guid? pipelineId, bool? open, long? before, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT id, rule_id, rule_name, pipeline_id, pipeline_name, condition_since, opened_at, resolved_at, resolution, summary, value, notified
            FROM alert_incidents
            WHERE tenant_id = $1
              AND ($2::uuid IS NULL OR rule_id = $2)
              AND ($3::uuid IS NULL OR pipeline_id = $3)
              AND ($4::boolean IS NULL OR (resolved_at IS NULL) = $4)
              AND ($5::bigint IS NULL OR id < $5)
            ORDER BY id DESC
            LIMIT $6
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = tenantId });
        command.Parameters.Add(new NpgsqlParameter<Guid?> { TypedValue = ruleId, NpgsqlDbType = NpgsqlDbType.Uuid });
        command.Parameters.Add(new NpgsqlParameter<Guid?> { TypedValue = pipelineId, NpgsqlDbType = NpgsqlDbType.Uuid });
        command.Parameters.Add(new NpgsqlParameter<bool?> { TypedValue = open, NpgsqlDbType = NpgsqlDbType.Boolean });
        command.Parameters.Add(new NpgsqlParameter<long?> { TypedValue = before, NpgsqlDbType = NpgsqlDbType.Bigint });
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        var incidents = new List<AlertIncidentView>();
        await using var rows = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            incidents.Add(new AlertIncidentView(
                rows.GetInt64(0),
                rows.GetGuid(1),
                rows.GetString(2),
                rows.GetGuid(3),
                rows.GetString(4),
                rows.GetFieldValue<DateTimeOffset>(5),
                rows.GetFieldValue<DateTimeOffset>(6),
                rows.IsDBNull(7) ? null : rows.GetFieldValue<DateTimeOffset>(7),
                rows.IsDBNull(8) ? null : rows.GetString(8),
                rows.GetString(9),
                rows.IsDBNull(10) ? null : rows.GetDouble(10),
                rows.GetBoolean(11)));
        }

        return incidents;
    }

    public async Task<IReadOnlyList<AlertDeliveryView>> ReadDeliveriesAsync(
        Guid tenantId, Guid ruleId, Guid? before, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT n.id, n.rule_id, n.incident_id, n.pipeline_id, n.type, n.state, n.created_at, n.completed_at,
                   coalesce(jsonb_agg(jsonb_build_array(a.attempt, a.at, a.status_code, a.error, a.duration_ms) ORDER BY a.attempt)
                            FILTER (WHERE a.attempt IS NOT NULL), '[]')::text
            FROM alert_notifications n
            LEFT JOIN alert_delivery_attempts a ON a.notification_id = n.id
            WHERE n.tenant_id = $1 AND n.rule_id = $2 AND ($3::uuid IS NULL OR n.id < $3)
            GROUP BY n.id
            ORDER BY n.id DESC
            LIMIT $4
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = tenantId });
        command.Parameters.Add(new NpgsqlParameter { Value = ruleId });
        command.Parameters.Add(new NpgsqlParameter<Guid?> { TypedValue = before, NpgsqlDbType = NpgsqlDbType.Uuid });
        command.Parameters.Add(new NpgsqlParameter { Value = limit });
        var deliveries = new List<AlertDeliveryView>();
        await using var rows = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            deliveries.Add(new AlertDeliveryView(
                rows.GetGuid(0),
                rows.GetGuid(1),
                rows.IsDBNull(2) ? null : rows.GetInt64(2),
                rows.IsDBNull(3) ? null : rows.GetGuid(3),
                rows.GetString(4),
                rows.GetString(5),
                rows.GetFieldValue<DateTimeOffset>(6),
                rows.IsDBNull(7) ? null : rows.GetFieldValue<DateTimeOffset>(7),
                ParseAttempts(rows.GetString(8))));
        }

        return deliveries;
    }

    public async Task<AlertDeliveryView> SendTestAsync(AlertRuleDefinition rule, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var id = Guid.CreateVersion7(now);
        var payload = AlertPayloads.Sample(id, now, rule).ToJsonString();
        // Recorded as 'sending' (never claimed by the dispatcher): a test is tried once, now, and its outcome is the answer.
        await using (var insert = dataSource.CreateCommand(
            """
            INSERT INTO alert_notifications (id, tenant_id, rule_id, type, payload, state, created_at)
            VALUES ($1, $2, $3, $4, $5::jsonb, 'sending', $6)
            """))
        {
            insert.Parameters.Add(new NpgsqlParameter { Value = id });
            insert.Parameters.Add(new NpgsqlParameter { Value = rule.TenantId });
            insert.Parameters.Add(new NpgsqlParameter { Value = rule.RuleId });
            insert.Parameters.Add(new NpgsqlParameter { Value = AlertPayloads.Test });
            insert.Parameters.Add(new NpgsqlParameter { Value = payload });
            insert.Parameters.Add(new NpgsqlParameter { Value = now });
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var result = await sender.DeliverAsync(
            rule.WebhookUrl, rule.SigningSecret, id, payload, retry: false,
            attempt => WebhookDispatcher.RecordAttemptAsync(dataSource, id, attempt, metrics, CancellationToken.None),
            cancellationToken).ConfigureAwait(false);
        var completedAt = time.GetUtcNow();
        var state = result.Delivered ? "delivered" : "failed";
        await WebhookDispatcher.CompleteAsync(dataSource, id, AlertPayloads.Test, state, completedAt, metrics, CancellationToken.None).ConfigureAwait(false);
        return new AlertDeliveryView(
            id, rule.RuleId, null, null, AlertPayloads.Test, state, now, completedAt,
            [new AlertDeliveryAttemptView(result.Attempt, result.At, result.StatusCode, result.Error, result.Duration.TotalMilliseconds)]);
    }

    private static List<AlertDeliveryAttemptView> ParseAttempts(string json)
    {
        var attempts = new List<AlertDeliveryAttemptView>();
        using var document = System.Text.Json.JsonDocument.Parse(json);
        foreach (var item in document.RootElement.EnumerateArray())
        {
            attempts.Add(new AlertDeliveryAttemptView(
                item[0].GetInt32(),
                item[1].GetDateTimeOffset(),
                item[2].ValueKind == System.Text.Json.JsonValueKind.Null ? null : item[2].GetInt32(),
                item[3].ValueKind == System.Text.Json.JsonValueKind.Null ? null : item[3].GetString(),
                item[4].GetDouble()));
        }

        return attempts;
    }
}
