using Freshet.Contracts;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Pipelines;

/// <summary>Where a pipeline is in its life, as the console shows it.</summary>
internal enum PipelineRuntimeState
{
    /// <summary>Should run, but is placed on no worker (no worker has room for it yet).</summary>
    Pending,
    /// <summary>Placed; its worker has not reported under this placement yet, or reports that it is starting.</summary>
    Starting,
    /// <summary>Copying the existing rows of its tables.</summary>
    Snapshotting,
    /// <summary>Streaming changes.</summary>
    Running,
    /// <summary>The last run failed; <c>next_attempt_at</c> says when it is tried again, <c>reason</c> why it failed.</summary>
    Failed,
    /// <summary>Paused by its owner.</summary>
    Paused,
}

/// <summary>
/// The pipeline's lifecycle now: computed from where the scheduler placed it and what that worker last reported
/// under that placement's epoch (a report of an older placement does not count).
/// </summary>
internal sealed record PipelineRuntime(
    PipelineRuntimeState State,
    string? Reason,
    DateTimeOffset? NextAttemptAt,
    Guid? WorkerId,
    string? WorkerName,
    long? Epoch,
    DateTimeOffset? ReportedAt)
{
    public const string StatesSummary =
        "runtime.state: pending (should run, no worker has room yet), starting (placed, no report yet under this placement), "
        + "snapshotting, running (streaming), failed (see reason and next_attempt_at), paused. runtime is null when this "
        + "control plane cannot read placements.";

    public static PipelineRuntime From(DesiredState desired, PipelinePlacementInfo? placement)
    {
        var placed = placement is { WorkerId: not null };
        var report = placed && placement!.Reported is { } reported && reported.Epoch == placement.Epoch ? reported : null;
        if (desired == DesiredState.Paused)
        {
            // A pause takes effect when the worker lets go; until then it still shows where it runs.
            return new(PipelineRuntimeState.Paused, null, null, placement?.WorkerId, placement?.WorkerName, placed ? placement!.Epoch : null, report?.ReportedAt);
        }

        if (!placed)
        {
            return new(PipelineRuntimeState.Pending, "Waiting for a worker with room for it.", null, null, null, null, null);
        }

        var (state, reason, next) = report?.State switch
        {
            null => (PipelineRuntimeState.Starting, null, null),
            PipelineRunState.Starting => (PipelineRuntimeState.Starting, report.Reason, null),
            PipelineRunState.Snapshotting => (PipelineRuntimeState.Snapshotting, report.Reason, null),
            PipelineRunState.Streaming => (PipelineRuntimeState.Running, report.Reason, null),
            PipelineRunState.Failed => (PipelineRuntimeState.Failed, report.Reason, report.NextAttemptAt),
            // Fenced, paused or stopped under the current placement: the worker is letting go; the scheduler acts next.
            _ => (PipelineRuntimeState.Starting, report.Reason, (DateTimeOffset?)null),
        };
        return new(state, reason, next, placement!.WorkerId, placement.WorkerName, placement.Epoch, report?.ReportedAt);
    }
}

/// <summary>Runtime states for a page of pipelines: one read of the placements (none when this process cannot read them).</summary>
internal static class PipelineRuntimes
{
    public static Task<Func<Pipeline, PipelineRuntime>?> ReadAsync(HttpContext http, IReadOnlyList<Pipeline> pipelines, CancellationToken cancellationToken) =>
        ReadAsync(http.RequestServices, pipelines, cancellationToken);

    public static async Task<Func<Pipeline, PipelineRuntime>?> ReadAsync(IServiceProvider services, IReadOnlyList<Pipeline> pipelines, CancellationToken cancellationToken)
    {
        if (services.GetService<IPipelinePlacements>() is not { } directory)
        {
            return null;
        }

        var placements = pipelines.Count == 0
            ? new Dictionary<Guid, PipelinePlacementInfo>()
            : await directory.GetPlacementsAsync(pipelines.Select(p => p.Id).ToList(), cancellationToken);
        return p => PipelineRuntime.From(p.DesiredState, placements.GetValueOrDefault(p.Id));
    }
}

/// <summary>What the status module judges a pipeline's health from, as every reader of status asks for it.</summary>
internal static class PipelineStatusQueries
{
    /// <param name="pipeline">The pipeline.</param>
    /// <param name="runtime">Where it runs; null without a scheduler in this process (placed nowhere).</param>
    public static PipelineStatusQuery For(Pipeline pipeline, PipelineRuntime? runtime)
    {
        var placed = runtime?.WorkerId is not null;
        return new PipelineStatusQuery(pipeline.Id, pipeline.DesiredState == DesiredState.Paused, placed, placed ? runtime!.Epoch : null, pipeline.LagThresholdSeconds);
    }
}
