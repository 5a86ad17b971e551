namespace Freshet.ControlPlane.Scheduler.Workers;

/// <summary>A data-plane process that can run pipelines, alive while its lease is renewed.</summary>
internal sealed class Worker
{
    public Guid Id { get; set; }

    public required string Name { get; set; }

    public string? Zone { get; set; }

    public Dictionary<string, string> Labels { get; set; } = [];

    /// <summary>How many pipelines it may run at once.</summary>
    public int Capacity { get; set; }

    public required string Version { get; set; }

    public DateTimeOffset RegisteredAt { get; set; }

    public DateTimeOffset LastHeartbeatAt { get; set; }

    /// <summary>The worker holds its pipelines only until this instant unless it renews.</summary>
    public DateTimeOffset LeaseExpiresAt { get; set; }

    /// <summary>It takes no new pipelines and hands back the ones it runs (it said so, or an operator asked).</summary>
    public bool Draining { get; set; }

    /// <summary>An operator asked it to drain; its heartbeat answers say so until it exits.</summary>
    public bool DrainRequested { get; set; }

    /// <summary>When it started draining; past the drain timeout the scheduler moves what it still holds.</summary>
    public DateTimeOffset? DrainingSince { get; set; }

    /// <summary>Bumped whenever a placement onto or off this worker commits, so the worker knows to read them again.</summary>
    public long AssignmentsVersion { get; set; }
}
