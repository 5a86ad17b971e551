namespace Freshet.DataPlane;

/// <summary>Worker-wide settings (section <c>Freshet:Worker</c>).</summary>
public sealed class DataPlaneOptions
{
    public const string Section = "Freshet:Worker";

    /// <summary>Idle time after which a heartbeat is written to a PostgreSQL source so its slot keeps moving.</summary>
    public TimeSpan SourceHeartbeatInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Memory per in-progress streamed transaction before it spills to disk.</summary>
    public long StreamBufferLimitBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>Folder for spilled transactions; the temp folder when empty.</summary>
    public string? SpillDirectory { get; set; }

    /// <summary>First delay before a failed run is retried; doubles up to <see cref="MaxRestartDelay"/>.</summary>
    public TimeSpan MinRestartDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRestartDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often assignments are re-read (level-triggered reconciliation).</summary>
    public TimeSpan AssignmentPollInterval { get; set; } = TimeSpan.FromSeconds(2);
}
