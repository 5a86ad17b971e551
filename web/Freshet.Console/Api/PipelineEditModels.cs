using System.Text.Json.Serialization;

// Public only because Razor components (always public) take them as parameters.
namespace Freshet.Console.Api;

// The pipeline wizard's and the revision view's shapes. The pipeline as ApiModels.cs reads it lacks the table options and
// the version the wizard needs, so the wizard reads its own view of the same resource.

public sealed record TableOptions(string? DestinationName, IReadOnlyList<string>? ExcludedColumns, bool? Snapshot);

public sealed record SelectedTable(string Schema, string Name, TableOptions? Options)
{
    public string Key => $"{Schema}.{Name}";
}

/// <summary>A pipeline's spec as the wizard edits it, and as a revision stores it.</summary>
public sealed record PipelineSpecView(
    string Name,
    Guid SourceConnectionId,
    Guid DestinationConnectionId,
    IReadOnlyList<SelectedTable> Tables,
    string DeleteMode,
    string SchemaChangePolicy,
    int LagThresholdSeconds);

public sealed record PipelineForEdit(
    Guid Id,
    string Name,
    Guid SourceConnectionId,
    Guid DestinationConnectionId,
    IReadOnlyList<SelectedTable> Tables,
    string DeleteMode,
    string SchemaChangePolicy,
    int LagThresholdSeconds,
    string DesiredState,
    long Generation,
    int Version) : IConcurrencyTagged
{
    [JsonIgnore]
    public string? ETag { get; set; }

    public PipelineSpecView Spec => new(Name, SourceConnectionId, DestinationConnectionId, Tables, DeleteMode, SchemaChangePolicy, LagThresholdSeconds);
}

/// <summary>What the wizard sends on create (all of it) or edit (the API leaves the source and desired state alone).</summary>
public sealed record PipelineDraft(
    string Name,
    Guid SourceConnectionId,
    Guid DestinationConnectionId,
    IReadOnlyList<SelectedTable> Tables,
    string DeleteMode,
    string SchemaChangePolicy,
    int LagThresholdSeconds,
    string DesiredState);

/// <summary>One generation of a pipeline; <c>spec</c> only when read one at a time.</summary>
public sealed record PipelineRevision(long Generation, string Change, string CreatedBy, DateTimeOffset CreatedAt, PipelineSpecView? Spec);
