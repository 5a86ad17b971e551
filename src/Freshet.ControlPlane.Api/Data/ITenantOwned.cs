namespace Freshet.ControlPlane.Api.Data;

/// <summary>A row that belongs to one tenant: scoped by a query filter and by row-level security.</summary>
internal interface ITenantOwned
{
    Guid TenantId { get; }
}

/// <summary>A row whose updates are guarded by optimistic concurrency; its version is the ETag.</summary>
internal interface IVersioned
{
    int Version { get; set; }
}
