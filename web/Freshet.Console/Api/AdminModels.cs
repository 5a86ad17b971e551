using System.Text.Json.Nodes;

namespace Freshet.Console.Api;

// Members, API clients and the audit log as the REST API returns them (snake_case on the wire). Roles stay strings,
// as in Membership: viewer, editor, admin, owner.

public sealed record Member(Guid UserId, string Email, string DisplayName, string Role, DateTimeOffset CreatedAt, int Version);

/// <summary>A member just added; when the e-mail was new, the account's first password (returned once).</summary>
public sealed record AddedMember(Guid UserId, string Email, string DisplayName, string Role, DateTimeOffset CreatedAt, bool AccountCreated, string? InitialPassword);

public sealed record ApiClient(Guid Id, string Name, string ClientId, string? Role, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset SecretRotatedAt, DateTimeOffset? RevokedAt);

/// <summary>The only answer that carries a client secret (create and rotate): shown once, never kept.</summary>
public sealed record ApiClientWithSecret(Guid Id, string Name, string ClientId, string ClientSecret, string? Role, DateTimeOffset CreatedAt, string TokenUrl);

public sealed record AuditEvent(
    Guid Id, DateTimeOffset OccurredAt, string ActorType, string ActorId, string ActorName, string Action, string ResourceType, string? ResourceId, string? IpAddress, JsonObject? Details);

/// <summary>The audit log's filters, as <c>GET /v1/audit-events</c> takes them; empty ones are left out.</summary>
public sealed record AuditFilter(string? Actor, string? Action, string? ResourceType, string? ResourceId, DateTimeOffset? From, DateTimeOffset? To);

/// <summary>What each role may do with members and API clients, as the control plane decides it (MembersApi, ApiClientsApi).</summary>
public static class TenantRoles
{
    public static readonly IReadOnlyList<string> All = ["viewer", "editor", "admin", "owner"];

    public static int Rank(string? role) => role switch
    {
        "viewer" => 0,
        "editor" => 1,
        "admin" => 2,
        "owner" => 3,
        _ => -1,
    };

    /// <summary>Admins and owners add, change and remove members and API clients, and read the audit log.</summary>
    public static bool CanAdminister(string? role) => Rank(role) >= Rank("admin");

    /// <summary>Only an owner grants the owner role, takes it away, or removes an owner.</summary>
    public static bool CanChangeOwners(string? role) => role == "owner";

    /// <summary>The roles someone with <paramref name="role"/> may give a member.</summary>
    public static IReadOnlyList<string> GrantableToMembers(string? role) => CanChangeOwners(role) ? All : ["viewer", "editor", "admin"];

    /// <summary>API clients are at most admins, and never above the person who creates them.</summary>
    public static IReadOnlyList<string> GrantableToClients(string? role) => All.Where(r => r != "owner" && Rank(r) <= Rank(role)).ToList();
}
