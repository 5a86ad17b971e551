using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Members;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Tenants;

internal sealed record CreateTenantRequest(string? Slug, string? Name, string? OwnerEmail, string? OwnerPassword);

internal sealed record UpdateTenantRequest(string? Name);

internal sealed record TenantResponse(Guid Id, string Slug, string Name, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt, int Version)
{
    public static TenantResponse From(Tenant t) => new(t.Id, t.Slug, t.Name, t.CreatedAt, t.UpdatedAt, t.Version);
}

internal sealed record CreatedTenantResponse(TenantResponse Tenant, Guid OwnerUserId, string OwnerEmail, bool OwnerAccountCreated, string? OwnerInitialPassword);

internal sealed record CurrentTenantResponse(Guid Id, string Slug, string Name, TenantRole? Role, bool SupportAccess, DateTimeOffset CreatedAt, int Version);

internal sealed record MeResponse(string ActorType, string Id, string Name, PlatformRole PlatformRole, IReadOnlyList<MembershipSummary> Memberships);

internal sealed record MembershipSummary(Guid TenantId, string Slug, string Name, TenantRole Role);

internal static class TenantsApi
{
    /// <summary>The tenant the request acts in.</summary>
    public static RouteGroupBuilder MapCurrentTenantApi(this RouteGroupBuilder v1)
    {
        v1.MapGet("/tenant", GetCurrentAsync).Reads().WithTags("Tenant").WithSummary("Reads the tenant this request acts in.");
        v1.MapPatch("/tenant", UpdateCurrentAsync).Writes(TenantRole.Owner).WithTags("Tenant").WithSummary("Renames the tenant; honours If-Match.");
        return v1;
    }

    /// <summary>Platform administration of tenants.</summary>
    public static RouteGroupBuilder MapTenantsApi(this RouteGroupBuilder platform)
    {
        var group = platform.MapGroup("/tenants").WithTags("Tenants (platform)");
        group.MapGet("/", ListAsync).PlatformReads().WithSummary("Lists tenants (platform staff).");
        group.MapPost("/", CreateAsync).PlatformWrites().WithSummary("Creates a tenant and its first owner (platform admin).");
        group.MapGet("/{id:guid}", GetAsync).PlatformReads().WithSummary("Reads a tenant (platform staff).");
        group.MapPatch("/{id:guid}", UpdateAsync).PlatformWrites().WithSummary("Renames a tenant (platform admin).");
        return group;
    }

    public static async Task<Results<Ok<MeResponse>, ProblemHttpResult>> GetMeAsync(HttpContext http, CallerResolver callers, TenantContext tenant, ControlDbContext db, CancellationToken cancellationToken)
    {
        var caller = await callers.ResolveAsync(http, cancellationToken);
        if (caller is null)
        {
            return TypedResults.Problem(title: "Unauthorized", detail: "The token's client or user no longer exists or was revoked.", statusCode: StatusCodes.Status401Unauthorized);
        }

        using var system = tenant.EnterSystemScope();
        List<MembershipSummary> memberships;
        if (caller.UserId is { } userId)
        {
            var rows = await (from m in db.Memberships.AsNoTracking()
                              join t in db.Tenants.AsNoTracking() on m.TenantId equals t.Id
                              where m.UserId == userId
                              orderby t.Slug
                              select new { t.Id, t.Slug, t.Name, m.Role }).ToListAsync(cancellationToken);
            memberships = rows.Select(r => new MembershipSummary(r.Id, r.Slug, r.Name, r.Role)).ToList();
        }
        else if (caller.ClientTenantId is { } clientTenant)
        {
            memberships = await db.Tenants.AsNoTracking().Where(t => t.Id == clientTenant)
                .Select(t => new MembershipSummary(t.Id, t.Slug, t.Name, caller.ClientRole ?? TenantRole.Viewer)).ToListAsync(cancellationToken);
        }
        else
        {
            memberships = [];
        }

        return TypedResults.Ok(new MeResponse(caller.Actor.Type, caller.Actor.Id, caller.Actor.Name, caller.PlatformRole, memberships));
    }

    private static async Task<Results<Ok<CurrentTenantResponse>, ProblemHttpResult>> GetCurrentAsync(ControlDbContext db, TenantContext tenant, HttpContext http, CancellationToken cancellationToken)
    {
        var id = tenant.RequireTenantId();
        using var system = tenant.EnterSystemScope();
        var row = await db.Tenants.AsNoTracking().FirstAsync(t => t.Id == id, cancellationToken);
        ETags.Set(http, row);
        return TypedResults.Ok(new CurrentTenantResponse(row.Id, row.Slug, row.Name, tenant.Role, tenant.IsSupportAccess, row.CreatedAt, row.Version));
    }

    private static async Task<Results<Ok<CurrentTenantResponse>, ValidationProblem, ProblemHttpResult>> UpdateCurrentAsync(
        UpdateTenantRequest? request, ControlDbContext db, TenantContext tenant, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        validator.Name("name", request?.Name);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var id = tenant.RequireTenantId();
        Tenant row;
        using (tenant.EnterSystemScope())
        {
            row = await db.Tenants.FirstAsync(t => t.Id == id, cancellationToken);
        }

        if (ETags.CheckIfMatch(http, row) is { } precondition)
        {
            return precondition;
        }

        if (row.Name != request!.Name!.Trim())
        {
            audit.Record("tenant.renamed", "tenant", row.Id, new JsonObject { ["from"] = row.Name, ["to"] = request.Name.Trim() });
            row.Name = request.Name.Trim();
            row.UpdatedAt = clock.GetUtcNow();
            row.Version++;
            await db.SaveChangesAsync(cancellationToken);
        }

        ETags.Set(http, row);
        return TypedResults.Ok(new CurrentTenantResponse(row.Id, row.Slug, row.Name, tenant.Role, tenant.IsSupportAccess, row.CreatedAt, row.Version));
    }

