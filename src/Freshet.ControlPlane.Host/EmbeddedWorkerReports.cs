using Freshet.Contracts;
using Freshet.DataPlane.Runtime;
using MassTransit;

namespace Freshet.ControlPlane.Host;

/// <summary>
/// The embedded worker's progress reports on this process's bus, for a host that runs the worker without the status
/// role: a status process elsewhere consumes them from RabbitMQ. (With the status role here, the heartbeats this
/// process's scheduler accepts carry them to the store already.)
/// </summary>
internal sealed class EmbeddedWorkerReports(IBus bus) : IProgressReportPublisher
{
    public Task PublishAsync(PipelineStatusReported reports, CancellationToken cancellationToken) =>
        bus.Publish(reports, context => context.TimeToLive = IProgressReportPublisher.TimeToLive, cancellationToken);
}
