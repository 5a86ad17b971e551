using Freshet.Contracts;
using Freshet.DataPlane.Runtime;
using MassTransit;

namespace Freshet.DataPlane.Worker.Messaging;

/// <summary>
/// Publishes the worker's progress reports on RabbitMQ for status processes that run no scheduler (the scheduler gets
/// them with the heartbeats). Each expires after <see cref="IProgressReportPublisher.TimeToLive"/>: a newer view follows.
/// </summary>
internal sealed class BusProgressReportPublisher(IBus bus) : IProgressReportPublisher
{
    public Task PublishAsync(PipelineStatusReported reports, CancellationToken cancellationToken) =>
        bus.Publish(reports, context => context.TimeToLive = IProgressReportPublisher.TimeToLive, cancellationToken);
}
