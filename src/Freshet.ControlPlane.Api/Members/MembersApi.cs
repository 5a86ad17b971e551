using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Members;

internal sealed record AddMemberRequest(string? Email, TenantRole? Role, string? DisplayName, string? InitialPassword);

internal sealed record UpdateMemberRequest(TenantRole? Role);

internal sealed record MemberResponse(Guid UserId, string Email, string DisplayName, TenantRole Role, DateTimeOffset CreatedAt, int Version);

/// <summary>When a new account was made for the member, its first password is returned once.</summary>
internal sealed record AddedMemberResponse(Guid UserId, string Email, string DisplayName, TenantRole Role, DateTimeOffset CreatedAt, bool AccountCreated, string? InitialPassword);

internal static class MembersApi
{
    public static RouteGroupBuilder MapMembersApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/members").WithTags("Members");
        group.MapGet("/", ListAsync).Reads().WithSummary("Lists the tenant's members.");
        group.MapPost("/", AddAsync).Writes(TenantRole.Admin).WithSummary("Adds a member, creating the account when the e-mail is new.");
        group.MapGet("/{userId:guid}", GetAsync).Reads().WithSummary("Reads a member.");
        group.MapPatch("/{userId:guid}", UpdateAsync).Writes(TenantRole.Admin).WithSummary("Changes a member's role; honours If-Match.");
        group.MapDelete("/{userId:guid}", RemoveAsync).Writes(TenantRole.Admin).WithSummary("Removes a member from the tenant.");
        return group;
    }

    private static MemberResponse ToResponse(Membership m) => new(m.UserId, m.User!.Email!, m.User.DisplayName, m.Role, m.CreatedAt, m.Version);

    private static async Task<Results<Ok<Page<MemberResponse>>, ValidationProblem>> ListAsync(
        ControlDbContext db, TenantContext tenant, [FromQuery(Name = "page_size")] int? pageSize, [FromQuery(Name = "page_token")] string? pageToken, CancellationToken cancellationToken)
    {
        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        return TypedResults.Ok(await page.ListAsync(db.Memberships.AsNoTracking().Include(m => m.User), m => m.UserId, ToResponse, cancellationToken));
    }

    private static async Task<Results<Ok<MemberResponse>, ProblemHttpResult>> GetAsync(Guid userId, ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var membership = await db.Memberships.AsNoTracking().Include(m => m.User).FirstOrDefaultAsync(m => m.UserId == userId, cancellationToken);
        if (membership is null)
        {
            return Problems.NotFound("Member");
        }

        ETags.Set(http, membership);
        return TypedResults.Ok(ToResponse(membership));
    }

    private static async Task<Results<Created<AddedMemberResponse>, ValidationProblem, ProblemHttpResult>> AddAsync(
        AddMemberRequest? request, ControlDbContext db, TenantContext tenant, UserManager<ApplicationUser> users, AuditLog audit, TimeProvider clock, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        validator.Email("email", request?.Email);
        validator.Required("role", request?.Role);
        validator.Name("display_name", request?.DisplayName, required: false);
        if (request?.Role == TenantRole.Owner && tenant.Role != TenantRole.Owner)
        {
            validator.Add("role", "Only an owner can make another owner.");
        }

        if (request?.InitialPassword is { Length: > 1024 })
        {
            validator.Add("initial_password", "Must be at most 1024 characters.");
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var email = request!.Email!.Trim();
        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var user = await users.FindByEmailAsync(email);
        string? initialPassword = null;
        var now = clock.GetUtcNow();
        if (user is null)
        {
            initialPassword = request.InitialPassword ?? GeneratePassword();
            user = new ApplicationUser { Id = Guid.CreateVersion7(now), UserName = email, Email = email, EmailConfirmed = false, DisplayName = request.DisplayName?.Trim() ?? email, CreatedAt = now };
            var created = await users.CreateAsync(user, initialPassword);
            if (!created.Succeeded)
            {
                return Problems.Validation(new Dictionary<string, string[]> { ["initial_password"] = created.Errors.Select(e => e.Description).ToArray() });
            }
        }

        var tenantId = tenant.RequireTenantId();
        if (await db.Memberships.AnyAsync(m => m.UserId == user.Id, cancellationToken))
        {
            return Problems.Conflict($"{email} is already a member of this tenant.");
        }

        var membership = new Membership { TenantId = tenantId, UserId = user.Id, Role = request.Role!.Value, CreatedAt = now, UpdatedAt = now, Version = 1 };
        db.Memberships.Add(membership);
        audit.Record("member.added", "member", user.Id, new JsonObject { ["email"] = email, ["role"] = ApiJson.EnumValue(membership.Role), ["account_created"] = initialPassword is not null });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.Created(
            $"/v1/members/{user.Id}",
            new AddedMemberResponse(user.Id, email, user.DisplayName, membership.Role, membership.CreatedAt, initialPassword is not null, initialPassword));
    }

    private static async Task<Results<Ok<MemberResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        Guid userId, UpdateMemberRequest? request, ControlDbContext db, TenantContext tenant, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        var membership = await db.Memberships.Include(m => m.User).FirstOrDefaultAsync(m => m.UserId == userId, cancellationToken);
        if (membership is null)
        {
            return Problems.NotFound("Member");
        }

        var validator = new RequestValidator();
        validator.Required("role", request?.Role);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        if (ETags.CheckIfMatch(http, membership) is { } precondition)
        {
            return precondition;
        }

        var role = request!.Role!.Value;
        if ((role == TenantRole.Owner || membership.Role == TenantRole.Owner) && tenant.Role != TenantRole.Owner)
        {
            return Problems.Forbidden("Only an owner can grant or take away the owner role.");
        }

        if (membership.Role == TenantRole.Owner && role != TenantRole.Owner && await IsLastOwnerAsync(db, userId, cancellationToken))
        {
            return Problems.Conflict("This is the tenant's last owner; make someone else owner first.");
        }

        if (membership.Role != role)
        {
            audit.Record("member.role_changed", "member", userId, new JsonObject { ["from"] = ApiJson.EnumValue(membership.Role), ["to"] = ApiJson.EnumValue(role) });
            membership.Role = role;
            membership.UpdatedAt = clock.GetUtcNow();
            membership.Version++;
            await db.SaveChangesAsync(cancellationToken);
        }

        ETags.Set(http, membership);
        return TypedResults.Ok(ToResponse(membership));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RemoveAsync(
        Guid userId, ControlDbContext db, TenantContext tenant, AuditLog audit, CancellationToken cancellationToken)
    {
        var membership = await db.Memberships.FirstOrDefaultAsync(m => m.UserId == userId, cancellationToken);
        if (membership is null)
        {
            return Problems.NotFound("Member");
        }

        if (membership.Role == TenantRole.Owner && tenant.Role != TenantRole.Owner)
        {
            return Problems.Forbidden("Only an owner can remove an owner.");
        }

        if (membership.Role == TenantRole.Owner && await IsLastOwnerAsync(db, userId, cancellationToken))
        {
            return Problems.Conflict("This is the tenant's last owner; make someone else owner first.");
        }

        db.Memberships.Remove(membership);
        audit.Record("member.removed", "member", userId);
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<bool> IsLastOwnerAsync(ControlDbContext db, Guid userId, CancellationToken cancellationToken) =>
        !await db.Memberships.AnyAsync(m => m.Role == TenantRole.Owner && m.UserId != userId, cancellationToken);

    /// <summary>Meets Identity's default rules (upper, lower, digit, symbol) with 120 bits of randomness.</summary>
    public static string GeneratePassword() =>
        "Fr-" + System.Buffers.Text.Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(15)) + "9a";
}
