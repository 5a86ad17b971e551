// Public only because Razor components (always public) take them as parameters.
namespace Freshet.Console.Api;

// The public REST API's shapes, as far as the console reads them (snake_case on the wire). Health and run states stay
// strings: a state added to the API later shows as its name instead of breaking the page.

public sealed record Me(string ActorType, string Id, string Name, string PlatformRole, IReadOnlyList<Membership> Memberships);

public sealed record Membership(Guid TenantId, string Slug, string Name, string Role)
{
    /// <summary>Editors, admins and owners change pipelines; viewers read.</summary>
    public bool CanChangePipelines => Role is "editor" or "admin" or "owner";
}

public sealed record TenantStatus(string? Worst, IReadOnlyDictionary<string, int> Counts, IReadOnlyList<PipelineStatus> Pipelines);

public sealed record HealthReason(string Code, string Message);

public sealed record TableSnapshotProgress(string Table, int ChunksDone, int ChunksTotal, long RowsCopied, double PercentDone, DateTimeOffset? EstimatedDoneAt);

public sealed record PipelineStatus(
    Guid PipelineId,
    string Name,
    string Health,
    IReadOnlyList<HealthReason> Reasons,
    IReadOnlyList<TableSnapshotProgress> Snapshot,
    double? LagSeconds,
    long? LagBytes,
    double? RowsPerSecond,
    double? BytesPerSecond,
    DateTimeOffset? LastDeliveryAt,
    long? Retries,
    long? Errors,
    Guid? WorkerId,
    long? Epoch,
    DateTimeOffset? ReportedAt,
    DateTimeOffset? LastProgressAt);

public sealed record PipelineRuntime(string State, string? Reason, DateTimeOffset? NextAttemptAt, Guid? WorkerId, string? WorkerName, long? Epoch, DateTimeOffset? ReportedAt);

public sealed record PipelineTable(string Schema, string Name);

public sealed record Pipeline(
    Guid Id,
    string Name,
    Guid SourceConnectionId,
    Guid DestinationConnectionId,
    IReadOnlyList<PipelineTable> Tables,
    string DeleteMode,
    string SchemaChangePolicy,
    int LagThresholdSeconds,
    string DesiredState,
    long Generation,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    PipelineRuntime? Runtime)
{
    public bool IsPaused => DesiredState == "paused";
}

public sealed record PipelineEvent(long Id, DateTimeOffset OccurredAt, string Kind, string Message, Guid? WorkerId, long? Epoch);

public sealed record Page<T>(IReadOnlyList<T> Items, string? NextPageToken);
