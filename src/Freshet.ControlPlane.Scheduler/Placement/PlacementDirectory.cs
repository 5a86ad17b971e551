using System.Text.Json;
using Freshet.Contracts;
using Freshet.ControlPlane.Scheduler.Workers;
using Npgsql;

namespace Freshet.ControlPlane.Scheduler.Placement;

/// <summary>
/// Where pipelines run, read from the placements the leading scheduler committed. Reads only, so it serves processes
/// that run no scheduler as well (see <see cref="SchedulerModule.AddPipelinePlacements"/>).
/// </summary>
internal sealed class PlacementDirectory(NpgsqlDataSource dataSource) : IPipelinePlacements
{
    public async Task<IReadOnlyDictionary<Guid, PipelinePlacementInfo>> GetPlacementsAsync(IReadOnlyCollection<Guid> pipelineIds, CancellationToken cancellationToken)
    {
        var result = new Dictionary<Guid, PipelinePlacementInfo>();
        if (pipelineIds.Count == 0)
        {
            return result;
        }

        await using var command = dataSource.CreateCommand(
            """
            SELECT a.pipeline_id, a.worker_id, w.name, a.epoch, a.generation, a.assigned_at, a.report
            FROM assignments a LEFT JOIN workers w ON w.id = a.worker_id
            WHERE a.pipeline_id = ANY($1) AND NOT a.drop_requested
            """);
        command.Parameters.Add(new NpgsqlParameter { Value = pipelineIds.ToArray() });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var workerId = reader.IsDBNull(1) ? (Guid?)null : reader.GetGuid(1);
            var report = workerId is null || reader.IsDBNull(6) ? null : JsonSerializer.Deserialize<PipelineProgressReport>(reader.GetString(6), WorkerCoordinator.ReportJson);
            result[reader.GetGuid(0)] = new PipelinePlacementInfo(
                reader.GetGuid(0),
                workerId,
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetInt64(3),
                reader.GetInt64(4),
                workerId is null ? null : reader.GetFieldValue<DateTimeOffset>(5),
                report);
        }

        return result;
    }
}
