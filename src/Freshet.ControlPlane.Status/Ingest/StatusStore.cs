using System.Text.Json;
using System.Text.Json.Serialization;
using Freshet.Contracts;
using Freshet.ControlPlane.Status.Metrics;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.ControlPlane.Status.Ingest;

/// <summary>
/// Ingests workers' progress reports: the current status of each pipeline, its 10-second points and its events.
/// Idempotent and order-tolerant, because reports arrive twice (heartbeat and bus) and late (a retried heartbeat):
/// <list type="bullet">
/// <item>the current status moves only forward, by (epoch, reported_at); an older or equal report leaves it as it is;</item>
/// <item>a point keeps the latest report of its bucket for gauges and the maximum for peaks, and a report already folded
/// in (same bucket, same report time) changes nothing;</item>
/// <item>events are derived only from a report that moves the status forward, and recorded once (unique per pipeline,
/// kind, time and message).</item>
/// </list>
/// </summary>
internal sealed partial class StatusStore(NpgsqlDataSource dataSource, TimeProvider time, ILogger<StatusStore> logger, StatusMetrics? metrics = null)
    : IPipelineStatusSink
{
    /// <summary>The finest resolution of the time series.</summary>
    public const int FineStepSeconds = 10;

    internal static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    public async Task IngestAsync(Guid workerId, IReadOnlyList<PipelineProgressReport> reports, CancellationToken cancellationToken)
    {
        if (reports.Count == 0)
        {
            return;
        }

        var started = time.GetTimestamp();
        var receivedAt = time.GetUtcNow();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        // One lock order for every ingest, so two workers' batches (a move in progress) cannot deadlock.
        foreach (var report in reports.OrderBy(r => r.PipelineId).ThenBy(r => r.Epoch).ThenBy(r => r.ReportedAt))
        {
            await IngestOneAsync(connection, transaction, workerId, report, receivedAt, cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        metrics?.RecordIngest(reports.Count, time.GetElapsedTime(started));
    }

    private async Task IngestOneAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid workerId, PipelineProgressReport report, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        var current = await LockCurrentAsync(connection, transaction, report.PipelineId, cancellationToken).ConfigureAwait(false);
        var newer = current is null || report.Epoch > current.Epoch || (report.Epoch == current.Epoch && report.ReportedAt > current.ReportedAt);
        var sameRun = current is not null && current.Epoch == report.Epoch;
        var previous = sameRun ? current!.Report : null;

        // Errors are counted per run by the worker; the series records new ones, so only a newer report of the same run
        // (or the first report of a run) adds any.
        var newErrors = !newer ? 0 : previous is null ? report.Errors : Math.Max(0, report.Errors - previous.Errors);
        await FoldPointAsync(connection, transaction, report, newErrors, cancellationToken).ConfigureAwait(false);
        if (!newer)
        {
            return;
        }

        var progressed = previous is null
            || report.State != previous.State
            || report.CommittedPosition > previous.CommittedPosition
            || report.RowsDelivered > previous.RowsDelivered
            || ChunksDone(report) > ChunksDone(previous);
        var lastProgressAt = progressed ? report.ReportedAt : current!.LastProgressAt;
        var snapshotStartedAt = report.State != PipelineRunState.Snapshotting ? (DateTimeOffset?)null
            : previous?.State == PipelineRunState.Snapshotting ? current!.SnapshotStartedAt ?? report.ReportedAt
            : report.ReportedAt;
        var newFailure = report.State == PipelineRunState.Failed
            && (previous is null || previous.State != PipelineRunState.Failed || previous.NextAttemptAt != report.NextAttemptAt || previous.Reason != report.Reason);
        var failures = report.State switch
        {
            PipelineRunState.Failed => (sameRun ? current!.ConsecutiveFailedReports : current?.ConsecutiveFailedReports ?? 0) + (newFailure ? 1 : 0),
            PipelineRunState.Streaming or PipelineRunState.Snapshotting when progressed => 0,
            _ => current?.ConsecutiveFailedReports ?? 0,
        };

        await using (var upsert = new NpgsqlCommand(
            """
            INSERT INTO pipeline_status (pipeline_id, worker_id, epoch, reported_at, received_at, report, last_progress_at, snapshot_started_at,
                                         consecutive_failed_reports, retries_since_previous)
            VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10)
            ON CONFLICT (pipeline_id) DO UPDATE SET
                worker_id = excluded.worker_id, epoch = excluded.epoch, reported_at = excluded.reported_at, received_at = excluded.received_at,
                report = excluded.report, last_progress_at = excluded.last_progress_at, snapshot_started_at = excluded.snapshot_started_at,
                consecutive_failed_reports = excluded.consecutive_failed_reports, retries_since_previous = excluded.retries_since_previous
            """,
            connection,
            transaction))
        {
            upsert.Parameters.Add(new() { Value = report.PipelineId });
            upsert.Parameters.Add(new() { Value = workerId });
            upsert.Parameters.Add(new() { Value = report.Epoch });
            upsert.Parameters.Add(new() { Value = report.ReportedAt });
            upsert.Parameters.Add(new() { Value = receivedAt });
            upsert.Parameters.Add(new() { Value = JsonSerializer.Serialize(report, ReportJson) });
            upsert.Parameters.Add(new() { Value = (object?)lastProgressAt ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            upsert.Parameters.Add(new() { Value = (object?)snapshotStartedAt ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.TimestampTz });
            upsert.Parameters.Add(new() { Value = failures });
            // Retries are counted per run: whether they still increase is known only against the previous report.
            upsert.Parameters.Add(new() { Value = previous is null ? report.Retries : Math.Max(0, report.Retries - previous.Retries) });
            await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // Delivered when the transaction commits, to every process listening (the live feed).
        await using (var notify = new NpgsqlCommand($"SELECT pg_notify('{StatusChangeFeed.Channel}', $1)", connection, transaction))
        {
            notify.Parameters.Add(new() { Value = report.PipelineId.ToString() });
            await notify.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var (kind, message) in EventsOf(current, previous, report, workerId, newFailure))
        {
            await using var insert = new NpgsqlCommand(
                """
                INSERT INTO pipeline_events (pipeline_id, occurred_at, kind, message, worker_id, epoch)
                VALUES ($1, $2, $3, $4, $5, $6)
                ON CONFLICT ON CONSTRAINT uq_pipeline_events_once DO NOTHING
                """,
                connection,
                transaction);
            insert.Parameters.Add(new() { Value = report.PipelineId });
            insert.Parameters.Add(new() { Value = report.ReportedAt });
            insert.Parameters.Add(new() { Value = kind });
            insert.Parameters.Add(new() { Value = message });
            insert.Parameters.Add(new() { Value = workerId });
            insert.Parameters.Add(new() { Value = report.Epoch });
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (newFailure)
        {
            LogRunFailed(logger, report.PipelineId, report.Epoch, report.Reason);
        }
    }

    /// <summary>What a report that moves the status forward tells about its pipeline's life.</summary>
    internal static IEnumerable<(string Kind, string Message)> EventsOf(
        CurrentStatus? current, PipelineProgressReport? previous, PipelineProgressReport report, Guid workerId, bool newFailure)
    {
        if (previous is null)
        {
            yield return current is null
                ? (PipelineEventKinds.Started, $"Started on worker {workerId} under epoch {report.Epoch}.")
                : (PipelineEventKinds.Restarted, $"Restarted on worker {workerId} under epoch {report.Epoch} (was worker {current.WorkerId}, epoch {current.Epoch}).");
        }

        if (previous is null || previous.State != report.State)
        {
            var from = previous is null ? "" : $"{Name(previous.State)} → ";
            var why = report.Reason is { Length: > 0 } reason && report.State != PipelineRunState.Failed ? $": {reason}" : "";
            yield return (PipelineEventKinds.StateChanged, $"{from}{Name(report.State)}{why}");
        }

        if (newFailure)
        {
            var next = report.NextAttemptAt is { } at ? $" (next attempt at {at.UtcDateTime:u})" : "";
            yield return (PipelineEventKinds.Error, $"{report.Reason ?? "The run failed."}{next}");
        }

        foreach (var (table, progress) in report.Tables.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            var before = previous?.Tables.GetValueOrDefault(table)?.QuarantineReason;
            if (progress.QuarantineReason is { } why && why != before)
            {
                yield return (PipelineEventKinds.Quarantined, $"{table}: {why}");
            }
            else if (progress.QuarantineReason is null && before is not null)
            {
                yield return (PipelineEventKinds.Released, $"{table} is applied again.");
            }
        }
    }

    private static string Name(PipelineRunState state) => JsonNamingPolicy.SnakeCaseLower.ConvertName(state.ToString());

    private static int ChunksDone(PipelineProgressReport report) => report.Tables.Values.Sum(t => t.SnapshotChunksDone);

    private static async Task<CurrentStatus?> LockCurrentAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, Guid pipelineId, CancellationToken cancellationToken)
    {
        await using var select = new NpgsqlCommand(
            """
            SELECT worker_id, epoch, reported_at, report, last_progress_at, snapshot_started_at, consecutive_failed_reports, retries_since_previous
            FROM pipeline_status WHERE pipeline_id = $1 FOR UPDATE
            """,
            connection,
            transaction);
        select.Parameters.Add(new() { Value = pipelineId });
        await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            // The first report of a pipeline: two ingests racing both insert; the upsert makes the later one an update.
            return null;
        }

        return new CurrentStatus(
            reader.GetGuid(0),
            reader.GetInt64(1),
            reader.GetFieldValue<DateTimeOffset>(2),
            JsonSerializer.Deserialize<PipelineProgressReport>(reader.GetString(3), ReportJson)!,
            reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
            reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
            reader.GetInt32(6),
            reader.GetInt64(7));
    }

    private static async Task FoldPointAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PipelineProgressReport report, long newErrors, CancellationToken cancellationToken)
    {
        await using var fold = new NpgsqlCommand(
            """
            INSERT INTO pipeline_status_points AS p (pipeline_id, step_seconds, bucket_start, reported_at, samples, lag_seconds, lag_seconds_max,
                                                     lag_bytes, rows_per_second, bytes_per_second, errors, retained_wal_bytes)
            VALUES ($1, $2, date_bin(make_interval(secs => $2), $3, timestamptz 'epoch'), $3, 1, $4, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (pipeline_id, step_seconds, bucket_start) DO UPDATE SET
                samples = p.samples + 1,
                lag_seconds_max = greatest(p.lag_seconds_max, excluded.lag_seconds),
                errors = p.errors + excluded.errors,
                reported_at = greatest(p.reported_at, excluded.reported_at),
                lag_seconds = CASE WHEN excluded.reported_at > p.reported_at THEN excluded.lag_seconds ELSE p.lag_seconds END,
                lag_bytes = CASE WHEN excluded.reported_at > p.reported_at THEN excluded.lag_bytes ELSE p.lag_bytes END,
                rows_per_second = CASE WHEN excluded.reported_at > p.reported_at THEN excluded.rows_per_second ELSE p.rows_per_second END,
                bytes_per_second = CASE WHEN excluded.reported_at > p.reported_at THEN excluded.bytes_per_second ELSE p.bytes_per_second END,
                retained_wal_bytes = CASE WHEN excluded.reported_at > p.reported_at THEN excluded.retained_wal_bytes ELSE p.retained_wal_bytes END
            WHERE excluded.reported_at <> p.reported_at
            """,
            connection,
            transaction);
        fold.Parameters.Add(new() { Value = report.PipelineId });
        fold.Parameters.Add(new() { Value = FineStepSeconds });
        fold.Parameters.Add(new() { Value = report.ReportedAt });
        fold.Parameters.Add(new() { Value = report.LagSeconds });
        fold.Parameters.Add(new() { Value = (object?)report.LagBytes ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        fold.Parameters.Add(new() { Value = report.RowsPerSecond });
        fold.Parameters.Add(new() { Value = report.BytesPerSecond });
        fold.Parameters.Add(new() { Value = newErrors });
        fold.Parameters.Add(new() { Value = (object?)report.RetainedWalBytes ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        await fold.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} (epoch {Epoch}) reported a failed run: {Reason}")]
    private static partial void LogRunFailed(ILogger logger, Guid pipelineId, long epoch, string? reason);
}

/// <summary>A pipeline's stored status, as ingest and reads see it.</summary>
internal sealed record CurrentStatus(
    Guid WorkerId,
    long Epoch,
    DateTimeOffset ReportedAt,
    PipelineProgressReport Report,
    DateTimeOffset? LastProgressAt,
    DateTimeOffset? SnapshotStartedAt,
    int ConsecutiveFailedReports,
    long RetriesSincePrevious);

/// <summary>The kinds of <c>pipeline_events</c>.</summary>
internal static class PipelineEventKinds
{
    public const string Started = "started";
    public const string Restarted = "restarted";
    public const string StateChanged = "state_changed";
    public const string Error = "error";
    public const string Quarantined = "quarantined";
    public const string Released = "released";
}
