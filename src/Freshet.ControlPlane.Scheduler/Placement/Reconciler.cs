using Freshet.Contracts;
using Freshet.ControlPlane.Scheduler.Leadership;
using Freshet.ControlPlane.Scheduler.Workers;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.ControlPlane.Scheduler.Placement;

/// <summary>What one committed round changed, for logs, hints and tests.</summary>
internal sealed record ReconcileOutcome(IReadOnlyList<PlacementChange> Changes, IReadOnlyList<Guid> Pending, IReadOnlyList<Guid> TouchedWorkers, int Dropped);

/// <summary>
/// One reconcile round of the leading scheduler: read the desired pipelines (through <see cref="IPipelineCatalog"/>),
/// the workers' leases and the placements; plan (<see cref="PlacementPlanner"/>); commit every change with its epoch in
/// one transaction fenced on the leadership term, so a deposed leader cannot commit. Level-triggered: a round that fails
/// or is fenced changes nothing, and the next one starts from what the database says.
/// </summary>
internal sealed partial class Reconciler(NpgsqlDataSource dataSource, IPipelineCatalog catalog, LeaseOptions options, ILogger<Reconciler> logger)
{
    public async Task<ReconcileOutcome> RunOnceAsync(LeadershipTerm term, CancellationToken cancellationToken)
    {
        var demands = await catalog.ReadDemandsAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var (now, workers) = await ReadWorkersAsync(connection, cancellationToken).ConfigureAwait(false);
        var assignments = await ReadAssignmentsAsync(connection, cancellationToken).ConfigureAwait(false);

        var live = workers.ToDictionary(w => w.Id, w => w.Live);
        var wanted = demands.ToDictionary(d => d.PipelineId);
        var pipelines = new List<PipelineDemand>(demands.Count);
        var toDrop = new List<PlacedRow>();
        var toForget = new List<Guid>();
        foreach (var row in assignments.Values)
        {
            if (wanted.ContainsKey(row.PipelineId) || row.DropRequested)
            {
                if (row.DropRequested && (row.WorkerId is not { } holder || !live.GetValueOrDefault(holder)))
                {
                    // Nobody left who holds its spec to drop the slot with.
                    toForget.Add(row.PipelineId);
                }

                continue;
            }

            // Deleted: the worker that runs it drops its slot and publication, then confirms; nobody runs it: forget it.
            if (row.WorkerId is { } worker && live.GetValueOrDefault(worker))
            {
                toDrop.Add(row);
            }
            else
            {
                toForget.Add(row.PipelineId);
            }
        }

        foreach (var demand in demands)
        {
            assignments.TryGetValue(demand.PipelineId, out var row);
            if (row is { DropRequested: true })
            {
                continue;
            }

            pipelines.Add(new PipelineDemand(
                demand.PipelineId,
                demand.TenantId,
                demand.State == DesiredState.Running,
                demand.Generation,
                demand.RequiredLabels,
                row?.WorkerId is { } placedOn ? new CurrentPlacement(placedOn, row.Epoch, row.Generation) : null,
                row?.Epoch ?? 0,
                row?.MoveRequested == true ? new MoveRequest(row.MoveTo) : null));
        }

        var candidates = workers.Select(w => new WorkerCandidate(
            w.Id,
            w.Capacity,
            w.Live,
            w.Draining,
            w.Labels,
            HandsBack: w.Draining && w.DrainingSince is { } since && now - since < options.DrainTimeout)).ToList();
        var plan = PlacementPlanner.Plan(candidates, pipelines, new PlacementOptions { MaxRebalanceMovesPerRound = options.MaxRebalanceMovesPerRound });
        var moveRequests = assignments.Values.Where(a => a.MoveRequested).Select(a => a.PipelineId).ToList();
        var deadWorkers = workers.Where(w => !w.Live && now - w.LeaseExpiresAt > options.ForgetDeadWorkersAfter).Select(w => w.Id).ToList();
        if (plan.Changes.Count == 0 && toDrop.Count == 0 && toForget.Count == 0 && moveRequests.Count == 0 && deadWorkers.Count == 0)
        {
            return new ReconcileOutcome([], plan.Pending, [], 0);
        }

        var touched = new HashSet<Guid>();
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await SchedulerLeadership.FenceAsync(connection, transaction, term, cancellationToken).ConfigureAwait(false);
        var committed = new List<PlacementChange>();
        foreach (var change in plan.Changes)
        {
            if (await CommitAsync(connection, transaction, change, assignments.GetValueOrDefault(change.PipelineId), cancellationToken).ConfigureAwait(false))
            {
                committed.Add(change);
                AddIfSet(touched, change.From);
                AddIfSet(touched, change.To);
            }
        }

        foreach (var row in toDrop)
        {
            await ExecuteAsync(connection, transaction, "UPDATE assignments SET drop_requested = true WHERE pipeline_id = $1 AND worker_id = $2", cancellationToken, row.PipelineId, row.WorkerId!.Value).ConfigureAwait(false);
            touched.Add(row.WorkerId!.Value);
        }

        if (toForget.Count > 0)
        {
            await ExecuteAsync(connection, transaction, "DELETE FROM assignments WHERE pipeline_id = ANY($1)", cancellationToken, toForget.ToArray()).ConfigureAwait(false);
        }

        if (moveRequests.Count > 0)
        {
            // Carried out or impossible, a request is answered by this round; an operator asks again if it could not be done.
            await ExecuteAsync(connection, transaction, "UPDATE assignments SET move_requested_at = NULL, move_to = NULL WHERE pipeline_id = ANY($1)", cancellationToken, moveRequests.ToArray()).ConfigureAwait(false);
        }

        if (deadWorkers.Count > 0)
        {
            await ExecuteAsync(connection, transaction, "DELETE FROM workers WHERE id = ANY($1) AND lease_expires_at < now()", cancellationToken, deadWorkers.ToArray()).ConfigureAwait(false);
        }

        if (touched.Count > 0)
        {
            await ExecuteAsync(connection, transaction, "UPDATE workers SET assignments_version = assignments_version + 1 WHERE id = ANY($1)", cancellationToken, touched.ToArray()).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        foreach (var change in committed)
        {
            LogChange(logger, change.PipelineId, change.Reason, change.From, change.To, change.Epoch, change.Generation);
        }

        return new ReconcileOutcome(committed, plan.Pending, [.. touched], toDrop.Count);
    }

    /// <summary>
    /// Writes one change, guarded by what the round read: if the row moved on meanwhile (a worker handed the pipeline
    /// back), the change is skipped and the next round plans from the new state.
    /// </summary>
    private static async Task<bool> CommitAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, PlacementChange change, PlacedRow? before, CancellationToken cancellationToken)
    {
        if (before is null)
        {
            if (change.To is null)
            {
                return false;
            }

            await using var insert = new NpgsqlCommand(
                """
                INSERT INTO assignments (pipeline_id, tenant_id, worker_id, epoch, generation, assigned_at, drop_requested)
                VALUES ($1, $2, $3, $4, $5, now(), false)
                ON CONFLICT (pipeline_id) DO NOTHING
                """,
                connection,
                transaction);
            AddParameters(insert, change.PipelineId, change.TenantId, change.To.Value, change.Epoch, change.Generation);
            return await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
        }

        // Respec keeps the epoch (same worker, new spec) and its report; everything else is a new placement or a stop.
        var sql = change.Reason == PlacementReason.Respec
            ? "UPDATE assignments SET generation = $5 WHERE pipeline_id = $1 AND epoch = $4 AND worker_id = $3"
            : change.To is null
                ? "UPDATE assignments SET worker_id = NULL, report = NULL, reported_at = NULL WHERE pipeline_id = $1 AND epoch = $4 AND worker_id IS NOT DISTINCT FROM $6"
                : """
                  UPDATE assignments SET worker_id = $3, epoch = $4, generation = $5, assigned_at = now(), report = NULL, reported_at = NULL
                  WHERE pipeline_id = $1 AND epoch = $7 AND worker_id IS NOT DISTINCT FROM $6 AND NOT drop_requested
                  """;
        await using var update = new NpgsqlCommand(sql, connection, transaction);
        AddParameters(update, change.PipelineId, change.TenantId, (object?)change.To ?? DBNull.Value, change.Epoch, change.Generation, (object?)before.WorkerId ?? DBNull.Value, before.Epoch);
        return await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private static void AddParameters(NpgsqlCommand command, params object[] values)
    {
        foreach (var value in values)
        {
            command.Parameters.Add(value is DBNull ? new NpgsqlParameter { Value = value, NpgsqlDbType = NpgsqlDbType.Uuid } : new NpgsqlParameter { Value = value });
        }
    }

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Security", "CA2100", Justification = "Callers pass constant SQL; every value is a parameter.")]
    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken, params object[] values)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        AddParameters(command, values);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void AddIfSet(HashSet<Guid> set, Guid? value)
    {
        if (value is { } id)
        {
            set.Add(id);
        }
    }

