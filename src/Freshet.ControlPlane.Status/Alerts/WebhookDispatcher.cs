using Freshet.Contracts;
using Freshet.ControlPlane.Status.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>
/// Posts the outbox's pending notifications. A replica claims a few at a time for a while (<c>FOR UPDATE SKIP
/// LOCKED</c> plus <c>claimed_until</c>), so each is posted by one replica, and one that dies mid-delivery leaves them to
/// be claimed again when the claim runs out (the receiver sees the same <c>webhook-id</c> and can drop the repeat).
/// The rule — its address and secret — is read at delivery time, so a rotated secret or an edited address applies at
/// once; a notification whose rule was deleted or disabled meanwhile is dropped.
/// </summary>
internal sealed partial class WebhookDispatcher(
    NpgsqlDataSource dataSource,
    IAlertRuleCatalog catalog,
    WebhookSender sender,
    TimeProvider time,
    ILogger<WebhookDispatcher> logger,
    StatusMetrics? metrics = null) : BackgroundService
{
    private const int ClaimSize = 16;
    private const int Parallelism = 4;
    // Longer than a whole delivery with every retry (6 attempts of at most 10 s, backoff up to about a minute).
    private static readonly TimeSpan ClaimFor = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(5);

    private readonly SemaphoreSlim _wake = new(0, 1);

    /// <summary>New notices were written: look now rather than at the next poll.</summary>
    public void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already awake.
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (await DispatchOnceAsync(stoppingToken).ConfigureAwait(false) == ClaimSize)
                {
                    continue;
                }
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogDispatchFailed(logger, e.Message);
            }

            await _wake.WaitAsync(PollInterval, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>Claims pending notifications and delivers them; returns how many it claimed.</summary>
    public async Task<int> DispatchOnceAsync(CancellationToken cancellationToken)
    {
        var claimed = await ClaimAsync(cancellationToken).ConfigureAwait(false);
        await Parallel.ForEachAsync(
            claimed,
            new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (notification, token) => await DeliverAsync(notification, token).ConfigureAwait(false)).ConfigureAwait(false);
        return claimed.Count;
    }

    private async Task<List<(Guid Id, Guid RuleId, string Type, string Payload)>> ClaimAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var command = dataSource.CreateCommand(
            """
            UPDATE alert_notifications SET claimed_until = $2
            WHERE id IN (
                SELECT id FROM alert_notifications
                WHERE state = 'pending' AND (claimed_until IS NULL OR claimed_until < $1)
                ORDER BY created_at
                LIMIT $3
                FOR UPDATE SKIP LOCKED)
            RETURNING id, rule_id, type, payload::text
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = now });
        command.Parameters.Add(new NpgsqlParameter { Value = now + ClaimFor });
        command.Parameters.Add(new NpgsqlParameter { Value = ClaimSize });
        var claimed = new List<(Guid, Guid, string, string)>();
        await using var rows = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await rows.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            claimed.Add((rows.GetGuid(0), rows.GetGuid(1), rows.GetString(2), rows.GetString(3)));
        }

        return claimed;
    }

    private async Task DeliverAsync((Guid Id, Guid RuleId, string Type, string Payload) notification, CancellationToken cancellationToken)
    {
        var rule = await catalog.ReadRuleAsync(notification.RuleId, cancellationToken).ConfigureAwait(false);
        if (rule is not { Enabled: true })
        {
            await CompleteAsync(dataSource, notification.Id, notification.Type, "dropped", time.GetUtcNow(), metrics, cancellationToken).ConfigureAwait(false);
            return;
        }

        var result = await sender.DeliverAsync(
            rule.WebhookUrl, rule.SigningSecret, notification.Id, notification.Payload, retry: true,
            attempt => RecordAttemptAsync(dataSource, notification.Id, attempt, metrics, cancellationToken),
            cancellationToken).ConfigureAwait(false);
        if (!result.Delivered)
        {
            LogDeliveryFailed(logger, notification.Id, rule.RuleId, result.Attempt, result.Error);
        }

        await CompleteAsync(dataSource, notification.Id, notification.Type, result.Delivered ? "delivered" : "failed", time.GetUtcNow(), metrics, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Records one attempt, numbered after those already recorded (a notification claimed again continues the count).</summary>
    public static async Task RecordAttemptAsync(NpgsqlDataSource dataSource, Guid notificationId, WebhookAttempt attempt, StatusMetrics? metrics, CancellationToken cancellationToken)
    {
        metrics?.RecordAlertAttempt(attempt.StatusCode, attempt.Delivered);
        await using var command = dataSource.CreateCommand(
            """
            INSERT INTO alert_delivery_attempts (notification_id, attempt, at, status_code, error, duration_ms)
            SELECT $1, coalesce(max(attempt), 0) + 1, $2, $3, $4, $5 FROM alert_delivery_attempts WHERE notification_id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = notificationId });
        command.Parameters.Add(new NpgsqlParameter { Value = attempt.At });
        command.Parameters.Add(new NpgsqlParameter<int?> { TypedValue = attempt.StatusCode, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Integer });
        command.Parameters.Add(new NpgsqlParameter<string?> { TypedValue = attempt.Error, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        command.Parameters.Add(new NpgsqlParameter { Value = attempt.Duration.TotalMilliseconds });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public static async Task CompleteAsync(
        NpgsqlDataSource dataSource, Guid notificationId, string type, string state, DateTimeOffset at, StatusMetrics? metrics, CancellationToken cancellationToken)
    {
        metrics?.RecordAlertNotice(type, state);
        await using var command = dataSource.CreateCommand("UPDATE alert_notifications SET state = $2, completed_at = $3, claimed_until = NULL WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = notificationId });
        command.Parameters.Add(new NpgsqlParameter { Value = state });
        command.Parameters.Add(new NpgsqlParameter { Value = at });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Alert notification {NotificationId} of rule {RuleId} was not delivered after {Attempts} attempt(s): {Reason}")]
    private static partial void LogDeliveryFailed(ILogger logger, Guid notificationId, Guid ruleId, int attempts, string? reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Posting alert notifications failed; pending ones are tried again shortly: {Reason}")]
    private static partial void LogDispatchFailed(ILogger logger, string reason);
}
