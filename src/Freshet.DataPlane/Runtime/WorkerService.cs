using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Runtime;

/// <summary>Polls the assignment feed and reconciles the runtime; stops every pipeline cleanly on shutdown.</summary>
public sealed partial class WorkerService(
    WorkerRuntime runtime,
    IPipelineAssignmentFeed feed,
    DataPlaneOptions options,
    TimeProvider time,
    ILogger<WorkerService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var assignments = await feed.GetAssignmentsAsync(stoppingToken).ConfigureAwait(false);
                await runtime.ReconcileAsync(assignments, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFeedFailed(logger, e.Message);
            }

            try
            {
                await Task.Delay(options.AssignmentPollInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await runtime.StopAllAsync().ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading assignments failed; keeping the current ones: {Reason}")]
    private static partial void LogFeedFailed(ILogger logger, string reason);
}
