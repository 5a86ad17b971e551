using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Connections;

internal static class ConnectionsApi
{
    public static RouteGroupBuilder MapConnectionsApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/connection-types", ListTypes).Reads().WithTags("Connections").WithSummary("Lists connection types with their settings and secrets.");

        var group = v1.MapGroup("/connections").WithTags("Connections");
        group.MapGet("/", ListAsync).Reads().WithSummary("Lists connections.");
        group.MapPost("/", CreateAsync).Writes(TenantRole.Editor).WithSummary("Creates a connection; secrets are write-only.");
        group.MapGet("/{id:guid}", GetAsync).Reads().WithSummary("Reads a connection (secrets show only whether they are set).");
        group.MapPatch("/{id:guid}", UpdateAsync).Writes(TenantRole.Editor).WithSummary("Changes a connection; honours If-Match.");
        group.MapDelete("/{id:guid}", DeleteAsync).Writes(TenantRole.Editor).WithSummary("Deletes a connection no pipeline uses.");
        group.MapPost("/{id:guid}/test", TestAsync).Writes(TenantRole.Editor).WithSummary("Reaches the database and reports what works and what to fix.");
        group.MapGet("/{id:guid}/schema", SchemaAsync).Reads().WithSummary("Lists schemas, tables, columns and primary keys.");
        return group;
    }

    private static Ok<IReadOnlyList<ConnectionTypeResponse>> ListTypes() =>
        TypedResults.Ok<IReadOnlyList<ConnectionTypeResponse>>(ConnectionTypes.All.Select(s => new ConnectionTypeResponse(
            s.Type,
            s.DisplayName,
            s.Kinds,
            s.Settings.Select(f => new SettingDescription(
                f.Name,
                f.Kind.ToString().ToLowerInvariant(),
                f.Required,
                f.Description,
                f.Default,
                f.AllowedValues,
                f.Kind == SettingKind.Integer && f.Min != long.MinValue ? f.Min : null,
                f.Kind == SettingKind.Integer && f.Max != long.MaxValue ? f.Max : null,
                f.Unit,
                f.OnlyFor,
                f.Pattern?.Regex.ToString(),
                f.Pattern?.Message)).ToList(),
            s.Secrets.Select(f => new SecretDescription(f.Name, f.Required, f.Description)).ToList())).ToList());

    private static async Task<Results<Ok<Page<ConnectionResponse>>, ValidationProblem>> ListAsync(
        ControlDbContext db,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        [FromQuery(Name = "kind")] string? kind,
        CancellationToken cancellationToken)
    {
        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        var query = db.Connections.AsNoTracking();
        if (kind is not null)
        {
            if (!ApiJson.TryParseEnum<ConnectionKind>(kind, out var k))
            {
                return Problems.Validation(new Dictionary<string, string[]> { ["kind"] = [$"Allowed values: {string.Join(", ", ApiJson.EnumValues<ConnectionKind>())}."] });
            }

            query = query.Where(c => c.Kind == k);
        }

        return TypedResults.Ok(await page.ListAsync(query, c => c.Id, ConnectionResponse.From, cancellationToken));
    }

    private static async Task<Results<Ok<ConnectionResponse>, ProblemHttpResult>> GetAsync(Guid id, ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var connection = await db.Connections.AsNoTracking().FirstOrDefaultAsync(c => c.Id == id, cancellationToken);
        if (connection is null)
        {
            return Problems.NotFound("Connection");
        }

        ETags.Set(http, connection);
        return TypedResults.Ok(ConnectionResponse.From(connection));
    }

    private static async Task<Results<Created<ConnectionResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        CreateConnectionRequest? request, ControlDbContext db, TenantContext tenant, ConnectionSecrets secrets, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        if (request is null)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["$"] = ["A JSON body is required."] });
        }

        validator.Name("name", request.Name);
        validator.Required("kind", request.Kind);
        validator.Required("type", request.Type);
        JsonObject? settings = null;
        if (request.Type is { } type)
        {
            var schema = ConnectionTypes.For(type);
            if (request.Kind is { } kind && !schema.Kinds.Contains(kind))
            {
                validator.Add("kind", $"{schema.DisplayName} can only be a {string.Join(" or ", schema.Kinds.Select(ApiJson.EnumValue))}.");
            }

            settings = ConnectionTypes.ValidateSettings(schema, request.Kind, null, request.Settings, validator);
            ConnectionTypes.ValidateSecrets(schema, request.Secrets, new HashSet<string>(), validator);
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var name = request.Name!.Trim();
        if (await db.Connections.AnyAsync(c => c.Name == name, cancellationToken))
        {
            return Problems.Conflict($"A connection named \"{name}\" already exists.");
        }

        var now = clock.GetUtcNow();
        var connection = new Connection
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenant.RequireTenantId(),
            Name = name,
            Kind = request.Kind!.Value,
            Type = request.Type!.Value,
            Settings = settings!,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        secrets.Apply(connection, request.Secrets);
        db.Connections.Add(connection);
        audit.Record("connection.created", "connection", connection.Id, new JsonObject
        {
            ["name"] = connection.Name,
            ["type"] = ApiJson.EnumValue(connection.Type),
            ["kind"] = ApiJson.EnumValue(connection.Kind),
            ["secrets_set"] = new JsonArray(connection.SecretNames.Select(n => (JsonNode)n).ToArray()),
        });
        await db.SaveChangesAsync(cancellationToken);
        ETags.Set(http, connection);
        return TypedResults.Created($"/v1/connections/{connection.Id}", ConnectionResponse.From(connection));
    }

    private static async Task<Results<Ok<ConnectionResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdateConnectionRequest? request, ControlDbContext db, ConnectionSecrets secrets, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["$"] = ["A JSON body is required."] });
        }

        var connection = await db.Connections.FirstOrDefaultAsync(c => c.Id == id, cancellationToken);
        if (connection is null)
        {
            return Problems.NotFound("Connection");
        }

        if (ETags.CheckIfMatch(http, connection) is { } precondition)
        {
            return precondition;
        }

        var validator = new RequestValidator();
        validator.Name("name", request.Name, required: false);
        var schema = ConnectionTypes.For(connection.Type);
        var settings = request.Settings is null ? connection.Settings : ConnectionTypes.ValidateSettings(schema, connection.Kind, connection.Settings, request.Settings, validator);
        ConnectionTypes.ValidateSecrets(schema, request.Secrets, connection.SecretNames.ToHashSet(StringComparer.Ordinal), validator);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var changed = new JsonArray();
        if (request.Name is { } newName && newName.Trim() != connection.Name)
        {
            newName = newName.Trim();
            if (await db.Connections.AnyAsync(c => c.Name == newName && c.Id != id, cancellationToken))
            {
                return Problems.Conflict($"A connection named \"{newName}\" already exists.");
            }

            connection.Name = newName;
            changed.Add("name");
        }

        if (!JsonNode.DeepEquals(settings, connection.Settings))
        {
            connection.Settings = settings!;
            changed.Add("settings");
        }

        if (request.Secrets is { Count: > 0 })
        {
            secrets.Apply(connection, request.Secrets);
            foreach (var name in request.Secrets.Keys)
            {
                changed.Add($"secrets.{name}");
            }
        }

        if (changed.Count > 0)
        {
            connection.UpdatedAt = clock.GetUtcNow();
            connection.Version++;
            audit.Record("connection.updated", "connection", connection.Id, new JsonObject { ["changed"] = changed });
            await db.SaveChangesAsync(cancellationToken);
        }

        ETags.Set(http, connection);
        return TypedResults.Ok(ConnectionResponse.From(connection));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(Guid id, ControlDbContext db, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        var connection = await db.Connections.FirstOrDefaultAsync(c => c.Id == id, cancellationToken);
        if (connection is null)
        {
            return Problems.NotFound("Connection");
        }

        if (ETags.CheckIfMatch(http, connection) is { } precondition)
        {
            return precondition;
        }

        var users = await db.Pipelines.AsNoTracking()
            .Where(p => p.SourceConnectionId == id || p.DestinationConnectionId == id)
            .OrderBy(p => p.Name)
            .Select(p => new { p.Id, p.Name })
            .Take(20)
            .ToListAsync(cancellationToken);
        if (users.Count > 0)
        {
            return Problems.Conflict(
                $"The connection is used by pipeline{(users.Count > 1 ? "s" : "")} {string.Join(", ", users.Select(u => $"\"{u.Name}\""))}. Delete or change {(users.Count > 1 ? "them" : "it")} first.",
                new Dictionary<string, object?> { ["pipelines"] = users.Select(u => new { id = u.Id, name = u.Name }).ToList() });
        }

        db.Connections.Remove(connection);
        audit.Record("connection.deleted", "connection", connection.Id, new JsonObject { ["name"] = connection.Name });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<ConnectionTestResponse>, ProblemHttpResult>> TestAsync(
        Guid id, ControlDbContext db, ConnectionTester tester, AuditLog audit, CancellationToken cancellationToken)
    {
        var connection = await db.Connections.AsNoTracking().FirstOrDefaultAsync(c => c.Id == id, cancellationToken);
        if (connection is null)
        {
            return Problems.NotFound("Connection");
        }

        var result = await tester.TestAsync(connection, cancellationToken);
        audit.Record("connection.tested", "connection", connection.Id, new JsonObject { ["ok"] = result.Ok });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(result);
    }

    private static async Task<Results<Ok<SchemaResponse>, ProblemHttpResult>> SchemaAsync(
        Guid id, ControlDbContext db, SchemaBrowser browser, CancellationToken cancellationToken)
    {
        var connection = await db.Connections.AsNoTracking().FirstOrDefaultAsync(c => c.Id == id, cancellationToken);
        if (connection is null)
        {
            return Problems.NotFound("Connection");
        }

        return await browser.BrowseAsync(connection, cancellationToken);
    }
}
