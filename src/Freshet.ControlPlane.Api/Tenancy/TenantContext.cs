using Freshet.Contracts;

namespace Freshet.ControlPlane.Api.Tenancy;

/// <summary>Who is calling and in which tenant; one per request (scoped), filled by <see cref="TenantAccessFilter"/>.</summary>
internal sealed class TenantContext
{
    private int _systemScopeDepth;

    /// <summary>The tenant the request acts in; null for platform-level requests.</summary>
    public Guid? TenantId { get; private set; }

    public string? TenantSlug { get; private set; }

    /// <summary>The caller's role in <see cref="TenantId"/>; null for support reads and platform requests.</summary>
    public TenantRole? Role { get; private set; }

    public PlatformRole PlatformRole { get; private set; }

    /// <summary>True when platform staff read a tenant they are not a member of (read-only, audited).</summary>
    public bool IsSupportAccess { get; private set; }

    public Actor Actor { get; private set; } = Actor.System;

    /// <summary>
    /// Platform scope lifts both tenancy walls (query filters and row-level security). Only the resolution of the
    /// caller, platform endpoints and the host's own commands use it.
    /// </summary>
    public bool IsPlatformScope { get; private set; }

    /// <summary>Lifts the tenant walls while the returned scope is alive, e.g. to find a caller's memberships.</summary>
    public bool InSystemScope => _systemScopeDepth > 0;

    public bool BypassesTenantWall => IsPlatformScope || InSystemScope;

    public static TenantContext ForPlatform(Actor actor) => new() { IsPlatformScope = true, Actor = actor, PlatformRole = PlatformRole.PlatformAdmin };

    public IDisposable EnterSystemScope()
    {
        _systemScopeDepth++;
        return new ScopeExit(this);
    }

    public void SetCaller(Actor actor, PlatformRole platformRole)
    {
        Actor = actor;
        PlatformRole = platformRole;
    }

    public void SetTenant(Guid tenantId, string slug, TenantRole? role, bool supportAccess)
    {
        TenantId = tenantId;
        TenantSlug = slug;
        Role = role;
        IsSupportAccess = supportAccess;
        IsPlatformScope = false;
    }

    public void SetPlatformScope() => IsPlatformScope = true;

    public Guid RequireTenantId() =>
        TenantId ?? throw new InvalidOperationException("This operation needs a tenant; the endpoint is missing its tenant access metadata.");

    private sealed class ScopeExit(TenantContext owner) : IDisposable
    {
        private bool _disposed;

        public void Dispose()
        {
            if (!_disposed)
            {
                _disposed = true;
                owner._systemScopeDepth--;
            }
        }
    }
}

/// <summary>Who did something: a person, an API client, or the platform itself.</summary>
/// <param name="Type">user, client or system.</param>
/// <param name="Id">User id or OAuth client id.</param>
/// <param name="Name">E-mail or client name, for people reading the audit log.</param>
/// <param name="IpAddress">Where the request came from.</param>
internal sealed record Actor(string Type, string Id, string Name, string? IpAddress = null)
{
    public static readonly Actor System = new("system", "system", "Freshet");

    public string Display => $"{Type}:{Name}";
}
