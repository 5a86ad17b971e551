using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>
/// The pipeline's checkpoint row in the destination dataset's <c>_freshet_checkpoints</c> table, with the epoch fence:
/// a claim records this run's epoch unless a higher one is there, and every save is an UPDATE that matches only while
/// the row still holds this run's epoch, so a zombie worker's save changes nothing and is told it was fenced. Saves
/// happen after the batch's rows were acknowledged by the Storage Write API: a crash in between replays the batch, which
/// the rows' sequence numbers make harmless. (The building block of the BigQuery destination, which is not written yet.)
/// </summary>
public sealed class BigQueryCheckpoints(BigQueryRestClient rest, BigQueryClientOptions options, string dataset, TimeProvider time)
{
    private static readonly BigQueryColumn[] Columns =
    [
        new("pipeline_id", "STRING", null, null, true, ProtoEncoding.String),
        new("epoch", "INT64", null, null, true, ProtoEncoding.Int64),
        new("position", "STRING", null, null, false, ProtoEncoding.String),
        new("applied_position", "INT64", null, null, false, ProtoEncoding.Int64),
        new("applied_sequence", "INT64", null, null, false, ProtoEncoding.Int64),
        new("snapshot", "STRING", null, null, false, ProtoEncoding.String),
        new("quarantined", "STRING", null, null, false, ProtoEncoding.String),
        new("updated_at", "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
        // Counts the snapshots begun: the first section of the destination's CDC sequence numbers (see BigQueryDestination).
        new("generation", "INT64", null, null, false, ProtoEncoding.Int64),
    ];

    private string Table => BigQueryMerge.Path(options.ProjectId, dataset, MetadataColumns.CheckpointTable);

    /// <summary>Creates the state table when it is missing.</summary>
    public async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        if (await rest.GetTableAsync(dataset, MetadataColumns.CheckpointTable, cancellationToken).ConfigureAwait(false) is { } existing)
        {
            var missing = Columns.Where(c => !existing.Columns.Any(e => e.Name == c.Name)).ToList();
            if (missing.Count > 0)
            {
                // A table made before a column was added to it: columns are appended (NULLABLE), which tables.patch allows.
                await rest.PatchSchemaAsync(dataset, MetadataColumns.CheckpointTable, [.. existing.Columns, .. missing], cancellationToken).ConfigureAwait(false);
            }
            return;
        }
        try
        {
            await rest.CreateTableAsync(dataset, MetadataColumns.CheckpointTable, Columns, ["pipeline_id"], null, cancellationToken).ConfigureAwait(false);
        }
        catch (BigQueryException exception) when (exception.HttpStatus == 409)
        {
            // Another worker created it between the check and the insert.
        }
    }

    /// <summary>Records <paramref name="epoch"/> as the owner and returns the stored checkpoint; a higher stored epoch fences this run.</summary>
    public async Task<DestinationCheckpoint> ClaimAsync(Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        var result = await rest.QueryAsync($"""
            MERGE {Table} t
            USING (SELECT @pipeline AS pipeline_id) s
            ON t.pipeline_id = s.pipeline_id
            WHEN MATCHED AND t.epoch <= @epoch THEN UPDATE SET epoch = @epoch, updated_at = @now
            WHEN NOT MATCHED THEN INSERT (pipeline_id, epoch, updated_at) VALUES (@pipeline, @epoch, @now);
            SELECT epoch, position, applied_position, applied_sequence, snapshot, quarantined, updated_at FROM {Table} WHERE pipeline_id = @pipeline;
            """, Parameters(pipelineId, epoch), cancellationToken).ConfigureAwait(false);
        var row = result.Rows.Count == 1 ? result.Rows[0] : throw new BigQueryException($"The checkpoint of pipeline {pipelineId} was not found after claiming it.", 200, null, isRetryable: false);
        var owner = long.Parse(row[0]!, CultureInfo.InvariantCulture);
        if (owner > epoch)
        {
            throw new PipelineFencedException(pipelineId, epoch, owner);
        }
        return new DestinationCheckpoint(
            owner,
            row[1],
            row[2] is { } position ? long.Parse(position, CultureInfo.InvariantCulture) : 0,
            row[3] is { } sequence ? long.Parse(sequence, CultureInfo.InvariantCulture) : 0,
            row[4],
            ReadQuarantine(row[5]),
            row[6] is { } micros ? DateTimeOffset.UnixEpoch.AddTicks(long.Parse(micros, CultureInfo.InvariantCulture) * 10) : null);
    }

    /// <summary>Stores where to resume and what was applied; throws <see cref="PipelineFencedException"/> when a higher epoch owns the row.</summary>
    public async Task SaveAsync(Guid pipelineId, long epoch, string? position, long appliedPosition, long appliedSequence, string? snapshot,
        IReadOnlyDictionary<TableId, string> quarantined, CancellationToken cancellationToken)
    {
        var parameters = Parameters(pipelineId, epoch);
        parameters.Add(BigQueryParameter.String("position", position));
        parameters.Add(BigQueryParameter.Int64("applied_position", appliedPosition));
        parameters.Add(BigQueryParameter.Int64("applied_sequence", appliedSequence));
        parameters.Add(BigQueryParameter.String("snapshot", snapshot));
        parameters.Add(BigQueryParameter.String("quarantined", WriteQuarantine(quarantined)));
        var result = await rest.QueryAsync($"""
            UPDATE {Table}
            SET position = @position, applied_position = @applied_position, applied_sequence = @applied_sequence, snapshot = @snapshot,
                quarantined = @quarantined, updated_at = @now
            WHERE pipeline_id = @pipeline AND epoch = @epoch
            """, parameters, cancellationToken).ConfigureAwait(false);
        if (result.AffectedRows != 1)
        {
            var owner = await rest.QueryAsync($"SELECT epoch FROM {Table} WHERE pipeline_id = @pipeline", [BigQueryParameter.String("pipeline", pipelineId.ToString())], cancellationToken)
                .ConfigureAwait(false);
            throw new PipelineFencedException(pipelineId, epoch, owner.Rows.Count == 1 ? long.Parse(owner.Rows[0][0]!, CultureInfo.InvariantCulture) : -1);
        }
    }

    private List<BigQueryParameter> Parameters(Guid pipelineId, long epoch) =>
    [
        BigQueryParameter.String("pipeline", pipelineId.ToString()),
        BigQueryParameter.Int64("epoch", epoch),
        BigQueryParameter.Timestamp("now", time.GetUtcNow()),
    ];

    internal static string? WriteQuarantine(IReadOnlyDictionary<TableId, string> quarantined) => quarantined.Count == 0
        ? null
        : new JsonArray([.. quarantined.Select(q => (JsonNode)new JsonObject { ["schema"] = q.Key.Schema, ["name"] = q.Key.Name, ["reason"] = q.Value })]).ToJsonString();

    private static Dictionary<TableId, string> ReadQuarantine(string? json)
    {
        var result = new Dictionary<TableId, string>();
        if (string.IsNullOrEmpty(json))
        {
            return result;
        }
        try
        {
            foreach (var entry in JsonNode.Parse(json)?.AsArray() ?? [])
            {
                result[new TableId(entry!["schema"]!.GetValue<string>(), entry["name"]!.GetValue<string>())] = entry["reason"]?.GetValue<string>() ?? "";
            }
        }
        catch (Exception exception) when (exception is JsonException or InvalidOperationException or NullReferenceException)
        {
            throw new BigQueryException($"The quarantine stored in {MetadataColumns.CheckpointTable} is not readable: {exception.Message}", 200, null, isRetryable: false);
        }
        return result;
    }
}
