namespace Freshet.Contracts;

/// <summary>
/// Everything a worker needs to run one pipeline under one placement: where to read, where to write, which tables,
/// and the epoch that fences it. Carries secrets, so it travels only over authenticated HTTPS (or stays in one process),
/// never over the message bus, and is never logged.
/// </summary>
/// <param name="PipelineId">The pipeline.</param>
/// <param name="TenantId">The tenant that owns it.</param>
/// <param name="Name">Display name, for logs and the destination's state table.</param>
/// <param name="Generation">The spec generation; a worker restarts the pipeline when it is handed a newer one.</param>
/// <param name="Epoch">The placement's epoch: the destination refuses commits from any lower epoch once a higher one has written.</param>
/// <param name="Source">The database whose log is read.</param>
/// <param name="Destination">The store that changes are applied to.</param>
/// <param name="Tables">The selected source tables.</param>
/// <param name="DeleteMode">How source deletes show in the destination.</param>
/// <param name="SchemaChangePolicy">What happens when a source table's columns change.</param>
/// <param name="Delivery">Batching and latency settings; defaults when null.</param>
/// <param name="Resnapshots">
/// Requests to copy tables again that the control plane has not seen completed. A run carries out each one the
/// destination has not recorded as handled: it empties the table's target and copies it again while the other tables
/// keep their position, recording the request in the same destination transaction (so a restart does not empty it
/// twice), and lists the request in <see cref="PipelineProgressReport.HandledResnapshots"/> once the copy is done.
/// Null or empty: none.
/// </param>
public sealed record PipelineSpec(
    Guid PipelineId,
    Guid TenantId,
    string Name,
    long Generation,
    long Epoch,
    EndpointSpec Source,
    EndpointSpec Destination,
    IReadOnlyList<TableSpec> Tables,
    DeleteMode DeleteMode,
    SchemaChangePolicy SchemaChangePolicy,
    DeliverySpec? Delivery = null,
    IReadOnlyList<SnapshotRequestSpec>? Resnapshots = null);

/// <summary>A connection as the worker needs it: validated settings plus its decrypted secrets.</summary>
/// <param name="Type">Which database or service.</param>
/// <param name="Settings">Non-secret settings by name (as the connection type defines them), values as invariant text.</param>
/// <param name="Secrets">Secrets by name (e.g. <c>password</c>).</param>
public sealed record EndpointSpec(
    ConnectionType Type,
    IReadOnlyDictionary<string, string> Settings,
    IReadOnlyDictionary<string, string> Secrets);

/// <summary>One selected source table.</summary>
/// <param name="Schema">Source schema (PostgreSQL) or database (MySQL).</param>
/// <param name="Name">Source table name.</param>
/// <param name="DestinationName">Target table name; the source name when null.</param>
/// <param name="ExcludedColumns">Source columns that are never copied.</param>
/// <param name="Snapshot">Whether existing rows are copied before streaming.</param>
public sealed record TableSpec(
    string Schema,
    string Name,
    string? DestinationName = null,
    IReadOnlyList<string>? ExcludedColumns = null,
    bool Snapshot = true);

/// <summary>A request to copy one of the pipeline's tables again.</summary>
/// <param name="Id">The request; the destination records it once handled, the control plane marks it completed.</param>
/// <param name="Schema">Source schema of the table, as in <see cref="TableSpec.Schema"/>.</param>
/// <param name="Name">Source table name, as in <see cref="TableSpec.Name"/>.</param>
public sealed record SnapshotRequestSpec(Guid Id, string Schema, string Name);

/// <summary>How changes are cut into destination transactions.</summary>
/// <param name="MaxBatchRows">A batch is cut when it holds this many changes.</param>
/// <param name="MaxBatchBytes">A batch is cut when its changes take about this many bytes.</param>
/// <param name="MaxBatchDelayMilliseconds">A batch is cut this long after its first change arrived: the latency target.</param>
/// <param name="SnapshotChunkRows">Rows per snapshot chunk (the unit of resumption).</param>
/// <param name="SnapshotParallelism">Chunks copied at once.</param>
public sealed record DeliverySpec(
    int MaxBatchRows = 16_000,
    long MaxBatchBytes = 16L * 1024 * 1024,
    int MaxBatchDelayMilliseconds = 200,
    int SnapshotChunkRows = 250_000,
    int SnapshotParallelism = 2);
