using Freshet.ControlPlane.Api.Data;

namespace Freshet.ControlPlane.Api.Tenants;

internal sealed class Tenant : IVersioned
{
    public Guid Id { get; set; }

    /// <summary>URL-safe, unique, immutable: the name automation and the console use to pick a tenant.</summary>
    public required string Slug { get; set; }

    public required string Name { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public int Version { get; set; }
}
