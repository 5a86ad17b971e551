using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Connections;
using Freshet.ControlPlane.Api.Data;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Pipelines;

/// <summary>
/// Builds the spec a worker runs from a pipeline and its two connections, secrets decrypted. The only place a
/// pipeline's secrets leave the API module; the caller must hand the result straight to a worker.
/// </summary>
internal sealed class PipelineSpecs(ControlDbContext db, ConnectionSecrets secrets, ConnectionEndpoints endpoints)
{
    /// <summary>One pipeline's spec under <paramref name="epoch"/>; null when the pipeline or one of its connections is gone.</summary>
    public async Task<Freshet.Contracts.PipelineSpec?> ReadAsync(Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.AsNoTracking().FirstOrDefaultAsync(p => p.Id == pipelineId, cancellationToken);
        if (pipeline is null)
        {
            return null;
        }

        var connections = await db.Connections.AsNoTracking()
            .Where(c => c.Id == pipeline.SourceConnectionId || c.Id == pipeline.DestinationConnectionId)
            .ToDictionaryAsync(c => c.Id, cancellationToken);
        if (!connections.TryGetValue(pipeline.SourceConnectionId, out var source) || !connections.TryGetValue(pipeline.DestinationConnectionId, out var destination))
        {
            return null;
        }

        var requests = await PendingRequests().Where(r => r.PipelineId == pipelineId).ToListAsync(cancellationToken);
        return Build(pipeline, source, destination, epoch, requests);
    }

    /// <summary>Re-snapshot requests not completed yet, oldest first (ids are time-ordered).</summary>
    private IQueryable<SnapshotRequest> PendingRequests() =>
        db.SnapshotRequests.AsNoTracking().Where(r => r.CompletedAt == null).OrderBy(r => r.Id);

    private Freshet.Contracts.PipelineSpec Build(Pipeline pipeline, Connection source, Connection destination, long epoch, IReadOnlyList<SnapshotRequest> requests) => new(
        pipeline.Id,
        pipeline.TenantId,
        pipeline.Name,
        pipeline.Generation,
        epoch,
        Endpoint(source),
        Endpoint(destination),
        [.. pipeline.Tables.Select(t => new TableSpec(t.Schema, t.Name, t.Options.DestinationName, t.Options.ExcludedColumns, t.Options.Snapshot))],
        pipeline.DeleteMode,
        pipeline.SchemaChangePolicy,
        Resnapshots: requests.Count == 0
            ? null
            : [.. requests
                .Where(r => pipeline.Tables.Any(t => t.Schema == r.SchemaName && t.Name == r.TableName))
                .Select(r => new SnapshotRequestSpec(r.Id, r.SchemaName, r.TableName))]);

    private EndpointSpec Endpoint(Connection connection)
    {
        var settings = connection.Settings.ToDictionary(p => p.Key, p => Text(p.Value), StringComparer.Ordinal);
        if (connection.Type == ConnectionType.Duckdb)
        {
            // The worker gets the resolved file inside the tenant's folder, never the tenant's relative path.
            settings["path"] = endpoints.DuckDbPath(connection);
        }

        return new EndpointSpec(connection.Type, settings, secrets.Open(connection));
    }

    /// <summary>A setting's value as the invariant text an <see cref="EndpointSpec"/> carries.</summary>
    internal static string Text(JsonNode? value) => value switch
    {
        null => "",
        JsonValue v when v.TryGetValue<string>(out var s) => s,
        JsonValue v when v.TryGetValue<long>(out var l) => l.ToString(CultureInfo.InvariantCulture),
        JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
        _ => value.ToJsonString(JsonSerializerOptions.Default),
    };
}