    private static async Task<Results<Ok<Page<TenantResponse>>, ValidationProblem>> ListAsync(
        ControlDbContext db, [FromQuery(Name = "page_size")] int? pageSize, [FromQuery(Name = "page_token")] string? pageToken, CancellationToken cancellationToken)
    {
        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        return TypedResults.Ok(await page.ListAsync(db.Tenants.AsNoTracking(), t => t.Id, TenantResponse.From, cancellationToken));
    }

    private static async Task<Results<Ok<TenantResponse>, ProblemHttpResult>> GetAsync(Guid id, ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var row = await db.Tenants.AsNoTracking().FirstOrDefaultAsync(t => t.Id == id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound("Tenant");
        }

        ETags.Set(http, row);
        return TypedResults.Ok(TenantResponse.From(row));
    }

    private static async Task<Results<Created<CreatedTenantResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        CreateTenantRequest? request, TenantProvisioner provisioner, ControlDbContext db, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        validator.Slug("slug", request?.Slug);
        validator.Name("name", request?.Name);
        validator.Email("owner_email", request?.OwnerEmail);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        if (await db.Tenants.AnyAsync(t => t.Slug == request!.Slug, cancellationToken))
        {
            return Problems.Conflict($"The slug \"{request!.Slug}\" is taken.");
        }

        var result = await provisioner.CreateAsync(request!.Slug!, request.Name!.Trim(), request.OwnerEmail!.Trim(), request.OwnerPassword, cancellationToken);
        return result.Match<Results<Created<CreatedTenantResponse>, ValidationProblem, ProblemHttpResult>>(
            created => TypedResults.Created($"/v1/tenants/{created.Tenant.Id}", created),
            errors => Problems.Validation(errors));
    }

    private static async Task<Results<Ok<TenantResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdateTenantRequest? request, ControlDbContext db, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        validator.Name("name", request?.Name);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var row = await db.Tenants.FirstOrDefaultAsync(t => t.Id == id, cancellationToken);
        if (row is null)
        {
            return Problems.NotFound("Tenant");
        }

        if (ETags.CheckIfMatch(http, row) is { } precondition)
        {
            return precondition;
        }

        if (row.Name != request!.Name!.Trim())
        {
            audit.Record("tenant.renamed", "tenant", row.Id, new JsonObject { ["from"] = row.Name, ["to"] = request.Name.Trim() }, tenantId: row.Id);
            row.Name = request.Name.Trim();
            row.UpdatedAt = clock.GetUtcNow();
            row.Version++;
            await db.SaveChangesAsync(cancellationToken);
        }

        ETags.Set(http, row);
        return TypedResults.Ok(TenantResponse.From(row));
    }
}

/// <summary>Creates a tenant with its first owner (used by the platform API and by seeding).</summary>
internal sealed class TenantProvisioner(ControlDbContext db, UserManager<ApplicationUser> users, AuditLog audit, TimeProvider clock)
{
    public async Task<OneOf<CreatedTenantResponse, Dictionary<string, string[]>>> CreateAsync(
        string slug, string name, string ownerEmail, string? ownerPassword, CancellationToken cancellationToken)
    {
        var now = clock.GetUtcNow();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var tenant = new Tenant { Id = Guid.CreateVersion7(now), Slug = slug, Name = name, CreatedAt = now, UpdatedAt = now, Version = 1 };
        db.Tenants.Add(tenant);
        var owner = await users.FindByEmailAsync(ownerEmail);
        string? initialPassword = null;
        if (owner is null)
        {
            initialPassword = ownerPassword ?? MembersApi.GeneratePassword();
            owner = new ApplicationUser { Id = Guid.CreateVersion7(now), UserName = ownerEmail, Email = ownerEmail, DisplayName = ownerEmail, CreatedAt = now };
            var created = await users.CreateAsync(owner, initialPassword);
            if (!created.Succeeded)
            {
                return new Dictionary<string, string[]> { ["owner_password"] = created.Errors.Select(e => e.Description).ToArray() };
            }
        }

        db.Memberships.Add(new Membership { TenantId = tenant.Id, UserId = owner.Id, Role = TenantRole.Owner, CreatedAt = now, UpdatedAt = now, Version = 1 });
        audit.Record("tenant.created", "tenant", tenant.Id, new JsonObject { ["slug"] = slug, ["owner"] = ownerEmail }, tenantId: tenant.Id);
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return new CreatedTenantResponse(TenantResponse.From(tenant), owner.Id, ownerEmail, initialPassword is not null, initialPassword);
    }
}

/// <summary>A value that is one of two things, for results that are either a success or field errors.</summary>
internal readonly struct OneOf<TFirst, TSecond>
{
    private readonly TFirst? _first;
    private readonly TSecond? _second;
    private readonly bool _isFirst;

    private OneOf(TFirst? first, TSecond? second, bool isFirst)
    {
        _first = first;
        _second = second;
        _isFirst = isFirst;
    }

    public static implicit operator OneOf<TFirst, TSecond>(TFirst value) => new(value, default, true);

    public static implicit operator OneOf<TFirst, TSecond>(TSecond value) => new(default, value, false);

    public TResult Match<TResult>(Func<TFirst, TResult> first, Func<TSecond, TResult> second) => _isFirst ? first(_first!) : second(_second!);
}
