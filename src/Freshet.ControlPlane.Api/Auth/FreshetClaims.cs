namespace Freshet.ControlPlane.Api.Auth;

internal static class FreshetClaims
{
    /// <summary>Whether the token was issued to a person or to an API client.</summary>
    public const string ActorType = "freshet_actor";

    public const string UserActor = "user";

    public const string ClientActor = "client";

    public const string ApiScope = "api";

    /// <summary>The tenant of an API client, carried in its tokens for per-tenant rate limiting (authorisation re-reads it).</summary>
    public const string Tenant = "freshet_tenant";
}
