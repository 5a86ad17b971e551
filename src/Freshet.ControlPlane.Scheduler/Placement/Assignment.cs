namespace Freshet.ControlPlane.Scheduler.Placement;

/// <summary>
/// The placement of one pipeline under an epoch. Every new placement gets a higher epoch, and a destination refuses
/// commits from a lower one, so a worker that lost its lease cannot write. The row outlives the placement (worker
/// null: paused, pending, handed back) so the pipeline's last epoch is never forgotten.
/// </summary>
internal sealed class Assignment
{
    public Guid PipelineId { get; set; }

    public Guid TenantId { get; set; }

    /// <summary>The worker that runs it, or null when it runs nowhere.</summary>
    public Guid? WorkerId { get; set; }

    /// <summary>The current placement's epoch, or the last one's when it runs nowhere.</summary>
    public long Epoch { get; set; }

    /// <summary>The pipeline generation the worker was told to run.</summary>
    public long Generation { get; set; }

    public DateTimeOffset AssignedAt { get; set; }

    /// <summary>The pipeline was deleted: its worker drops the source slot and publication, confirms, and the row goes.</summary>
    public bool DropRequested { get; set; }

    /// <summary>An operator asked to move it (to <see cref="MoveTo"/>, or anywhere else when null).</summary>
    public DateTimeOffset? MoveRequestedAt { get; set; }

    public Guid? MoveTo { get; set; }

    /// <summary>The worker's last progress report under this epoch (JSON of <c>PipelineProgressReport</c>).</summary>
    public string? Report { get; set; }

    public DateTimeOffset? ReportedAt { get; set; }
}
