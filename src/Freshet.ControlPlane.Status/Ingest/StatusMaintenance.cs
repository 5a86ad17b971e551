using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.ControlPlane.Status.Ingest;

/// <summary>
/// Rolls the 10-second points up into 1-minute and 1-hour points and enforces retention: 10-second points for
/// <see cref="Retention.Fine"/>, 1-minute points for <see cref="Retention.Minute"/>, 1-hour points for
/// <see cref="Retention.Hour"/>. A rollup recomputes each coarse point from the finer ones (never adds to it), so running
/// it twice, or over a window that was partly rolled already, gives the same points; a watermark per resolution keeps
/// each run to the buckets that closed since the last one.
/// </summary>
internal sealed partial class StatusMaintenance(NpgsqlDataSource dataSource, TimeProvider time, ILogger<StatusMaintenance> logger) : BackgroundService
{
    /// <summary>How long each resolution is kept.</summary>
    public static class Retention
    {
        public static readonly TimeSpan Fine = TimeSpan.FromHours(24);
        public static readonly TimeSpan Minute = TimeSpan.FromDays(30);
        public static readonly TimeSpan Hour = TimeSpan.FromDays(400);

        /// <summary>Notices and their delivery attempts (the alerts themselves are kept like events, <see cref="Hour"/>).</summary>
        public static readonly TimeSpan Deliveries = TimeSpan.FromDays(30);
    }

    // A bucket is rolled once it has closed and late reports (a heartbeat retried) have had time to land in it.
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Interval = TimeSpan.FromMinutes(1);

    /// <summary>The resolutions in rollup order: each is built from the one before it.</summary>
    private static readonly (int Step, int From)[] Rollups = [(60, 10), (3600, 60)];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (NpgsqlException exception)
            {
                LogMaintenanceFailed(logger, exception);
            }

            try
            {
                await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: roll up what closed, then delete what is past its retention. Returns the rows deleted.</summary>
    public async Task<long> RunOnceAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        foreach (var (step, from) in Rollups)
        {
            await RollUpAsync(connection, step, from, now, cancellationToken).ConfigureAwait(false);
        }

        long deleted = 0;
        foreach (var (step, keep) in new[] { (10, Retention.Fine), (60, Retention.Minute), (3600, Retention.Hour) })
        {
            await using var delete = new NpgsqlCommand("DELETE FROM pipeline_status_points WHERE step_seconds = $1 AND bucket_start < $2", connection);
            delete.Parameters.Add(new() { Value = step });
            delete.Parameters.Add(new() { Value = now - keep });
            deleted += await delete.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var events = new NpgsqlCommand("DELETE FROM pipeline_events WHERE occurred_at < $1", connection))
        {
            events.Parameters.Add(new() { Value = now - Retention.Hour });
            deleted += await events.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // Finished notices only: a pending one is still owed to its receiver. Attempts go with their notice (cascade).
        await using (var notices = new NpgsqlCommand("DELETE FROM alert_notifications WHERE state <> 'pending' AND created_at < $1", connection))
        {
            notices.Parameters.Add(new() { Value = now - Retention.Deliveries });
            deleted += await notices.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var alerts = new NpgsqlCommand("DELETE FROM alert_incidents WHERE resolved_at < $1", connection))
        {
            alerts.Parameters.Add(new() { Value = now - Retention.Hour });
            deleted += await alerts.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return deleted;
    }

    private static async Task RollUpAsync(NpgsqlConnection connection, int step, int from, DateTimeOffset now, CancellationToken cancellationToken)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var create = new NpgsqlCommand("INSERT INTO status_rollup_watermarks (step_seconds, rolled_until) VALUES ($1, NULL) ON CONFLICT DO NOTHING", connection, transaction))
        {
            create.Parameters.Add(new() { Value = step });
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // Locked: control-plane replicas each run this job, one at a time per resolution.
        await using var watermark = new NpgsqlCommand("SELECT rolled_until FROM status_rollup_watermarks WHERE step_seconds = $1 FOR UPDATE", connection, transaction);
        watermark.Parameters.Add(new() { Value = step });
        var rolledUntil = await watermark.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is DateTime at
            ? StatusStore.BucketStart(new DateTimeOffset(DateTime.SpecifyKind(at, DateTimeKind.Utc)), step)
            : DateTimeOffset.UnixEpoch;

        // Up to the start of the coarse bucket that is still open (or still settling).
        var until = StatusStore.BucketStart(now - Settle, step);
        // The first run starts from the oldest finer point; later runs from the watermark.
        await using var roll = new NpgsqlCommand(
            """
            INSERT INTO pipeline_status_points AS p (pipeline_id, step_seconds, bucket_start, reported_at, samples, lag_seconds, lag_seconds_max,
                                                     lag_bytes, rows_per_second, bytes_per_second, errors, retained_wal_bytes)
            SELECT pipeline_id, $1, date_bin(make_interval(secs => $1), bucket_start, timestamptz 'epoch'), max(reported_at), sum(samples)::int,
                   (array_agg(lag_seconds ORDER BY reported_at DESC))[1], max(lag_seconds_max),
                   (array_agg(lag_bytes ORDER BY reported_at DESC))[1],
                   avg(rows_per_second), avg(bytes_per_second), sum(errors)::bigint,
                   (array_agg(retained_wal_bytes ORDER BY reported_at DESC))[1]
            FROM pipeline_status_points
            WHERE step_seconds = $2 AND bucket_start >= $3 AND bucket_start < $4
            GROUP BY pipeline_id, 3
            ON CONFLICT (pipeline_id, step_seconds, bucket_start) DO UPDATE SET
                reported_at = excluded.reported_at, samples = excluded.samples, lag_seconds = excluded.lag_seconds,
                lag_seconds_max = excluded.lag_seconds_max, lag_bytes = excluded.lag_bytes, rows_per_second = excluded.rows_per_second,
                bytes_per_second = excluded.bytes_per_second, errors = excluded.errors, retained_wal_bytes = excluded.retained_wal_bytes
            """,
            connection,
            transaction);
        roll.Parameters.Add(new() { Value = step });
        roll.Parameters.Add(new() { Value = from });
        roll.Parameters.Add(new() { Value = rolledUntil });
        roll.Parameters.Add(new() { Value = until });
        await roll.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);

        await using var advance = new NpgsqlCommand("UPDATE status_rollup_watermarks SET rolled_until = greatest(coalesce(rolled_until, $2), $2) WHERE step_seconds = $1", connection, transaction);
        advance.Parameters.Add(new() { Value = step });
        advance.Parameters.Add(new() { Value = until });
        await advance.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Status maintenance (rollups, retention) failed; it runs again in a minute")]
    private static partial void LogMaintenanceFailed(ILogger logger, Exception exception);
}
