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

    public bool Draining { get; set; }
}
