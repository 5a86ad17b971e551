namespace Freshet.Contracts;

/// <summary>Identifies a tenant: the unit of isolation for every customer-owned row.</summary>
/// <param name="Value">The tenant's UUID.</param>
public readonly record struct TenantId(Guid Value)
{
    /// <inheritdoc />
    public override string ToString() => Value.ToString();
}

/// <summary>Identifies a pipeline across the control plane and the data plane.</summary>
/// <param name="Value">The pipeline's UUID.</param>
public readonly record struct PipelineId(Guid Value)
{
    /// <inheritdoc />
    public override string ToString() => Value.ToString();
}

/// <summary>Identifies a data-plane worker process.</summary>
/// <param name="Value">The worker's UUID.</param>
public readonly record struct WorkerId(Guid Value)
{
    /// <inheritdoc />
    public override string ToString() => Value.ToString();
}
