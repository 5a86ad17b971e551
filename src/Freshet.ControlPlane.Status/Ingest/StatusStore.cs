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

    // The first key of the transaction locks on pipelines' first reports (the second is a hash of the pipeline id).
    private const int FirstReportLockClass = 0x5354_4154; // "STAT"

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

        // Set-based: one statement locks the batch's pipelines (in one order for every ingest, so two workers' batches
        // during a move cannot deadlock), the reports are folded in memory in order, and one statement each writes the
        // points, the statuses, the events and the notifications. Per-report statements managed half the reports a
        // 10,000-pipeline installation sends.
        var pipelineIds = reports.Select(r => r.PipelineId).Distinct().Order().ToArray();
        var currents = await LockCurrentAsync(connection, transaction, pipelineIds, cancellationToken).ConfigureAwait(false);
        if (currents.Count < pipelineIds.Length)
        {
            // A pipeline's first report has no row to lock. Two batches racing with it (the same report delivered twice,
            // or two reports out of order, taken by two bus consumers at once) would both insert, the later overwriting the
            // newer status and both recording "started". A transaction lock per such pipeline, taken after the row locks
            // (so in one order for every ingest), makes the second wait, then read the row the first wrote.
            Guid[] firsts = [.. pipelineIds.Where(id => !currents.ContainsKey(id))];
            await using (var lockFirsts = new NpgsqlCommand(
                "SELECT pg_advisory_xact_lock($1, k) FROM (SELECT DISTINCT hashtext(id::text) AS k FROM unnest($2::uuid[]) AS id ORDER BY k) AS keys",
                connection,
                transaction))
            {
                lockFirsts.Parameters.Add(new() { Value = FirstReportLockClass });
                lockFirsts.Parameters.Add(new() { Value = firsts });
                await lockFirsts.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            foreach (var (id, current) in await LockCurrentAsync(connection, transaction, firsts, cancellationToken).ConfigureAwait(false))
            {
                currents[id] = current;
            }
        }

        var points = new Dictionary<(Guid Pipeline, DateTimeOffset Bucket), PointRow>();
        var statuses = new Dictionary<Guid, StatusRow>();
        var events = new List<(Guid Pipeline, DateTimeOffset At, string Kind, string Message, long Epoch)>();
        foreach (var report in reports.OrderBy(r => r.PipelineId).ThenBy(r => r.Epoch).ThenBy(r => r.ReportedAt))
        {
            var current = currents.GetValueOrDefault(report.PipelineId);
            var newer = current is null || report.Epoch > current.Epoch || (report.Epoch == current.Epoch && report.ReportedAt > current.ReportedAt);
            var sameRun = current is not null && current.Epoch == report.Epoch;
            var previous = sameRun ? current!.Report : null;

            // Errors are counted per run by the worker; the series records new ones, so only a newer report of the same
            // run (or the first report of a run) adds any.
            var newErrors = !newer ? 0 : previous is null ? report.Errors : Math.Max(0, report.Errors - previous.Errors);
            Fold(points, report, newErrors);
            if (!newer)
            {
                continue;
            }

            var progressed = previous is null
                || report.State != previous.State
                || report.CommittedPosition > previous.CommittedPosition
                || report.RowsDelivered > previous.RowsDelivered
                || ChunksDone(report) > ChunksDone(previous);
            var snapshotStartedAt = report.State != PipelineRunState.Snapshotting ? (DateTimeOffset?)null
                : previous?.State == PipelineRunState.Snapshotting ? current!.SnapshotStartedAt ?? report.ReportedAt
                : report.ReportedAt;
            var newFailure = report.State == PipelineRunState.Failed
                && (previous is null || previous.State != PipelineRunState.Failed || previous.NextAttemptAt != report.NextAttemptAt || previous.Reason != report.Reason);
            var failures = report.State switch
            {
                PipelineRunState.Failed => (current?.ConsecutiveFailedReports ?? 0) + (newFailure ? 1 : 0),
                PipelineRunState.Streaming or PipelineRunState.Snapshotting when progressed => 0,
                _ => current?.ConsecutiveFailedReports ?? 0,
            };

            // Retries are counted per run: whether they still increase is known only against the previous report.
            var retries = previous is null ? report.Retries : Math.Max(0, report.Retries - previous.Retries);
            var updated = new CurrentStatus(workerId, report.Epoch, report.ReportedAt, report, progressed ? report.ReportedAt : current!.LastProgressAt, snapshotStartedAt, failures, retries);
            events.AddRange(EventsOf(current, previous, report, workerId, newFailure).Select(e => (report.PipelineId, report.ReportedAt, e.Kind, e.Message, report.Epoch)));
            if (newFailure)
            {
                LogRunFailed(logger, report.PipelineId, report.Epoch, report.Reason);
            }

            // Later reports of the same pipeline in this batch compare against this one.
            currents[report.PipelineId] = updated;
            statuses[report.PipelineId] = new StatusRow(report.PipelineId, updated);
        }

        await WritePointsAsync(connection, transaction, points.Values, cancellationToken).ConfigureAwait(false);
        await WriteStatusesAsync(connection, transaction, statuses.Values, receivedAt, cancellationToken).ConfigureAwait(false);
        await WriteEventsAsync(connection, transaction, workerId, events, cancellationToken).ConfigureAwait(false);
        if (statuses.Count > 0)
        {
            // Delivered when the transaction commits, to every process listening (the live feed).
            await using var notify = new NpgsqlCommand($"SELECT pg_notify('{StatusChangeFeed.Channel}', id::text) FROM unnest($1::uuid[]) AS id", connection, transaction);
            notify.Parameters.Add(new() { Value = statuses.Keys.ToArray() });
            await notify.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        metrics?.RecordIngest(reports.Count, time.GetElapsedTime(started));
    }

    /// <summary>The start of the bucket of <paramref name="stepSeconds"/> holding <paramref name="at"/>, aligned to the Unix epoch as SQL's date_bin is here.</summary>
    internal static DateTimeOffset BucketStart(DateTimeOffset at, int stepSeconds)
    {
        var seconds = at.ToUnixTimeSeconds();
        return DateTimeOffset.FromUnixTimeSeconds(seconds - (((seconds % stepSeconds) + stepSeconds) % stepSeconds));
    }

    /// <summary>Folds a report into its 10-second point as the database upsert would (latest gauges, highest peak, errors added).</summary>
    private static void Fold(Dictionary<(Guid Pipeline, DateTimeOffset Bucket), PointRow> points, PipelineProgressReport report, long newErrors)
    {
        var bucket = BucketStart(report.ReportedAt, FineStepSeconds);
        var key = (report.PipelineId, bucket);
        if (!points.TryGetValue(key, out var point))
        {
            points[key] = new PointRow(report.PipelineId, bucket, report, 1, report.LagSeconds, newErrors, [report.ReportedAt]);
            return;
        }

        if (!point.Seen.Add(report.ReportedAt))
        {
            return; // the same report twice in one batch
        }

        points[key] = point with
        {
            Latest = report.ReportedAt > point.Latest.ReportedAt ? report : point.Latest,
            Samples = point.Samples + 1,
            LagSecondsMax = Math.Max(point.LagSecondsMax, report.LagSeconds),
            Errors = point.Errors + newErrors,
        };
    }

    private static async Task WritePointsAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, ICollection<PointRow> points, CancellationToken cancellationToken)
    {
        await using var fold = new NpgsqlCommand(
            """
            INSERT INTO pipeline_status_points AS p (pipeline_id, step_seconds, bucket_start, reported_at, samples, lag_seconds, lag_seconds_max,
                                                     lag_bytes, rows_per_second, bytes_per_second, errors, retained_wal_bytes)
            SELECT u.pipeline_id, $1, u.bucket_start, u.reported_at, u.samples, u.lag_seconds, u.lag_seconds_max, u.lag_bytes, u.rows_per_second,
                   u.bytes_per_second, u.errors, u.retained_wal_bytes
            FROM unnest($2::uuid[], $3::timestamptz[], $4::timestamptz[], $5::int[], $6::float8[], $7::float8[], $8::int8[], $9::float8[], $10::float8[],
                        $11::int8[], $12::int8[])
                AS u(pipeline_id, bucket_start, reported_at, samples, lag_seconds, lag_seconds_max, lag_bytes, rows_per_second, bytes_per_second, errors,
                     retained_wal_bytes)
            ON CONFLICT (pipeline_id, step_seconds, bucket_start) DO UPDATE SET
                samples = p.samples + excluded.samples,
                lag_seconds_max = greatest(p.lag_seconds_max, excluded.lag_seconds_max),
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
        fold.Parameters.Add(new() { Value = FineStepSeconds });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Pipeline).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Bucket).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Latest.ReportedAt).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Samples).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Latest.LagSeconds).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.LagSecondsMax).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Latest.LagBytes).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Latest.RowsPerSecond).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Latest.BytesPerSecond).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Errors).ToArray() });
        fold.Parameters.Add(new() { Value = points.Select(p => p.Latest.RetainedWalBytes).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Bigint });
        await fold.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteStatusesAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, ICollection<StatusRow> rows, DateTimeOffset receivedAt, CancellationToken cancellationToken)
    {
        if (rows.Count == 0)
        {
            return;
        }

        await using var upsert = new NpgsqlCommand(
            """
            INSERT INTO pipeline_status (pipeline_id, worker_id, epoch, reported_at, received_at, report, last_progress_at, snapshot_started_at,
                                         consecutive_failed_reports, retries_since_previous)
            SELECT u.pipeline_id, u.worker_id, u.epoch, u.reported_at, $1, u.report, u.last_progress_at, u.snapshot_started_at, u.failures, u.retries
            FROM unnest($2::uuid[], $3::uuid[], $4::int8[], $5::timestamptz[], $6::jsonb[], $7::timestamptz[], $8::timestamptz[], $9::int[], $10::int8[])
                AS u(pipeline_id, worker_id, epoch, reported_at, report, last_progress_at, snapshot_started_at, failures, retries)
            ON CONFLICT (pipeline_id) DO UPDATE SET
                worker_id = excluded.worker_id, epoch = excluded.epoch, reported_at = excluded.reported_at, received_at = excluded.received_at,
                report = excluded.report, last_progress_at = excluded.last_progress_at, snapshot_started_at = excluded.snapshot_started_at,
                consecutive_failed_reports = excluded.consecutive_failed_reports, retries_since_previous = excluded.retries_since_previous
            """,
            connection,
            transaction);
        upsert.Parameters.Add(new() { Value = receivedAt });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Pipeline).ToArray() });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Status.WorkerId).ToArray() });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Status.Epoch).ToArray() });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Status.ReportedAt).ToArray() });
        upsert.Parameters.Add(new() { Value = rows.Select(r => JsonSerializer.Serialize(r.Status.Report, ReportJson)).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.Jsonb });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Status.LastProgressAt).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.TimestampTz });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Status.SnapshotStartedAt).ToArray(), NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Array | NpgsqlTypes.NpgsqlDbType.TimestampTz });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Status.ConsecutiveFailedReports).ToArray() });
        upsert.Parameters.Add(new() { Value = rows.Select(r => r.Status.RetriesSincePrevious).ToArray() });
        await upsert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task WriteEventsAsync(
        NpgsqlConnection connection,
        NpgsqlTransaction transaction,
        Guid workerId,
        List<(Guid Pipeline, DateTimeOffset At, string Kind, string Message, long Epoch)> events,
        CancellationToken cancellationToken)
    {
        if (events.Count == 0)
        {
            return;
        }

        // In order (WITH ORDINALITY), so the ids follow the order the events happened in.
        await using var insert = new NpgsqlCommand(
            """
            INSERT INTO pipeline_events (pipeline_id, occurred_at, kind, message, worker_id, epoch)
            SELECT u.pipeline_id, u.occurred_at, u.kind, u.message, $1, u.epoch
            FROM unnest($2::uuid[], $3::timestamptz[], $4::text[], $5::text[], $6::int8[]) WITH ORDINALITY AS u(pipeline_id, occurred_at, kind, message, epoch, n)
            ORDER BY u.n
            ON CONFLICT ON CONSTRAINT uq_pipeline_events_once DO NOTHING
            """,
            connection,
            transaction);
        insert.Parameters.Add(new() { Value = workerId });
        insert.Parameters.Add(new() { Value = events.Select(e => e.Pipeline).ToArray() });
        insert.Parameters.Add(new() { Value = events.Select(e => e.At).ToArray() });
        insert.Parameters.Add(new() { Value = events.Select(e => e.Kind).ToArray() });
        insert.Parameters.Add(new() { Value = events.Select(e => e.Message).ToArray() });
        insert.Parameters.Add(new() { Value = events.Select(e => e.Epoch).ToArray() });
        await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
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

    private static async Task<Dictionary<Guid, CurrentStatus>> LockCurrentAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, Guid[] pipelineIds, CancellationToken cancellationToken)
    {
        // A pipeline's first report has no row to lock: IngestAsync locks those by a transaction lock and reads again.
        await using var select = new NpgsqlCommand(
            """
            SELECT pipeline_id, worker_id, epoch, reported_at, report, last_progress_at, snapshot_started_at, consecutive_failed_reports, retries_since_previous
            FROM pipeline_status WHERE pipeline_id = ANY($1) ORDER BY pipeline_id FOR UPDATE
            """,
            connection,
            transaction);
        select.Parameters.Add(new() { Value = pipelineIds });
        var currents = new Dictionary<Guid, CurrentStatus>(pipelineIds.Length);
        await using var reader = await select.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            currents[reader.GetGuid(0)] = new CurrentStatus(
                reader.GetGuid(1),
                reader.GetInt64(2),
                reader.GetFieldValue<DateTimeOffset>(3),
                JsonSerializer.Deserialize<PipelineProgressReport>(reader.GetString(4), ReportJson)!,
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5),
                reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6),
                reader.GetInt32(7),
                reader.GetInt64(8));
        }

        return currents;
    }

    /// <summary>A 10-second point as one batch folds it: the latest report's gauges, the highest lag, the new errors.</summary>
    private sealed record PointRow(Guid Pipeline, DateTimeOffset Bucket, PipelineProgressReport Latest, int Samples, double LagSecondsMax, long Errors, HashSet<DateTimeOffset> Seen);

    /// <summary>A pipeline's status as one batch leaves it.</summary>
    private sealed record StatusRow(Guid Pipeline, CurrentStatus Status);

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
