using Freshet.Contracts;

namespace Freshet.DataPlane.Destinations;

/// <summary>What every destination is constructed with.</summary>
/// <param name="PipelineId">The pipeline whose checkpoint row it writes.</param>
/// <param name="Epoch">The epoch it writes under.</param>
/// <param name="DeleteMode">Hard or soft deletes.</param>
/// <param name="Endpoint">The destination connection (settings and secrets).</param>
/// <param name="TimeProvider">Clock for synced-at and checkpoint times.</param>
public sealed record DestinationContext(
    Guid PipelineId,
    long Epoch,
    DeleteMode DeleteMode,
    EndpointSpec Endpoint,
    TimeProvider TimeProvider);
