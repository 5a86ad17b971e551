using System.Text.Json;
using Freshet.Contracts;
using Freshet.ControlPlane.Status.Health;
using Npgsql;

namespace Freshet.ControlPlane.Status.Ingest;

/// <summary>
/// Reads what <see cref="StatusStore"/> ingested and judges health at read time, so a state that depends on the clock
/// (Stale, Failing for lack of progress) is current when asked, not when the last report came.
/// </summary>
internal sealed class StatusReader(NpgsqlDataSource dataSource, TimeProvider time, HealthRules rules) : IPipelineStatusReader
{
    // How far back the growth of a slot's retained WAL is measured.
    private static readonly TimeSpan WalGrowthWindow = TimeSpan.FromMinutes(30);

    public async Task<IReadOnlyDictionary<Guid, PipelineStatusView>> ReadAsync(IReadOnlyCollection<PipelineStatusQuery> pipelines, CancellationToken cancellationToken)
    {
        var stored = new Dictionary<Guid, (CurrentStatus Status, DateTimeOffset ReceivedAt, double? WalGrowth)>();
        if (pipelines.Count > 0)
        {
            await using var command = dataSource.CreateCommand(
                """
                SELECT s.pipeline_id, s.worker_id, s.epoch, s.reported_at, s.report, s.last_progress_at, s.snapshot_started_at,
                       s.consecutive_failed_reports, s.received_at, w.growth, s.retries_since_previous
                FROM pipeline_status s
                LEFT JOIN LATERAL (
                    SELECT (last_value(retained_wal_bytes) OVER win - first_value(retained_wal_bytes) OVER win)::double precision
                           / nullif(extract(epoch FROM last_value(reported_at) OVER win - first_value(reported_at) OVER win), 0) AS growth
                    FROM pipeline_status_points p
                    WHERE p.pipeline_id = s.pipeline_id AND p.step_seconds = 10 AND p.bucket_start >= $2 AND p.retained_wal_bytes IS NOT NULL
                    WINDOW win AS (ORDER BY bucket_start ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
                    LIMIT 1) w ON true
                WHERE s.pipeline_id = ANY($1)
                """);
            command.Parameters.Add(new() { Value = pipelines.Select(p => p.PipelineId).ToArray() });
            command.Parameters.Add(new() { Value = time.GetUtcNow() - WalGrowthWindow });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var status = new CurrentStatus(
                    reader.GetGuid(1),
                    reader.GetInt64(2),
                    reader.GetFieldValue<DateTimeOffset>(3),
                    JsonSerializer.Deserialize<PipelineProgressReport>(reader.GetString(4), StatusStore.ReportJson)!,
                    reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                    reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                    reader.GetInt32(7),
                    reader.GetInt64(10));
                stored[reader.GetGuid(0)] = (status, reader.GetFieldValue<DateTimeOffset>(8), reader.IsDBNull(9) ? null : reader.GetDouble(9));
            }
        }

        var now = time.GetUtcNow();
        var views = new Dictionary<Guid, PipelineStatusView>(pipelines.Count);
        foreach (var query in pipelines)
        {
            // Only a report of the placement the scheduler holds now counts: a moved pipeline starts over.
            var found = stored.TryGetValue(query.PipelineId, out var row) && query.Placed && row.Status.Epoch == query.PlacementEpoch;
            var observation = new HealthObservation(
                query.Paused,
                query.Placed,
                found ? row.Status.Report : null,
                found ? row.ReceivedAt : null,
                found ? row.Status.LastProgressAt : null,
                found ? row.Status.SnapshotStartedAt : null,
                found ? row.Status.ConsecutiveFailedReports : 0,
                query.LagThresholdSeconds,
                // As the worker measured it: the server's limit or the connection's WAL disk budget, whichever is smaller.
                RetainedWalLimitBytes: found ? row.Status.Report.RetainedWalLimitBytes : null,
                found ? row.WalGrowth : null,
                found ? row.Status.RetriesSincePrevious : 0,
                found ? row.Status.Report.RetainedWalLimitKind : null);
            views[query.PipelineId] = new PipelineStatusView(
                query.PipelineId,
                HealthEvaluator.Evaluate(observation, rules, now),
                found ? row.Status.Report : null,
                found ? row.Status.WorkerId : null,
                found ? row.ReceivedAt : null,
                found ? row.Status.LastProgressAt : null);
        }

        return views;
    }

    public async Task<PipelineMetricSeries> ReadMetricsAsync(Guid pipelineId, DateTimeOffset from, DateTimeOffset to, TimeSpan step, CancellationToken cancellationToken)
    {
        // The finest resolution still kept for the whole range, and a step that is a whole multiple of it (aligned to
        // the Unix epoch like the buckets themselves).
        var age = time.GetUtcNow() - from;
        var resolution = age <= StatusMaintenance.Retention.Fine ? StatusStore.FineStepSeconds : age <= StatusMaintenance.Retention.Minute ? 60 : 3600;
        var stepSeconds = (int)Math.Max(resolution, Math.Ceiling(step.TotalSeconds / resolution) * resolution);
        await using var command = dataSource.CreateCommand(
            """
            SELECT date_bin($4, bucket_start, timestamptz 'epoch') AS at,
                   (array_agg(lag_seconds ORDER BY reported_at DESC))[1],
                   max(lag_seconds_max),
                   (array_agg(lag_bytes ORDER BY reported_at DESC))[1],
                   avg(rows_per_second), avg(bytes_per_second), sum(errors)::bigint
            FROM pipeline_status_points
            WHERE pipeline_id = $1 AND step_seconds = $5 AND bucket_start >= $2 AND bucket_start < $3
            GROUP BY 1 ORDER BY 1
            """);
        command.Parameters.Add(new() { Value = pipelineId });
        command.Parameters.Add(new() { Value = from });
        command.Parameters.Add(new() { Value = to });
        command.Parameters.Add(new() { Value = TimeSpan.FromSeconds(stepSeconds) });
        command.Parameters.Add(new() { Value = resolution });
        var points = new List<PipelineMetricPoint>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            points.Add(new PipelineMetricPoint(
                reader.GetFieldValue<DateTimeOffset>(0),
                reader.GetDouble(1),
                reader.GetDouble(2),
                reader.IsDBNull(3) ? null : reader.GetInt64(3),
                reader.GetDouble(4),
                reader.GetDouble(5),
                reader.GetInt64(6)));
        }

        return new PipelineMetricSeries(stepSeconds, points);
    }

    public async Task<IReadOnlyList<PipelineEventView>> ReadEventsAsync(Guid pipelineId, long? before, int limit, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT id, occurred_at, kind, message, worker_id, epoch FROM pipeline_events
            WHERE pipeline_id = $1 AND ($2::bigint IS NULL OR id < $2)
            ORDER BY id DESC LIMIT $3
            """);
        command.Parameters.Add(new() { Value = pipelineId });
        command.Parameters.Add(new() { Value = (object?)before ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        command.Parameters.Add(new() { Value = limit });
        var events = new List<PipelineEventView>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            events.Add(new PipelineEventView(
                reader.GetInt64(0),
                reader.GetFieldValue<DateTimeOffset>(1),
                reader.GetString(2),
                reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetGuid(4),
                reader.IsDBNull(5) ? null : reader.GetInt64(5)));
        }

        return events;
    }
}
