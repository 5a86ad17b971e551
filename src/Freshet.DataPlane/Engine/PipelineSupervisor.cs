using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Sources;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Engine;

/// <summary>
/// Keeps one pipeline running under one spec: each run resumes from the destination's checkpoint; a failed run is
/// retried after a growing delay (reset after a run that lasted a while); a fenced run stops for good.
/// </summary>
internal sealed partial class PipelineSupervisor(
    PipelineSpec spec,
    IConnectorFactory connectors,
    DataPlaneOptions options,
    TimeProvider time,
    ILoggerFactory loggerFactory)
{
    private readonly ILogger _logger = loggerFactory.CreateLogger<PipelineSupervisor>();

    public PipelineSpec Spec { get; } = spec;

    public PipelineProgress Progress { get; } = new(spec.PipelineId, spec.Epoch, time);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var delay = options.MinRestartDelay;
        while (!cancellationToken.IsCancellationRequested)
        {
            var started = time.GetTimestamp();
            try
            {
                await new PipelineRunner(Spec, connectors, Progress, time, loggerFactory).RunAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (PipelineFencedException e)
            {
                Progress.SetState(PipelineRunState.Fenced, e.Message);
                LogFenced(_logger, Spec.PipelineId, e.Epoch, e.OwnerEpoch);
                return;
            }
            catch (Exception e)
            {
                if (time.GetElapsedTime(started) > TimeSpan.FromMinutes(2))
                {
                    delay = options.MinRestartDelay;
                }

                Progress.Failed();
                var reason = e is SourcePrerequisiteException prerequisite ? string.Join(" ", prerequisite.Problems) : FailureReason.Describe(e);
                Progress.SetState(PipelineRunState.Failed, reason, time.GetUtcNow() + delay);
                LogRunFailed(_logger, Spec.PipelineId, delay.TotalSeconds, reason, e.GetType().Name);
                try
                {
                    await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.MaxRestartDelay.Ticks));
            }
        }

        Progress.SetState(PipelineRunState.Stopped);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} stopped: epoch {Epoch} was superseded by epoch {OwnerEpoch}")]
    private static partial void LogFenced(ILogger logger, Guid pipelineId, long epoch, long ownerEpoch);

    // The exception itself is not logged: a data error's message and stack can quote row values.
    [LoggerMessage(Level = LogLevel.Error, Message = "Pipeline {PipelineId} failed ({ExceptionType}); next attempt in {DelaySeconds} s: {Reason}")]
    private static partial void LogRunFailed(ILogger logger, Guid pipelineId, double delaySeconds, string reason, string exceptionType);
}
