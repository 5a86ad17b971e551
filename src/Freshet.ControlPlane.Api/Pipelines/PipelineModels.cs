using Freshet.Contracts;

namespace Freshet.ControlPlane.Api.Pipelines;

internal sealed record TableSelection(string? Schema, string? Name, TableOptionsInput? Options);

internal sealed record TableOptionsInput(string? DestinationName, List<string>? ExcludedColumns, bool? Snapshot);

internal sealed record CreatePipelineRequest(
    string? Name,
    Guid? SourceConnectionId,
    Guid? DestinationConnectionId,
    List<TableSelection?>? Tables,
    DeleteMode? DeleteMode,
    SchemaChangePolicy? SchemaChangePolicy,
    int? LagThresholdSeconds,
    DesiredState? DesiredState);

/// <summary>Fields left out stay as they are. Changing anything but the name starts a new generation.</summary>
internal sealed record UpdatePipelineRequest(
    string? Name,
    Guid? DestinationConnectionId,
    List<TableSelection?>? Tables,
    DeleteMode? DeleteMode,
    SchemaChangePolicy? SchemaChangePolicy,
    int? LagThresholdSeconds);

internal sealed record ResnapshotRequest(List<TableSelection?>? Tables);

internal sealed record PipelineResponse(
    Guid Id,
    string Name,
    Guid SourceConnectionId,
    Guid DestinationConnectionId,
    IReadOnlyList<PipelineTable> Tables,
    DeleteMode DeleteMode,
    SchemaChangePolicy SchemaChangePolicy,
    int LagThresholdSeconds,
    DesiredState DesiredState,
    long Generation,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    int Version,
    PipelineRuntime? Runtime)
{
    /// <summary>Without <paramref name="runtime"/> (writes, or no placements to read in this process) <c>runtime</c> is null.</summary>
    public static PipelineResponse From(Pipeline p, PipelineRuntime? runtime = null) => new(
        p.Id, p.Name, p.SourceConnectionId, p.DestinationConnectionId, p.Tables, p.DeleteMode, p.SchemaChangePolicy,
        p.LagThresholdSeconds, p.DesiredState, p.Generation, p.CreatedAt, p.UpdatedAt, p.Version, runtime);
}

/// <summary>The part of a pipeline that a generation captures (what workers run).</summary>
internal sealed record PipelineSpec(
    string Name,
    Guid SourceConnectionId,
    Guid DestinationConnectionId,
    IReadOnlyList<PipelineTable> Tables,
    DeleteMode DeleteMode,
    SchemaChangePolicy SchemaChangePolicy,
    int LagThresholdSeconds)
{
    public static PipelineSpec From(Pipeline p) => new(p.Name, p.SourceConnectionId, p.DestinationConnectionId, p.Tables, p.DeleteMode, p.SchemaChangePolicy, p.LagThresholdSeconds);
}

internal sealed record RevisionResponse(long Generation, string Change, string CreatedBy, DateTimeOffset CreatedAt, System.Text.Json.Nodes.JsonNode? Spec);

/// <summary>A re-snapshot request; <c>completed_at</c> is set once the worker reported the table copied again.</summary>
internal sealed record SnapshotRequestResponse(Guid Id, string Schema, string Name, DateTimeOffset RequestedAt, string RequestedBy, DateTimeOffset? CompletedAt)
{
    public static SnapshotRequestResponse From(SnapshotRequest r) => new(r.Id, r.SchemaName, r.TableName, r.RequestedAt, r.RequestedBy, r.CompletedAt);
}
