using System.Globalization;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Audit;

internal sealed record AuditEventResponse(
    Guid Id, DateTimeOffset OccurredAt, string ActorType, string ActorId, string ActorName, string Action, string ResourceType, string? ResourceId, string? IpAddress, JsonObject? Details);

internal static class AuditApi
{
    public static RouteGroupBuilder MapAuditApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/audit-events", ListAsync).Reads(TenantRole.Admin).WithTags("Audit").WithSummary("Lists audit events, newest first; filter by actor, action, resource and time.");
        return v1;
    }

    private static async Task<Results<Ok<Page<AuditEventResponse>>, ValidationProblem>> ListAsync(
        ControlDbContext db,
        [FromQuery(Name = "actor")] string? actor,
        [FromQuery(Name = "action")] string? action,
        [FromQuery(Name = "resource_type")] string? resourceType,
        [FromQuery(Name = "resource_id")] string? resourceId,
        [FromQuery(Name = "from")] DateTimeOffset? from,
        [FromQuery(Name = "to")] DateTimeOffset? to,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(pageSize, pageToken, 2, out var page, out var problem))
        {
            return problem!;
        }

        var validator = new RequestValidator();
        if (from is not null && to is not null && from > to)
        {
            validator.Add("from", "Must not be after to.");
        }

        foreach (var (name, value) in new[] { ("actor", actor), ("action", action), ("resource_type", resourceType), ("resource_id", resourceId) })
        {
            if (value is { Length: > 300 })
            {
                validator.Add(name, "Must be at most 300 characters.");
            }
        }

        DateTimeOffset afterTime = default;
        var afterId = Guid.Empty;
        if (page.After is { } cursor
            && (!DateTimeOffset.TryParse(cursor[0], CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out afterTime) || !Guid.TryParse(cursor[1], out afterId)))
        {
            validator.Add("page_token", "Not a page token from this list.");
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var query = db.AuditEvents.AsNoTracking();
        if (!string.IsNullOrEmpty(actor))
        {
            query = query.Where(e => e.ActorId == actor || e.ActorName == actor);
        }

        if (!string.IsNullOrEmpty(action))
        {
            // "pipeline." matches every pipeline action.
            query = action.EndsWith('.') ? query.Where(e => e.Action.StartsWith(action)) : query.Where(e => e.Action == action);
        }

        if (!string.IsNullOrEmpty(resourceType))
        {
            query = query.Where(e => e.ResourceType == resourceType);
        }

        if (!string.IsNullOrEmpty(resourceId))
        {
            query = query.Where(e => e.ResourceId == resourceId);
        }

        if (from is { } f)
        {
            query = query.Where(e => e.OccurredAt >= f);
        }

        if (to is { } t)
        {
            query = query.Where(e => e.OccurredAt < t);
        }

        // Newest first; the id breaks ties between events of the same microsecond.
        if (page.After is not null)
        {
            query = query.Where(e => e.OccurredAt < afterTime || (e.OccurredAt == afterTime && e.Id < afterId));
        }

        var rows = await query.OrderByDescending(e => e.OccurredAt).ThenByDescending(e => e.Id).Take(page.Size + 1).ToListAsync(cancellationToken);
        return TypedResults.Ok(page.ToPage(
            rows,
            e => new AuditEventResponse(e.Id, e.OccurredAt, e.ActorType, e.ActorId, e.ActorName, e.Action, e.ResourceType, e.ResourceId, e.IpAddress, e.Details),
            e => [e.OccurredAt.ToString("O", CultureInfo.InvariantCulture), e.Id.ToString()]));
    }
}
