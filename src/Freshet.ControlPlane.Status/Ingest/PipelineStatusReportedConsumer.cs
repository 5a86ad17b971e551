using Freshet.Contracts;
using MassTransit;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.ControlPlane.Status.Ingest;

/// <summary>
/// Ingests the reports workers publish on the bus, for a status process that runs no scheduler (and so receives no
/// heartbeats). Only the reports of placements the publishing worker holds, under the epoch it holds them, reach the
/// store, as on the heartbeat path: a fenced worker that has not heard of its fencing, or a worker reporting a pipeline
/// it does not hold, changes nothing. A placement that moves between the check and the ingest is covered by the store,
/// which moves a status only forward by (epoch, report time).
/// </summary>
internal sealed partial class PipelineStatusReportedConsumer(
    IPipelinePlacements placements, IPipelineStatusSink store, ILogger<PipelineStatusReportedConsumer> logger) : IConsumer<PipelineStatusReported>
{
    public async Task Consume(ConsumeContext<PipelineStatusReported> context)
    {
        var message = context.Message;
        if (message.Reports is not { Count: > 0 } reports)
        {
            return;
        }

        try
        {
            var placedAt = await placements.GetPlacementsAsync([.. reports.Select(r => r.PipelineId).Distinct()], context.CancellationToken).ConfigureAwait(false);
            var held = reports
                .Where(r => placedAt.TryGetValue(r.PipelineId, out var placement) && placement.WorkerId == message.WorkerId && placement.Epoch == r.Epoch)
                .ToList();
            if (held.Count < reports.Count)
            {
                LogNotHeld(logger, message.WorkerId, reports.Count - held.Count);
            }

            await store.IngestAsync(message.WorkerId, held, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is NpgsqlException or TimeoutException)
        {
            // Dropped rather than retried or parked: the worker publishes its whole view again within a heartbeat, and a
            // queue of stale reports behind a database outage would only delay the fresh ones.
            LogIngestFailed(logger, message.WorkerId, exception);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignored {Count} reports of worker {WorkerId}: not placements it holds under their epochs")]
    private static partial void LogNotHeld(ILogger logger, Guid workerId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not store the status reports worker {WorkerId} published; its next ones repeat them")]
    private static partial void LogIngestFailed(ILogger logger, Guid workerId, Exception exception);
}

/// <summary>
/// One durable queue shared by every status process (<see cref="QueueName"/>): each report is ingested once per
/// installation however many status replicas run, and a replica that restarts finds what arrived meanwhile.
/// </summary>
internal sealed class PipelineStatusReportedConsumerDefinition : ConsumerDefinition<PipelineStatusReportedConsumer>
{
    public const string QueueName = "freshet-status-reports";

    public PipelineStatusReportedConsumerDefinition() => EndpointName = QueueName;

    protected override void ConfigureConsumer(
        IReceiveEndpointConfigurator endpointConfigurator, IConsumerConfigurator<PipelineStatusReportedConsumer> consumerConfigurator, IRegistrationContext context)
    {
        // A report that fails for another reason (a bug) is dropped, not parked in an _error queue that grows with every
        // heartbeat of every worker until someone empties it.
        endpointConfigurator.DiscardFaultedMessages();
    }
}
