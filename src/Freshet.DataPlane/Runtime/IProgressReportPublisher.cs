using Freshet.Contracts;

namespace Freshet.DataPlane.Runtime;

/// <summary>
/// Where a control-plane worker publishes its progress reports besides its heartbeats (the message bus, for status
/// processes that run no scheduler). <see cref="WorkerAgent"/> publishes after each acknowledged heartbeat and as soon as
/// a pipeline's run state changes; a publish that fails or times out is logged and never delays a heartbeat.
/// </summary>
public interface IProgressReportPublisher
{
    /// <summary>
    /// How long a published report is worth delivering: older ones are outrun by the next heartbeat's, so a broker may
    /// drop them (e.g. when nothing consumes them for a while).
    /// </summary>
    static readonly TimeSpan TimeToLive = TimeSpan.FromMinutes(2);

    /// <summary>Publishes the reports; throws when the bus does not take them.</summary>
    Task PublishAsync(PipelineStatusReported reports, CancellationToken cancellationToken);
}