    private static async Task<(DateTimeOffset Now, List<WorkerRow> Workers)> ReadWorkersAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT id, capacity, lease_expires_at > now(), draining, draining_since, labels::text, lease_expires_at, now()
            FROM workers ORDER BY id
            """,
            connection);
        var workers = new List<WorkerRow>();
        var now = DateTimeOffset.MinValue;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            now = reader.GetFieldValue<DateTimeOffset>(7);
            workers.Add(new WorkerRow(
                reader.GetGuid(0),
                reader.GetInt32(1),
                reader.GetBoolean(2),
                reader.GetBoolean(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4),
                System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(5)) ?? [],
                reader.GetFieldValue<DateTimeOffset>(6)));
        }

        return (now, workers);
    }

    private static async Task<Dictionary<Guid, PlacedRow>> ReadAssignmentsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT pipeline_id, worker_id, epoch, generation, drop_requested, move_requested_at IS NOT NULL, move_to FROM assignments",
            connection);
        var rows = new Dictionary<Guid, PlacedRow>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var row = new PlacedRow(
                reader.GetGuid(0),
                reader.IsDBNull(1) ? null : reader.GetGuid(1),
                reader.GetInt64(2),
                reader.GetInt64(3),
                reader.GetBoolean(4),
                reader.GetBoolean(5),
                reader.IsDBNull(6) ? null : reader.GetGuid(6));
            rows[row.PipelineId] = row;
        }

        return rows;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: {Reason} from {From} to {To} (epoch {Epoch}, generation {Generation})")]
    private static partial void LogChange(ILogger logger, Guid pipelineId, PlacementReason reason, Guid? from, Guid? to, long epoch, long generation);

    private sealed record WorkerRow(Guid Id, int Capacity, bool Live, bool Draining, DateTimeOffset? DrainingSince, Dictionary<string, string> Labels, DateTimeOffset LeaseExpiresAt);

    private sealed record PlacedRow(Guid PipelineId, Guid? WorkerId, long Epoch, long Generation, bool DropRequested, bool MoveRequested, Guid? MoveTo);
}
