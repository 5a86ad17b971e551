namespace Freshet.ControlPlane.Scheduler.Placement;

/// <summary>
/// The placement of one pipeline on one worker under an epoch. Every new placement gets a higher epoch, and a
/// destination refuses commits from a lower one, so a worker that lost its lease cannot write.
/// </summary>
internal sealed class Assignment
{
    public Guid PipelineId { get; set; }

    public Guid TenantId { get; set; }

    public Guid WorkerId { get; set; }

    public long Epoch { get; set; }

    /// <summary>The pipeline generation the worker was told to run.</summary>
    public long Generation { get; set; }

    public DateTimeOffset AssignedAt { get; set; }
}
