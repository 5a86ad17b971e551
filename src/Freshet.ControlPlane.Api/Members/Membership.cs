using Freshet.Contracts;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Data;

namespace Freshet.ControlPlane.Api.Members;

internal sealed class Membership : ITenantOwned, IVersioned
{
    public Guid TenantId { get; set; }

    public Guid UserId { get; set; }

    public TenantRole Role { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public int Version { get; set; }

    public ApplicationUser? User { get; set; }
}
