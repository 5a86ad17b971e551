using System.Text.Json;
using System.Text.Json.Serialization;
using Freshet.Contracts;
using Freshet.ControlPlane.Scheduler.Placement;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.ControlPlane.Scheduler.Workers;

/// <summary>
/// The control plane's side of the worker protocol (<see cref="IWorkerControl"/>) and the pool as platform staff see it
/// (<see cref="IWorkerPool"/>). Every replica serves it, leader or not: it writes leases and reports, hand-backs and
/// requests, never placements — those are the leading scheduler's alone (<see cref="Reconciler"/>). Leases are timed by
/// the database's clock, so the replicas' clocks do not matter.
/// </summary>
internal sealed partial class WorkerCoordinator(
    NpgsqlDataSource dataSource,
    IPipelineCatalog catalog,
    LeaseOptions options,
    ReconcileSignal signal,
    IReadOnlyList<IPipelineStatusSink> statusSinks,
    ILogger<WorkerCoordinator> logger) : IWorkerControl, IWorkerPool
{
    internal static readonly JsonSerializerOptions ReportJson = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private readonly PlacementDirectory _placements = new(dataSource);

    public async Task<WorkerLeaseGrant> RegisterAsync(WorkerRegistration registration, CancellationToken cancellationToken)
    {
        // A worker that registers again (after losing its lease) keeps its draining flags: an operator's drain survives.
        await using var command = dataSource.CreateCommand(
            """
            INSERT INTO workers AS w (id, name, zone, labels, capacity, version, registered_at, last_heartbeat_at, lease_expires_at,
                                      draining, drain_requested, draining_since, assignments_version)
            VALUES ($1, $2, $3, $4, $5, $6, now(), now(), now() + $7, false, false, NULL, 1)
            ON CONFLICT (id) DO UPDATE SET
                name = excluded.name, zone = excluded.zone, labels = excluded.labels, capacity = excluded.capacity,
                version = excluded.version, last_heartbeat_at = now(), lease_expires_at = now() + $7,
                assignments_version = w.assignments_version + 1
            RETURNING drain_requested, assignments_version
            """);
        var labels = new Dictionary<string, string>(registration.Labels, StringComparer.Ordinal);
        if (registration.Zone is { Length: > 0 } zone)
        {
            labels.TryAdd("zone", zone);
        }

        command.Parameters.Add(new NpgsqlParameter { Value = registration.WorkerId });
        command.Parameters.Add(new NpgsqlParameter { Value = registration.Name });
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)registration.Zone ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Varchar });
        command.Parameters.Add(new NpgsqlParameter { Value = JsonSerializer.Serialize(labels, JsonSerializerOptions.Default), NpgsqlDbType = NpgsqlDbType.Jsonb });
        command.Parameters.Add(new NpgsqlParameter { Value = registration.Capacity });
        command.Parameters.Add(new NpgsqlParameter { Value = registration.Version });
        command.Parameters.Add(new NpgsqlParameter { Value = options.LeaseDuration });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var grant = Grant(registration.WorkerId, held: true, reader.GetBoolean(0), reader.GetInt64(1));
        signal.Request();
        return grant;
    }

    public async Task<WorkerLeaseGrant> HeartbeatAsync(WorkerHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // An expired lease is never renewed: the scheduler may already have placed the worker's pipelines elsewhere. The
        // worker stops everything and registers again.
        bool drainRequested;
        long version;
        bool wasDraining;
        await using (var renew = new NpgsqlCommand(
            """
            UPDATE workers SET last_heartbeat_at = now(), lease_expires_at = now() + $2,
                draining = draining OR $3,
                draining_since = CASE WHEN $3 OR draining THEN coalesce(draining_since, now()) ELSE NULL END
            WHERE id = $1 AND lease_expires_at > now()
            RETURNING drain_requested, assignments_version, (SELECT draining FROM workers WHERE id = $1)
            """,
            connection,
            transaction))
        {
            renew.Parameters.Add(new NpgsqlParameter { Value = heartbeat.WorkerId });
            renew.Parameters.Add(new NpgsqlParameter { Value = options.LeaseDuration });
            renew.Parameters.Add(new NpgsqlParameter { Value = heartbeat.Draining });
            await using var reader = await renew.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return Grant(heartbeat.WorkerId, held: false, drainRequested: false, version: 0);
            }

            drainRequested = reader.GetBoolean(0);
            version = reader.GetInt64(1);
            wasDraining = reader.GetBoolean(2);
        }

        var placed = new HashSet<Guid>();
        if (heartbeat.Pipelines.Count > 0)
        {
            // Reports count only for the placement they were made under: a late report of an older epoch is ignored.
            await using var report = new NpgsqlCommand(
                """
                UPDATE assignments a SET report = r.report, reported_at = now()
                FROM unnest($2::uuid[], $3::bigint[], $4::jsonb[]) AS r(pipeline_id, epoch, report)
                WHERE a.pipeline_id = r.pipeline_id AND a.epoch = r.epoch AND a.worker_id = $1
                RETURNING a.pipeline_id
                """,
                connection,
                transaction);
            report.Parameters.Add(new NpgsqlParameter { Value = heartbeat.WorkerId });
            report.Parameters.Add(new NpgsqlParameter { Value = heartbeat.Pipelines.Select(p => p.PipelineId).ToArray() });
            report.Parameters.Add(new NpgsqlParameter { Value = heartbeat.Pipelines.Select(p => p.Epoch).ToArray() });
            report.Parameters.Add(new NpgsqlParameter
            {
                Value = heartbeat.Pipelines.Select(p => p.Progress is null ? null : JsonSerializer.Serialize(p.Progress, ReportJson)).ToArray(),
                NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Jsonb,
            });
            await using var placedReader = await report.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await placedReader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                placed.Add(placedReader.GetGuid(0));
            }
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);

        // Re-snapshot requests a run reports handled are completed only for the placement it runs under (placed on this
        // worker with this epoch, as the report just matched). After the commit: completing is idempotent, and a report
        // lost here is repeated by the next heartbeat.
        foreach (var pipeline in heartbeat.Pipelines)
        {
            if (pipeline.Progress?.HandledResnapshots is { Count: > 0 } handled && pipeline.Progress.Epoch == pipeline.Epoch && placed.Contains(pipeline.PipelineId))
            {
                await catalog.CompleteSnapshotRequestsAsync(pipeline.PipelineId, handled, cancellationToken).ConfigureAwait(false);
            }
        }

        if (heartbeat.Draining && !wasDraining)
        {
            signal.Request();
        }

        await ForwardReportsAsync(heartbeat, placed, cancellationToken).ConfigureAwait(false);
        return Grant(heartbeat.WorkerId, held: true, drainRequested, version);
    }

    /// <summary>
    /// Hands the reports of the placements the worker holds to the status module. Status is not part of the lease: a
    /// status store that fails is logged and the heartbeat still renews (the next report repeats the whole view).
    /// </summary>
    private async Task ForwardReportsAsync(WorkerHeartbeat heartbeat, HashSet<Guid> placed, CancellationToken cancellationToken)
    {
        if (statusSinks.Count == 0)
        {
            return;
        }

        var reports = heartbeat.Pipelines
            .Where(p => p.Progress is { } progress && progress.Epoch == p.Epoch && placed.Contains(p.PipelineId))
            .Select(p => p.Progress!)
            .ToList();
        if (reports.Count == 0)
        {
            return;
        }

        foreach (var sink in statusSinks)
        {
            try
            {
                await sink.IngestAsync(heartbeat.WorkerId, reports, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                LogStatusIngestFailed(logger, heartbeat.WorkerId, exception);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not store the status reports of worker {WorkerId}; its next heartbeat repeats them")]
    private static partial void LogStatusIngestFailed(ILogger logger, Guid workerId, Exception exception);

    public async Task<WorkerAssignments> GetAssignmentsAsync(Guid workerId, CancellationToken cancellationToken)
    {
        // A worker without a live lease runs nothing, whatever rows still name it.
        await using var command = dataSource.CreateCommand(
            """
            SELECT a.pipeline_id, a.epoch, a.generation, a.drop_requested, w.assignments_version
            FROM workers w LEFT JOIN assignments a ON a.worker_id = w.id
            WHERE w.id = $1 AND w.lease_expires_at > now()
            ORDER BY a.pipeline_id
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = workerId });
        var pipelines = new List<AssignedPipeline>();
        var drop = new List<Guid>();
        long version = 0;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            version = reader.GetInt64(4);
            if (reader.IsDBNull(0))
            {
                continue;
            }

            if (reader.GetBoolean(3))
            {
                drop.Add(reader.GetGuid(0));
            }
            else
            {
                pipelines.Add(new AssignedPipeline(reader.GetGuid(0), reader.GetInt64(1), reader.GetInt64(2)));
            }
        }

        return new WorkerAssignments(workerId, pipelines, drop, version);
    }

    public async Task<PipelineSpec?> GetSpecAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT 1 FROM assignments a JOIN workers w ON w.id = a.worker_id
            WHERE a.pipeline_id = $1 AND a.worker_id = $2 AND a.epoch = $3 AND NOT a.drop_requested AND w.lease_expires_at > now()
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = pipelineId });
        command.Parameters.Add(new NpgsqlParameter { Value = workerId });
        command.Parameters.Add(new NpgsqlParameter { Value = epoch });
        if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is null)
        {
            return null;
        }

        return await catalog.ReadSpecAsync(pipelineId, epoch, cancellationToken).ConfigureAwait(false);
    }

    public async Task ReleaseAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        // The epoch stays: the next placement goes above it. Only the leader hands out placements, so this only ever
        // empties one. Only a draining worker hands back, and it may do so before its next heartbeat says it drains:
        // mark it draining here too, or the next round could place the pipeline straight back on it.
        await using var command = dataSource.CreateCommand(
            """
            WITH released AS (
                UPDATE assignments SET worker_id = NULL, report = NULL, reported_at = NULL
                WHERE pipeline_id = $1 AND worker_id = $2 AND epoch = $3 AND NOT drop_requested
                RETURNING worker_id)
            UPDATE workers SET assignments_version = assignments_version + 1, draining = true, draining_since = coalesce(draining_since, now())
            WHERE id = $2 AND EXISTS (SELECT 1 FROM released)
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = pipelineId });
        command.Parameters.Add(new NpgsqlParameter { Value = workerId });
        command.Parameters.Add(new NpgsqlParameter { Value = epoch });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        signal.Request();
    }

    public async Task ConfirmDroppedAsync(Guid workerId, Guid pipelineId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            "DELETE FROM assignments WHERE pipeline_id = $1 AND worker_id = $2 AND drop_requested");
        command.Parameters.Add(new NpgsqlParameter { Value = pipelineId });
        command.Parameters.Add(new NpgsqlParameter { Value = workerId });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlyList<WorkerInfo>> ListWorkersAsync(CancellationToken cancellationToken) =>
        await ReadWorkersAsync(null, cancellationToken).ConfigureAwait(false);

    public async Task<WorkerInfo?> GetWorkerAsync(Guid workerId, CancellationToken cancellationToken) =>
        (await ReadWorkersAsync(workerId, cancellationToken).ConfigureAwait(false)).FirstOrDefault();

    public async Task<bool> RequestDrainAsync(Guid workerId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            UPDATE workers SET drain_requested = true, draining = true, draining_since = coalesce(draining_since, now())
            WHERE id = $1
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = workerId });
        var found = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
        signal.Request();
        return found;
    }

    public async Task<MoveRequestOutcome> RequestMoveAsync(Guid pipelineId, Guid? toWorkerId, CancellationToken cancellationToken)
    {
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        Guid? current;
        await using (var read = new NpgsqlCommand("SELECT worker_id FROM assignments WHERE pipeline_id = $1 AND NOT drop_requested", connection))
        {
            read.Parameters.Add(new NpgsqlParameter { Value = pipelineId });
            current = await read.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as Guid?;
        }

        if (current is null)
        {
            return MoveRequestOutcome.NotPlaced;
        }

        if (toWorkerId is { } to)
        {
            await using var target = new NpgsqlCommand("SELECT lease_expires_at > now() AND NOT draining FROM workers WHERE id = $1", connection);
            target.Parameters.Add(new NpgsqlParameter { Value = to });
            var eligible = await target.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            if (eligible is null)
            {
                return MoveRequestOutcome.WorkerNotFound;
            }

            if (eligible is false || to == current)
            {
                return MoveRequestOutcome.WorkerNotEligible;
            }
        }

        await using var request = new NpgsqlCommand(
            "UPDATE assignments SET move_requested_at = now(), move_to = $2 WHERE pipeline_id = $1 AND worker_id IS NOT NULL",
            connection);
        request.Parameters.Add(new NpgsqlParameter { Value = pipelineId });
        request.Parameters.Add(new NpgsqlParameter { Value = (object?)toWorkerId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
        var updated = await request.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        signal.Request();
        return updated > 0 ? MoveRequestOutcome.Requested : MoveRequestOutcome.NotPlaced;
    }

    public Task<IReadOnlyDictionary<Guid, PipelinePlacementInfo>> GetPlacementsAsync(IReadOnlyCollection<Guid> pipelineIds, CancellationToken cancellationToken) =>
        _placements.GetPlacementsAsync(pipelineIds, cancellationToken);

    private async Task<List<WorkerInfo>> ReadWorkersAsync(Guid? workerId, CancellationToken cancellationToken)
    {
        await using var command = dataSource.CreateCommand(
            """
            SELECT w.id, w.name, w.zone, w.labels, w.capacity, w.version, w.registered_at, w.last_heartbeat_at, w.lease_expires_at,
                   w.lease_expires_at > now(), w.draining,
                   (SELECT count(*) FROM assignments a WHERE a.worker_id = w.id AND NOT a.drop_requested)
            FROM workers w
            WHERE $1::uuid IS NULL OR w.id = $1
            ORDER BY w.name, w.id
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = (object?)workerId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Uuid });
        var workers = new List<WorkerInfo>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            workers.Add(new WorkerInfo(
                reader.GetGuid(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(3), JsonSerializerOptions.Default) ?? [],
                reader.GetInt32(4),
                reader.GetString(5),
                reader.GetFieldValue<DateTimeOffset>(6),
                reader.GetFieldValue<DateTimeOffset>(7),
                reader.GetFieldValue<DateTimeOffset>(8),
                reader.GetBoolean(9),
                reader.GetBoolean(10),
                (int)reader.GetInt64(11)));
        }

        return workers;
    }

    private WorkerLeaseGrant Grant(Guid workerId, bool held, bool drainRequested, long version) =>
        new(workerId, held, options.LeaseDuration, options.HeartbeatInterval, drainRequested, version);
}

/// <summary>Wakes the reconcile loop early (a hand-back, a drain, a move, a new worker) instead of at its next tick.</summary>
internal sealed class ReconcileSignal
{
    private readonly SemaphoreSlim _wake = new(0, 1);

    public void Request()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Already requested.
        }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _wake.WaitAsync(timeout, cancellationToken);
}
