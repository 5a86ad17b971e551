using Freshet.Contracts;
using Freshet.ControlPlane.Api.Data;

namespace Freshet.ControlPlane.Api.ApiClients;

/// <summary>
/// A machine identity. Its secret lives (hashed) in the OpenIddict application with the same client id; this row
/// holds what Freshet needs: the tenant, the role, and whether it was revoked (checked on every request, so a
/// revoked client's unexpired tokens stop working at once).
/// </summary>
internal sealed class ApiClient : IVersioned
{
    public Guid Id { get; set; }

    /// <summary>Null only for platform clients.</summary>
    public Guid? TenantId { get; set; }

    public required string Name { get; set; }

    public required string ClientId { get; set; }

    public TenantRole? Role { get; set; }

    public PlatformRole PlatformRole { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public required string CreatedBy { get; set; }

    public DateTimeOffset SecretRotatedAt { get; set; }

    public DateTimeOffset? RevokedAt { get; set; }

    public int Version { get; set; }
}
