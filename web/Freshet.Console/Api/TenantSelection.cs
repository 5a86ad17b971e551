namespace Freshet.Console.Api;

/// <summary>
/// Who is signed in and which of their tenants the console acts in (one per circuit). Every API call names that tenant
/// in the <c>Freshet-Tenant</c> header, so a person in several tenants sees the one they picked.
/// </summary>
internal sealed class TenantSelection
{
    public Me? Me { get; private set; }

    public Membership? Current { get; private set; }

    public event Action? Changed;

    public void SignedIn(Me me)
    {
        Me = me;
        Current = Current is { } kept && me.Memberships.FirstOrDefault(m => m.TenantId == kept.TenantId) is { } still ? still : me.Memberships.FirstOrDefault();
        Changed?.Invoke();
    }

    public void Select(Guid tenantId)
    {
        if (Me?.Memberships.FirstOrDefault(m => m.TenantId == tenantId) is { } membership && membership != Current)
        {
            Current = membership;
            Changed?.Invoke();
        }
    }
}
