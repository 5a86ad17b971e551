using Freshet.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>
/// Evaluates every enabled alert rule against every pipeline it watches, each <see cref="AlertOptions.EvaluationInterval"/>:
/// health is judged as the API judges it (<see cref="IPipelineStatusReader"/>), and what changes — a condition starting
/// to hold, an alert opening or resolving, the notices to send — is written in one transaction together with the
/// notices themselves (an outbox the <see cref="WebhookDispatcher"/> posts from). One control-plane replica evaluates
/// at a time (a transaction-scoped advisory lock), so a condition fires once however many replicas run.
/// </summary>
internal sealed partial class AlertEngine(
    NpgsqlDataSource dataSource,
    IAlertRuleCatalog catalog,
    IPipelineStatusReader reader,
    WebhookDispatcher dispatcher,
    AlertOptions options,
    TimeProvider time,
    ILogger<AlertEngine> logger) : BackgroundService
{
    // pg_try_advisory_xact_lock key: "freshet.alerts" in ASCII, so it does not collide with other advisory locks by chance.
    private const long EvaluationLockKey = 0x66_72_65_73_68_61_6c_74;

    // Quiet periods are at most a day (the API validates it), so older firings never silence a new one.
    private static readonly TimeSpan LongestQuietPeriod = TimeSpan.FromDays(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.EvaluationInterval, time);
        do
        {
            try
            {
                if (await EvaluateOnceAsync(stoppingToken).ConfigureAwait(false) > 0)
                {
                    dispatcher.Wake();
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogRoundFailed(logger, e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One round; returns how many notices it raised (0 also when another replica holds the round).</summary>
    public async Task<int> EvaluateOnceAsync(CancellationToken cancellationToken)
    {
        var rules = await catalog.ReadEnabledRulesAsync(cancellationToken).ConfigureAwait(false);
        var tenants = rules.Select(r => r.TenantId).Distinct().ToList();
        var subjects = tenants.Count == 0 ? [] : await catalog.ReadSubjectsAsync(tenants, cancellationToken).ConfigureAwait(false);
        var statuses = subjects.Count == 0
            ? new Dictionary<Guid, PipelineStatusView>()
            : await reader.ReadAsync(subjects.Select(s => s.Query).ToList(), cancellationToken).ConfigureAwait(false);
        var now = time.GetUtcNow();

        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_try_advisory_xact_lock(@key)", connection, transaction))
        {
            lockCommand.Parameters.AddWithValue("key", EvaluationLockKey);
            if (await lockCommand.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
            {
                return 0;
            }
        }

        var state = await ReadStateAsync(connection, transaction, now, cancellationToken).ConfigureAwait(false);
        var writer = new Writer(connection, transaction, now);
        var evaluated = new HashSet<(Guid Rule, Guid Pipeline)>();
        var subjectsByTenant = subjects.ToLookup(s => s.TenantId);
        foreach (var rule in rules)
        {
            foreach (var subject in subjectsByTenant[rule.TenantId])
            {
                var pipelineId = subject.Query.PipelineId;
                if ((rule.PipelineId is { } only && only != pipelineId) || !statuses.TryGetValue(pipelineId, out var status))
                {
                    continue;
                }

                var key = (rule.RuleId, pipelineId);
                evaluated.Add(key);
                var reading = AlertDecisions.Read(rule, status);
                var track = new AlertTrack(
                    state.Since.TryGetValue(key, out var since) ? since : null,
                    state.Open.GetValueOrDefault(key),
                    state.LastNotifiedFiring.TryGetValue(key, out var fired) ? fired : null);
                var decision = AlertDecisions.Decide(rule, reading.Holds, track, now);
                await writer.ApplyAsync(rule, subject, status, reading, track, decision, cancellationToken).ConfigureAwait(false);
            }
        }

        // Alerts whose rule or pipeline is gone (deleted, disabled, re-scoped) close without a notice: nobody watches
        // them any more, and a "resolved" for a rule someone just deleted would only confuse.
        var enabledRules = rules.Select(r => r.RuleId).ToHashSet();
        foreach (var (key, open) in state.Open.Where(o => !evaluated.Contains(o.Key)))
        {
            await writer.CloseAsync(open.Id, enabledRules.Contains(key.Rule) ? "pipeline_removed" : "rule_removed", cancellationToken).ConfigureAwait(false);
        }

        foreach (var key in state.Since.Keys.Where(k => !evaluated.Contains(k)))
        {
            await writer.ForgetAsync(key.Rule, key.Pipeline, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return writer.NoticesRaised;
    }

    private static async Task<EvaluationState> ReadStateAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var state = new EvaluationState();
        await using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand("SELECT rule_id, pipeline_id, since FROM alert_conditions"),
                new NpgsqlBatchCommand("SELECT rule_id, pipeline_id, id, notified FROM alert_incidents WHERE resolved_at IS NULL"),
                new NpgsqlBatchCommand(
                    "SELECT rule_id, pipeline_id, max(opened_at) FROM alert_incidents WHERE notified AND opened_at > $1 GROUP BY rule_id, pipeline_id")
                {
                    Parameters = { new NpgsqlParameter { Value = now - LongestQuietPeriod, NpgsqlDbType = NpgsqlDbType.TimestampTz } },
                },
            },
        };
        await using var rows = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            state.Since[(rows.GetGuid(0), rows.GetGuid(1))] = rows.GetFieldValue<DateTimeOffset>(2);
        }

        await rows.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            state.Open[(rows.GetGuid(0), rows.GetGuid(1))] = new OpenAlert(rows.GetInt64(2), rows.GetBoolean(3));
        }

        await rows.NextResultAsync(cancellationToken).ConfigureAwait(false);
        while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            state.LastNotifiedFiring[(rows.GetGuid(0), rows.GetGuid(1))] = rows.GetFieldValue<DateTimeOffset>(2);
        }

        return state;
    }

    private sealed class EvaluationState
    {
        public Dictionary<(Guid Rule, Guid Pipeline), DateTimeOffset> Since { get; } = [];

        public Dictionary<(Guid Rule, Guid Pipeline), OpenAlert> Open { get; } = [];

        public Dictionary<(Guid Rule, Guid Pipeline), DateTimeOffset> LastNotifiedFiring { get; } = [];
    }

    /// <summary>The round's writes. Changes are rare (a condition starting, an alert opening), so one statement each is fine.</summary>
    private sealed class Writer(NpgsqlConnection connection, NpgsqlTransaction transaction, DateTimeOffset now)
    {
        public int NoticesRaised { get; private set; }

        public async Task ApplyAsync(
            AlertRuleDefinition rule, AlertSubject subject, PipelineStatusView status, AlertReading reading, AlertTrack track, AlertDecision decision, CancellationToken cancellationToken)
        {
            var pipelineId = subject.Query.PipelineId;
            if (decision.Since is { } since && since != track.Since)
            {
                await ExecuteAsync(
                    "INSERT INTO alert_conditions (rule_id, pipeline_id, since) VALUES ($1, $2, $3) ON CONFLICT (rule_id, pipeline_id) DO UPDATE SET since = excluded.since",
                    cancellationToken, rule.RuleId, pipelineId, since).ConfigureAwait(false);
            }
            else if (decision.Since is null && track.Since is not null)
            {
                await ForgetAsync(rule.RuleId, pipelineId, cancellationToken).ConfigureAwait(false);
            }

            if (decision.Open)
            {
                var conditionSince = decision.Since ?? now;
                await using var insert = Command(
                    """
                    INSERT INTO alert_incidents (tenant_id, rule_id, rule_name, pipeline_id, pipeline_name, condition_since, opened_at, summary, value, notified)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                    RETURNING id
                    """,
                    rule.TenantId, rule.RuleId, rule.Name, pipelineId, subject.PipelineName, conditionSince, now, reading.Summary, (object?)reading.Value ?? DBNull.Value, decision.NotifyOpen);
                var incidentId = (long)(await insert.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
                if (decision.NotifyOpen)
                {
                    await NotifyAsync(rule, subject, status, AlertPayloads.Firing, incidentId, conditionSince, now, null, reading, cancellationToken).ConfigureAwait(false);
                }
            }

            if (decision.Resolve && track.OpenIncident is { } open)
            {
                await using var update = Command(
                    "UPDATE alert_incidents SET resolved_at = $2, resolution = 'cleared' WHERE id = $1 RETURNING condition_since, opened_at",
                    open.Id, now);
                DateTimeOffset conditionSince, openedAt;
                await using (var resolved = await update.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
                {
                    await resolved.ReadAsync(cancellationToken).ConfigureAwait(false);
                    (conditionSince, openedAt) = (resolved.GetFieldValue<DateTimeOffset>(0), resolved.GetFieldValue<DateTimeOffset>(1));
                }

                if (decision.NotifyResolve)
                {
                    await NotifyAsync(rule, subject, status, AlertPayloads.Resolved, open.Id, conditionSince, openedAt, now, reading, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        public Task CloseAsync(long incidentId, string resolution, CancellationToken cancellationToken) =>
            ExecuteAsync("UPDATE alert_incidents SET resolved_at = $2, resolution = $3 WHERE id = $1", cancellationToken, incidentId, now, resolution);

        public Task ForgetAsync(Guid ruleId, Guid pipelineId, CancellationToken cancellationToken) =>
            ExecuteAsync("DELETE FROM alert_conditions WHERE rule_id = $1 AND pipeline_id = $2", cancellationToken, ruleId, pipelineId);

        private async Task NotifyAsync(
            AlertRuleDefinition rule,
            AlertSubject subject,
            PipelineStatusView status,
            string type,
            long incidentId,
            DateTimeOffset conditionSince,
            DateTimeOffset openedAt,
            DateTimeOffset? resolvedAt,
            AlertReading reading,
            CancellationToken cancellationToken)
        {
            var id = Guid.CreateVersion7(now);
            var payload = AlertPayloads.Alert(id, type, now, rule, subject, status, incidentId, conditionSince, openedAt, resolvedAt, reading);
            await ExecuteAsync(
                """
                INSERT INTO alert_notifications (id, tenant_id, rule_id, incident_id, pipeline_id, type, payload, state, created_at)
                VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, 'pending', $8)
                """,
                cancellationToken, id, rule.TenantId, rule.RuleId, incidentId, subject.Query.PipelineId, type, payload.ToJsonString(), now).ConfigureAwait(false);
            NoticesRaised++;
        }

        private async Task ExecuteAsync(string sql, CancellationToken cancellationToken, params object[] values)
        {
            await using var command = Command(sql, values);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        private NpgsqlCommand Command(string sql, params object[] values)
        {
#pragma warning disable CA2100 // every caller passes a constant statement; values travel as parameters
            var command = new NpgsqlCommand(sql, connection, transaction);
#pragma warning restore CA2100
            foreach (var value in values)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = value });
            }

            return command;
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert evaluation round failed; the next one starts again from the database: {Reason}")]
    private static partial void LogRoundFailed(ILogger logger, string reason);
}
