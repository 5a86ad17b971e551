using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Connections;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Pipelines;

internal static class PipelinesApi
{
    public static RouteGroupBuilder MapPipelinesApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/pipelines").WithTags("Pipelines");
        group.MapGet("/", ListAsync).Reads().WithSummary("Lists pipelines, each with its runtime state.").WithDescription(PipelineRuntime.StatesSummary);
        group.MapPost("/", CreateAsync).Writes(TenantRole.Editor).WithSummary("Creates a pipeline (generation 1).");
        group.MapGet("/{id:guid}", GetAsync).Reads().WithSummary("Reads a pipeline with its runtime state.").WithDescription(PipelineRuntime.StatesSummary);
        group.MapPatch("/{id:guid}", UpdateAsync).Writes(TenantRole.Editor).WithSummary("Changes a pipeline's spec (a new generation); honours If-Match.");
        group.MapDelete("/{id:guid}", DeleteAsync).Writes(TenantRole.Editor).WithSummary("Deletes a pipeline.");
        group.MapPost("/{id:guid}/pause", (Guid id, ControlDbContext db, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken ct) =>
            SetDesiredStateAsync(id, DesiredState.Paused, db, audit, clock, http, ct)).Writes(TenantRole.Editor).WithSummary("Pauses a pipeline; its position is kept.");
        group.MapPost("/{id:guid}/resume", (Guid id, ControlDbContext db, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken ct) =>
            SetDesiredStateAsync(id, DesiredState.Running, db, audit, clock, http, ct)).Writes(TenantRole.Editor).WithSummary("Resumes a paused pipeline.");
        group.MapPost("/{id:guid}/resnapshot", ResnapshotAsync).Writes(TenantRole.Editor).WithSummary("Copies the named tables again, then streams on (a new generation).")
            .WithDescription("The worker running the pipeline empties each named table's target and copies it again while the other tables keep their position; the request is completed (completed_at) once the copy is done. See GET …/resnapshots.");
        group.MapGet("/{id:guid}/resnapshots", ResnapshotsAsync).Reads().WithSummary("Lists the pipeline's re-snapshot requests, oldest first, each with completed_at once its table was copied again.");
        group.MapGet("/{id:guid}/revisions", RevisionsAsync).Reads().WithSummary("Lists the pipeline's generations, newest first.");
        group.MapGet("/{id:guid}/revisions/{generation:long}", RevisionAsync).Reads().WithSummary("Reads the spec of one generation.");
        return group;
    }

    private static async Task<Results<Ok<Page<PipelineResponse>>, ValidationProblem>> ListAsync(
        ControlDbContext db,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        [FromQuery(Name = "desired_state")] string? desiredState,
        HttpContext http,
        CancellationToken cancellationToken)
    {
        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        var query = db.Pipelines.AsNoTracking();
        if (desiredState is not null)
        {
            if (!ApiJson.TryParseEnum<DesiredState>(desiredState, out var state))
            {
                return Problems.Validation(new Dictionary<string, string[]> { ["desired_state"] = [$"Allowed values: {string.Join(", ", ApiJson.EnumValues<DesiredState>())}."] });
            }

            query = query.Where(p => p.DesiredState == state);
        }

        var rows = await page.ListAsync(query, p => p.Id, p => p, cancellationToken);
        var runtimes = await PipelineRuntimes.ReadAsync(http, rows.Items, cancellationToken);
        return TypedResults.Ok(new Page<PipelineResponse>(rows.Items.Select(p => PipelineResponse.From(p, runtimes?.Invoke(p))).ToList(), rows.NextPageToken));
    }

    private static async Task<Results<Ok<PipelineResponse>, ProblemHttpResult>> GetAsync(Guid id, ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id, cancellationToken);
        if (pipeline is null)
        {
            return Problems.NotFound("Pipeline");
        }

        ETags.Set(http, pipeline);
        return TypedResults.Ok(await ResponseAsync(http, pipeline, cancellationToken));
    }

    private static async Task<Results<Created<PipelineResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        CreatePipelineRequest? request, ControlDbContext db, TenantContext tenant, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["$"] = ["A JSON body is required."] });
        }

        var validator = new RequestValidator();
        validator.Name("name", request.Name);
        validator.Required("source_connection_id", request.SourceConnectionId);
        validator.Required("destination_connection_id", request.DestinationConnectionId);
        var tables = PipelineValidation.Tables(request.Tables, validator);
        PipelineValidation.LagThreshold(validator, request.LagThresholdSeconds);
        await CheckConnectionAsync(db, validator, "source_connection_id", request.SourceConnectionId, ConnectionKind.Source, cancellationToken);
        await CheckConnectionAsync(db, validator, "destination_connection_id", request.DestinationConnectionId, ConnectionKind.Destination, cancellationToken);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var name = request.Name!.Trim();
        if (await db.Pipelines.AnyAsync(p => p.Name == name, cancellationToken))
        {
            return Problems.Conflict($"A pipeline named \"{name}\" already exists.");
        }

        var now = clock.GetUtcNow();
        var pipeline = new Pipeline
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenant.RequireTenantId(),
            Name = name,
            SourceConnectionId = request.SourceConnectionId!.Value,
            DestinationConnectionId = request.DestinationConnectionId!.Value,
            Tables = tables!,
            DeleteMode = request.DeleteMode ?? DeleteMode.Hard,
            SchemaChangePolicy = request.SchemaChangePolicy ?? SchemaChangePolicy.Propagate,
            LagThresholdSeconds = request.LagThresholdSeconds ?? PipelineValidation.DefaultLagThresholdSeconds,
            DesiredState = request.DesiredState ?? DesiredState.Running,
            Generation = 1,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        db.Pipelines.Add(pipeline);
        AddRevision(db, pipeline, tenant.Actor.Display, now, "Created.");
        audit.Record("pipeline.created", "pipeline", pipeline.Id, new JsonObject { ["name"] = pipeline.Name, ["tables"] = pipeline.Tables.Count, ["generation"] = 1 });
        await db.SaveChangesAsync(cancellationToken);
        ETags.Set(http, pipeline);
        return TypedResults.Created($"/v1/pipelines/{pipeline.Id}", await ResponseAsync(http, pipeline, cancellationToken));
    }

    private static async Task<Results<Ok<PipelineResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdatePipelineRequest? request, ControlDbContext db, TenantContext tenant, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["$"] = ["A JSON body is required."] });
        }

        var pipeline = await db.Pipelines.FirstOrDefaultAsync(p => p.Id == id, cancellationToken);
        if (pipeline is null)
        {
            return Problems.NotFound("Pipeline");
        }

        if (ETags.CheckIfMatch(http, pipeline) is { } precondition)
        {
            return precondition;
        }

        var validator = new RequestValidator();
        validator.Name("name", request.Name, required: false);
        var tables = request.Tables is null ? null : PipelineValidation.Tables(request.Tables, validator);
        PipelineValidation.LagThreshold(validator, request.LagThresholdSeconds);
        if (request.DestinationConnectionId is not null)
        {
            await CheckConnectionAsync(db, validator, "destination_connection_id", request.DestinationConnectionId, ConnectionKind.Destination, cancellationToken);
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var before = PipelineSpec.From(pipeline);
        if (request.Name is { } newName && newName.Trim() != pipeline.Name)
        {
            newName = newName.Trim();
            if (await db.Pipelines.AnyAsync(p => p.Name == newName && p.Id != id, cancellationToken))
            {
                return Problems.Conflict($"A pipeline named \"{newName}\" already exists.");
            }

            pipeline.Name = newName;
        }

        pipeline.DestinationConnectionId = request.DestinationConnectionId ?? pipeline.DestinationConnectionId;
        pipeline.Tables = tables ?? pipeline.Tables;
        pipeline.DeleteMode = request.DeleteMode ?? pipeline.DeleteMode;
        pipeline.SchemaChangePolicy = request.SchemaChangePolicy ?? pipeline.SchemaChangePolicy;
        pipeline.LagThresholdSeconds = request.LagThresholdSeconds ?? pipeline.LagThresholdSeconds;
        var after = PipelineSpec.From(pipeline);
        var changes = Describe(before, after);
        if (changes.Count > 0)
        {
            var now = clock.GetUtcNow();
            // A rename or a new lag threshold does not change what workers do; anything else is a new generation.
            var runtimeChange = changes.Any(c => c is not ("name" or "lag_threshold_seconds"));
            pipeline.UpdatedAt = now;
            pipeline.Version++;
            if (runtimeChange)
            {
                NewGeneration(db, pipeline, tenant.Actor.Display, now, $"Changed {string.Join(", ", changes)}.");
            }

            audit.Record("pipeline.updated", "pipeline", pipeline.Id, new JsonObject
            {
                ["changed"] = new JsonArray(changes.Select(c => (JsonNode)c).ToArray()),
                ["generation"] = pipeline.Generation,
            });
            await db.SaveChangesAsync(cancellationToken);
        }

        ETags.Set(http, pipeline);
        return TypedResults.Ok(await ResponseAsync(http, pipeline, cancellationToken));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(Guid id, ControlDbContext db, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.FirstOrDefaultAsync(p => p.Id == id, cancellationToken);
        if (pipeline is null)
        {
            return Problems.NotFound("Pipeline");
        }

        if (ETags.CheckIfMatch(http, pipeline) is { } precondition)
        {
            return precondition;
        }

        db.Pipelines.Remove(pipeline);
        audit.Record("pipeline.deleted", "pipeline", pipeline.Id, new JsonObject { ["name"] = pipeline.Name });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<PipelineResponse>, ProblemHttpResult>> SetDesiredStateAsync(
        Guid id, DesiredState state, ControlDbContext db, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.FirstOrDefaultAsync(p => p.Id == id, cancellationToken);
        if (pipeline is null)
        {
            return Problems.NotFound("Pipeline");
        }

        if (ETags.CheckIfMatch(http, pipeline) is { } precondition)
        {
            return precondition;
        }

        // Pausing a paused pipeline is a no-op success, so automation can retry freely.
        if (pipeline.DesiredState != state)
        {
            pipeline.DesiredState = state;
            pipeline.UpdatedAt = clock.GetUtcNow();
            pipeline.Version++;
            audit.Record(state == DesiredState.Paused ? "pipeline.paused" : "pipeline.resumed", "pipeline", pipeline.Id);
            await db.SaveChangesAsync(cancellationToken);
        }

        ETags.Set(http, pipeline);
        return TypedResults.Ok(await ResponseAsync(http, pipeline, cancellationToken));
    }

    private static async Task<Results<Accepted<IReadOnlyList<SnapshotRequestResponse>>, ValidationProblem, ProblemHttpResult>> ResnapshotAsync(
        Guid id, ResnapshotRequest? request, ControlDbContext db, TenantContext tenant, AuditLog audit, TimeProvider clock, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.FirstOrDefaultAsync(p => p.Id == id, cancellationToken);
        if (pipeline is null)
        {
            return Problems.NotFound("Pipeline");
        }

        var validator = new RequestValidator();
        var tables = PipelineValidation.Tables(request?.Tables, validator);
        if (tables is not null)
        {
            for (var i = 0; i < tables.Count; i++)
            {
                if (!pipeline.Tables.Any(t => t.Schema == tables[i].Schema && t.Name == tables[i].Name))
                {
                    validator.Add($"tables[{i}]", $"Table {tables[i].Schema}.{tables[i].Name} is not part of this pipeline.");
                }
            }
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var now = clock.GetUtcNow();
        var requests = tables!.Select(t => new SnapshotRequest
        {
            Id = Guid.CreateVersion7(now),
            TenantId = pipeline.TenantId,
            PipelineId = pipeline.Id,
            SchemaName = t.Schema,
            TableName = t.Name,
            RequestedAt = now,
            RequestedBy = tenant.Actor.Display,
        }).ToList();
        db.SnapshotRequests.AddRange(requests);

        // The requests travel in the spec: a new generation makes the worker that runs the pipeline restart it with them
        // (same placement and epoch, from its checkpoint).
        var names = string.Join(", ", tables!.Select(t => $"{t.Schema}.{t.Name}"));
        pipeline.UpdatedAt = now;
        pipeline.Version++;
        NewGeneration(db, pipeline, tenant.Actor.Display, now, $"Re-snapshot requested: {names}.");
        audit.Record("pipeline.resnapshot_requested", "pipeline", pipeline.Id, new JsonObject
        {
            ["tables"] = new JsonArray(tables!.Select(t => (JsonNode)$"{t.Schema}.{t.Name}").ToArray()),
            ["requests"] = new JsonArray(requests.Select(r => (JsonNode)r.Id.ToString()).ToArray()),
            ["generation"] = pipeline.Generation,
        });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Accepted(
            $"/v1/pipelines/{id}/resnapshots",
            (IReadOnlyList<SnapshotRequestResponse>)requests.Select(SnapshotRequestResponse.From).ToList());
    }

    private static async Task<Results<Ok<Page<SnapshotRequestResponse>>, ValidationProblem, ProblemHttpResult>> ResnapshotsAsync(
        Guid id,
        ControlDbContext db,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        CancellationToken cancellationToken)
    {
        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        if (!await db.Pipelines.AnyAsync(p => p.Id == id, cancellationToken))
        {
            return Problems.NotFound("Pipeline");
        }

        return TypedResults.Ok(await page.ListAsync(db.SnapshotRequests.AsNoTracking().Where(r => r.PipelineId == id), r => r.Id, SnapshotRequestResponse.From, cancellationToken));
    }

    private static async Task<Results<Ok<Page<RevisionResponse>>, ValidationProblem, ProblemHttpResult>> RevisionsAsync(
        Guid id,
        ControlDbContext db,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(pageSize, pageToken, 1, out var page, out var problem))
        {
            return problem!;
        }

        if (!await db.Pipelines.AnyAsync(p => p.Id == id, cancellationToken))
        {
            return Problems.NotFound("Pipeline");
        }

        long? before = page.After is { } parts ? long.TryParse(parts[0], out var g) ? g : -1 : null;
        var query = db.PipelineRevisions.AsNoTracking().Where(r => r.PipelineId == id);
        if (before is { } b)
        {
            query = query.Where(r => r.Generation < b);
        }

        var rows = await query.OrderByDescending(r => r.Generation).Take(page.Size + 1).ToListAsync(cancellationToken);
        return TypedResults.Ok(page.ToPage(rows, r => ToResponse(r, includeSpec: false), r => [r.Generation.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
    }

    private static async Task<Results<Ok<RevisionResponse>, ProblemHttpResult>> RevisionAsync(Guid id, long generation, ControlDbContext db, CancellationToken cancellationToken)
    {
        var revision = await db.PipelineRevisions.AsNoTracking().FirstOrDefaultAsync(r => r.PipelineId == id && r.Generation == generation, cancellationToken);
        return revision is null ? Problems.NotFound("Revision") : TypedResults.Ok(ToResponse(revision, includeSpec: true));
    }

    private static async Task<PipelineResponse> ResponseAsync(HttpContext http, Pipeline pipeline, CancellationToken cancellationToken)
    {
        var runtimes = await PipelineRuntimes.ReadAsync(http, [pipeline], cancellationToken);
        if (runtimes is not null)
        {
            ConditionalGetFilter.MarkVolatile(http);
        }

        return PipelineResponse.From(pipeline, runtimes?.Invoke(pipeline));
    }

    private static RevisionResponse ToResponse(PipelineRevision r, bool includeSpec) =>
        new(r.Generation, r.Change, r.CreatedBy, r.CreatedAt, includeSpec ? JsonNode.Parse(r.Spec) : null);

    /// <summary>
    /// Starts a new generation of the pipeline's spec: workers running an older one restart the pipeline with the new
    /// spec. Every generation bump goes through here, with what changed.
    /// </summary>
    internal static void NewGeneration(ControlDbContext db, Pipeline pipeline, string createdBy, DateTimeOffset now, string change)
    {
        pipeline.Generation++;
        AddRevision(db, pipeline, createdBy, now, change);
    }

    /// <summary>Records the pipeline's current spec as the revision of its generation.</summary>
    internal static void AddRevision(ControlDbContext db, Pipeline pipeline, string createdBy, DateTimeOffset now, string change) =>
        db.PipelineRevisions.Add(new PipelineRevision
        {
            Id = Guid.CreateVersion7(now),
            TenantId = pipeline.TenantId,
            PipelineId = pipeline.Id,
            Generation = pipeline.Generation,
            Spec = JsonSerializer.Serialize(PipelineSpec.From(pipeline), StorageJson.Options),
            Change = change,
            CreatedBy = createdBy,
            CreatedAt = now,
        });

    private static List<string> Describe(PipelineSpec before, PipelineSpec after)
    {
        var changes = new List<string>();
        if (before.Name != after.Name)
        {
            changes.Add("name");
        }

        if (before.DestinationConnectionId != after.DestinationConnectionId)
        {
            changes.Add("destination_connection_id");
        }

        if (JsonSerializer.Serialize(before.Tables, StorageJson.Options) != JsonSerializer.Serialize(after.Tables, StorageJson.Options))
        {
            changes.Add("tables");
        }

        if (before.DeleteMode != after.DeleteMode)
        {
            changes.Add("delete_mode");
        }

        if (before.SchemaChangePolicy != after.SchemaChangePolicy)
        {
            changes.Add("schema_change_policy");
        }

        if (before.LagThresholdSeconds != after.LagThresholdSeconds)
        {
            changes.Add("lag_threshold_seconds");
        }

        return changes;
    }

    private static async Task CheckConnectionAsync(ControlDbContext db, RequestValidator validator, string field, Guid? id, ConnectionKind kind, CancellationToken cancellationToken)
    {
        if (id is null)
        {
            return;
        }

        // The tenant filter hides other tenants' connections: they are reported exactly like ids that do not exist.
        var connection = await db.Connections.AsNoTracking().Where(c => c.Id == id).Select(c => new { c.Kind }).FirstOrDefaultAsync(cancellationToken);
        if (connection is null)
        {
            validator.Add(field, "No connection with this id exists in this tenant.");
        }
        else if (connection.Kind != kind)
        {
            validator.Add(field, $"The connection is a {ApiJson.EnumValue(connection.Kind)}, not a {ApiJson.EnumValue(kind)}.");
        }
    }
}
