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

namespace Freshet.ControlPlane.Api.ApiClients;

internal sealed record CreateApiClientRequest(string? Name, TenantRole? Role);

internal sealed record ApiClientResponse(Guid Id, string Name, string ClientId, TenantRole? Role, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset SecretRotatedAt, DateTimeOffset? RevokedAt)
{
    public static ApiClientResponse From(ApiClient c) => new(c.Id, c.Name, c.ClientId, c.Role, c.CreatedAt, c.CreatedBy, c.SecretRotatedAt, c.RevokedAt);
}

/// <summary>The only response that ever carries a client secret: store it now, it is not shown again.</summary>
internal sealed record ApiClientWithSecretResponse(Guid Id, string Name, string ClientId, string ClientSecret, TenantRole? Role, DateTimeOffset CreatedAt, string TokenUrl);

internal static class ApiClientsApi
{
    public static RouteGroupBuilder MapApiClientsApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/api-clients").WithTags("API clients");
        group.MapGet("/", ListAsync).Reads().WithSummary("Lists API clients (never their secrets).");
        group.MapPost("/", CreateAsync).Writes(TenantRole.Admin).WithSummary("Creates an API client; the secret is in this response only.");
        group.MapGet("/{id:guid}", GetAsync).Reads().WithSummary("Reads an API client.");
        group.MapPost("/{id:guid}/rotate-secret", RotateAsync).Writes(TenantRole.Admin).WithSummary("Replaces the secret; the old one stops working at once.");
        group.MapDelete("/{id:guid}", RevokeAsync).Writes(TenantRole.Admin).WithSummary("Revokes the client; its tokens stop working at once.");
        return group;
    }

    private static async Task<Results<Ok<Page<ApiClientResponse>>, ValidationProblem>> ListAsync(
        ControlDbContext db, [FromQuery(Name = "page_size")] int? pageSize, [FromQuery(Name = "page_token")] string? pageToken, CancellationToken cancellationToken)
    {
        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        return TypedResults.Ok(await page.ListAsync(db.ApiClients.AsNoTracking().Where(c => c.RevokedAt == null), c => c.Id, ApiClientResponse.From, cancellationToken));
    }

    private static async Task<Results<Ok<ApiClientResponse>, ProblemHttpResult>> GetAsync(Guid id, ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var client = await db.ApiClients.AsNoTracking().FirstOrDefaultAsync(c => c.Id == id && c.RevokedAt == null, cancellationToken);
        if (client is null)
        {
            return Problems.NotFound("API client");
        }

        ETags.Set(http, client);
        return TypedResults.Ok(ApiClientResponse.From(client));
    }

    private static async Task<Results<Created<ApiClientWithSecretResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        CreateApiClientRequest? request, ControlDbContext db, TenantContext tenant, ApiClientProvisioner provisioner, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        validator.Name("name", request?.Name);
        validator.Required("role", request?.Role);
        if (request?.Role == TenantRole.Owner)
        {
            validator.Add("role", "API clients cannot be owners; the most they can be is admin.");
        }
        else if (request?.Role is { } role && role > tenant.Role)
        {
            validator.Add("role", "You cannot create a client with more rights than your own.");
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var (client, secret) = await provisioner.CreateAsync(tenant.RequireTenantId(), request!.Name!.Trim(), request.Role, PlatformRole.None, tenant.Actor.Display, cancellationToken);
        audit.Record("api_client.created", "api_client", client.Id, new JsonObject { ["name"] = client.Name, ["client_id"] = client.ClientId, ["role"] = ApiJson.EnumValue(client.Role!.Value) });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        ETags.Set(http, client);
        return TypedResults.Created(
            $"/v1/api-clients/{client.Id}",
            new ApiClientWithSecretResponse(client.Id, client.Name, client.ClientId, secret, client.Role, client.CreatedAt, $"{http.Request.Scheme}://{http.Request.Host}/connect/token"));
    }

    private static async Task<Results<Ok<ApiClientWithSecretResponse>, ProblemHttpResult>> RotateAsync(
        Guid id, ControlDbContext db, ApiClientProvisioner provisioner, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        var client = await db.ApiClients.FirstOrDefaultAsync(c => c.Id == id && c.RevokedAt == null, cancellationToken);
        if (client is null)
        {
            return Problems.NotFound("API client");
        }

        if (ETags.CheckIfMatch(http, client) is { } precondition)
        {
            return precondition;
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        var secret = await provisioner.RotateAsync(client, cancellationToken);
        audit.Record("api_client.secret_rotated", "api_client", client.Id, new JsonObject { ["client_id"] = client.ClientId });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        ETags.Set(http, client);
        return TypedResults.Ok(new ApiClientWithSecretResponse(client.Id, client.Name, client.ClientId, secret, client.Role, client.CreatedAt, $"{http.Request.Scheme}://{http.Request.Host}/connect/token"));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RevokeAsync(
        Guid id, ControlDbContext db, ApiClientProvisioner provisioner, AuditLog audit, CancellationToken cancellationToken)
    {
        var client = await db.ApiClients.FirstOrDefaultAsync(c => c.Id == id && c.RevokedAt == null, cancellationToken);
        if (client is null)
        {
            return Problems.NotFound("API client");
        }

        await using var transaction = await db.Database.BeginTransactionAsync(cancellationToken);
        await provisioner.RevokeAsync(client, cancellationToken);
        audit.Record("api_client.revoked", "api_client", client.Id, new JsonObject { ["client_id"] = client.ClientId });
        await db.SaveChangesAsync(cancellationToken);
        await transaction.CommitAsync(cancellationToken);
        return TypedResults.NoContent();
    }
}
