using Freshet.Contracts;

namespace Freshet.DataPlane.Runtime;

/// <summary>
/// Where a worker learns what to run: the complete current list, asked for again and again (level-triggered), so a
/// missed notification only delays. Until the scheduler exists, a spec-file feed (standalone worker) or the control
/// plane's own database (embedded worker) provides it.
/// </summary>
public interface IPipelineAssignmentFeed
{
    Task<IReadOnlyList<PipelineAssignment>> GetAssignmentsAsync(CancellationToken cancellationToken);
}

/// <summary>A pipeline this worker should run (or hold paused), as the control plane assigned it.</summary>
/// <param name="Spec">The spec, epoch and secrets.</param>
/// <param name="State">Running, or paused (the pipeline keeps its position and slot but does not run).</param>
public sealed record PipelineAssignment(PipelineSpec Spec, DesiredState State);
