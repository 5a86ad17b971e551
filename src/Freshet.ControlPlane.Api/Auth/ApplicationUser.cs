using Freshet.Contracts;
using Microsoft.AspNetCore.Identity;

namespace Freshet.ControlPlane.Api.Auth;

internal sealed class ApplicationUser : IdentityUser<Guid>
{
    public string DisplayName { get; set; } = "";

    public PlatformRole PlatformRole { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}
