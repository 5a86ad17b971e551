using System.ComponentModel.DataAnnotations;

namespace Freshet.Console;

/// <summary>Where the control plane is and how the console signs in to it (section <c>Freshet:Console</c>).</summary>
internal sealed class ConsoleOptions
{
    public const string Section = "Freshet:Console";

    /// <summary>The control plane's base URL: its OAuth2 server (the authority) and its REST API.</summary>
    [Required]
    public Uri ControlPlaneUrl { get; set; } = new("http://127.0.0.1:5080");

    /// <summary>
    /// <see cref="ControlPlaneUrl"/> ending in a slash, so relative paths (<c>v1/status</c>, <c>connect/token</c>) keep a
    /// path prefix such as <c>https://example.com/freshet</c>.
    /// </summary>
    public Uri ApiBase => ControlPlaneUrl.AbsoluteUri.EndsWith('/') ? ControlPlaneUrl : new Uri(ControlPlaneUrl.AbsoluteUri + "/");

    [Required]
    public string ClientId { get; set; } = "freshet-console";

    /// <summary>Empty: a public client (PKCE only), as the control plane's <c>Freshet:Auth:ConsoleClient</c> defaults to.</summary>
    public string? ClientSecret { get; set; }

    /// <summary>Refresh the access token when it has less than this left, so a call never leaves with one about to expire.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:30:00")]
    public TimeSpan RefreshBeforeExpiry { get; set; } = TimeSpan.FromMinutes(1);
}
