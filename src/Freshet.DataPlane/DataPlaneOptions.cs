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

    /// <summary>
    /// DuckDB's <c>memory_limit</c>, in MB, for each destination file this worker writes (its buffer pool; large
    /// intermediates spill to <c>&lt;file&gt;.tmp</c>). DuckDB's own default is 80 % of the machine's memory, far more than
    /// a worker running beside others should take. A write that still runs out doubles the limit, up to
    /// <see cref="DuckDbMaxMemoryLimitMb"/>, and is tried again. 32 MB keeps a worker snapshotting two chunks at once
    /// under 300 MB (64 MB: 308–339 MB, at the same speed).
    /// </summary>
    public int DuckDbMemoryLimitMb { get; set; } = 32;

    /// <summary>The most <see cref="DuckDbMemoryLimitMb"/> grows to when writes run out of memory.</summary>
    public int DuckDbMaxMemoryLimitMb { get; set; } = 1024;

    /// <summary>
    /// DuckDB's <c>threads</c> for each destination file. Batches are small and pipelines run side by side, so one
    /// thread per file leaves the cores to decoding and to other pipelines.
    /// </summary>
    public int DuckDbThreads { get; set; } = 1;

    /// <summary>
    /// DuckDB's <c>checkpoint_threshold</c>, in MB: the write-ahead log grows to this size before DuckDB folds it into the
    /// file. Each checkpoint compresses the table's last, partly filled row group again, so DuckDB's 16 MB default
    /// spends about half of a streaming pipeline's commit time re-compressing the same rows (pg-stream: commits took
    /// 6.8 s at 16 MB against 3.2 s at 128 MB for 1.3 M rows). A larger log costs disk and a longer replay when the file
    /// is next opened, not memory: the buffer pool stays within <see cref="DuckDbMemoryLimitMb"/>.
    /// </summary>
    public int DuckDbCheckpointThresholdMb { get; set; } = 128;

    /// <summary>How often assignments are re-read (level-triggered reconciliation).</summary>
    public TimeSpan AssignmentPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Throws with the setting's name and what it must be when a value cannot work.</summary>
    public void Validate()
    {
        List<string> errors = [];
        if (DuckDbMemoryLimitMb < 16)
        {
            errors.Add($"{Section}:DuckDbMemoryLimitMb must be at least 16 (MB); it is {DuckDbMemoryLimitMb}.");
        }

        if (DuckDbMaxMemoryLimitMb < DuckDbMemoryLimitMb)
        {
            errors.Add($"{Section}:DuckDbMaxMemoryLimitMb ({DuckDbMaxMemoryLimitMb}) must be at least DuckDbMemoryLimitMb ({DuckDbMemoryLimitMb}).");
        }

        if (DuckDbThreads < 1)
        {
            errors.Add($"{Section}:DuckDbThreads must be at least 1; it is {DuckDbThreads}.");
        }

        if (DuckDbCheckpointThresholdMb < 1)
        {
            errors.Add($"{Section}:DuckDbCheckpointThresholdMb must be at least 1 (MB); it is {DuckDbCheckpointThresholdMb}.");
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Invalid worker settings: " + string.Join(" ", errors));
        }
    }
}
