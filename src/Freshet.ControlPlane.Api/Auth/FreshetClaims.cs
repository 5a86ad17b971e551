namespace Freshet.ControlPlane.Api.Auth;

internal static class FreshetClaims
{
    /// <summary>Whether the token was issued to a person, an API client or a worker of the pool.</summary>
    public const string ActorType = "freshet_actor";

    public const string UserActor = "user";

    public const string ClientActor = "client";

    /// <summary>A data-plane worker of the pool: no tenant, no platform role; admitted only to <c>/v1/worker/*</c>.</summary>
    public const string WorkerActor = "worker";

    public const string ApiScope = "api";

    /// <summary>The tenant of an API client, carried in its tokens for per-tenant rate limiting (authorisation re-reads it).</summary>
    public const string Tenant = "freshet_tenant";
}
