using System.ComponentModel.DataAnnotations;

namespace Freshet.ControlPlane.Api.Auth;

internal sealed class AuthOptions
{
    public const string Section = "Freshet:Auth";

    /// <summary>PFX used to sign tokens. Without it a development certificate is generated and kept per machine user.</summary>
    public string? SigningCertificatePath { get; set; }

    /// <summary>PFX used to encrypt authorization codes and refresh tokens.</summary>
    public string? EncryptionCertificatePath { get; set; }

    public string? CertificatePassword { get; set; }

    [Range(10, 86_400)]
    public int AccessTokenLifetimeSeconds { get; set; } = 3600;

    [Range(60, 90 * 86_400)]
    public int RefreshTokenLifetimeSeconds { get; set; } = 14 * 86_400;

    /// <summary>
    /// Off by default because TLS usually ends at the ingress in front of the control plane; turn it on where the
    /// control plane itself serves HTTPS.
    /// </summary>
    public bool RequireHttps { get; set; }

    [Range(1, 100)]
    public int MaxFailedSignInAttempts { get; set; } = 5;

    [Range(1, 1440)]
    public int LockoutMinutes { get; set; } = 15;

    /// <summary>The web console's OAuth client (authorization code + PKCE), created or updated by <c>migrate</c>.</summary>
    public ConsoleClientOptions ConsoleClient { get; set; } = new();

    /// <summary>The data-plane worker pool's OAuth client (client credentials), created, updated or removed by <c>migrate</c>.</summary>
    public WorkerClientOptions WorkerClient { get; set; } = new();
}

internal sealed class ConsoleClientOptions
{
    public string ClientId { get; set; } = "freshet-console";

    /// <summary>Empty makes it a public client (PKCE only); the server-side console sets one.</summary>
    public string? ClientSecret { get; set; }

    public List<string> RedirectUris { get; set; } = ["http://127.0.0.1:5081/signin-oidc", "http://localhost:5081/signin-oidc"];

    public List<string> PostLogoutRedirectUris { get; set; } = ["http://127.0.0.1:5081/signout-callback-oidc", "http://localhost:5081/signout-callback-oidc"];
}

internal sealed class WorkerClientOptions
{
    public string ClientId { get; set; } = "freshet-worker";

    /// <summary>
    /// No default: while it is empty the worker client does not exist (migrate removes it) and the worker endpoints
    /// refuse every caller.
    /// </summary>
    public string? ClientSecret { get; set; }

    public bool IsEnabled => !string.IsNullOrWhiteSpace(ClientId) && !string.IsNullOrEmpty(ClientSecret);
}
