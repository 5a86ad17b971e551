using Freshet.Contracts;
using Freshet.ControlPlane.Api.Data;

namespace Freshet.ControlPlane.Api.Pipelines;

internal sealed class Pipeline : ITenantOwned, IVersioned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public required string Name { get; set; }

    public Guid SourceConnectionId { get; set; }

    public Guid DestinationConnectionId { get; set; }

    public List<PipelineTable> Tables { get; set; } = [];

    public DeleteMode DeleteMode { get; set; }

    public SchemaChangePolicy SchemaChangePolicy { get; set; }

    public int LagThresholdSeconds { get; set; }

    public DesiredState DesiredState { get; set; }

    /// <summary>Bumped on every spec change; workers restart a pipeline when the generation they run is older.</summary>
    public long Generation { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public int Version { get; set; }
}

/// <summary>A selected source table and how it is replicated.</summary>
internal sealed record PipelineTable(string Schema, string Name, PipelineTableOptions Options);

internal sealed record PipelineTableOptions(string? DestinationName, IReadOnlyList<string> ExcludedColumns, bool Snapshot);

/// <summary>The spec of one generation, kept forever so a change can be read and diffed later.</summary>
internal sealed class PipelineRevision : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid PipelineId { get; set; }

    public long Generation { get; set; }

    public required string Spec { get; set; }

    public required string Change { get; set; }

    public required string CreatedBy { get; set; }

    public DateTimeOffset CreatedAt { get; set; }
}

/// <summary>A request to copy a table again; the data plane picks it up and marks it done.</summary>
internal sealed class SnapshotRequest : ITenantOwned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public Guid PipelineId { get; set; }

    public required string SchemaName { get; set; }

    public required string TableName { get; set; }

    public required string RequestedBy { get; set; }

    public DateTimeOffset RequestedAt { get; set; }

    public DateTimeOffset? CompletedAt { get; set; }
}
