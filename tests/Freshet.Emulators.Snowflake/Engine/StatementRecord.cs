namespace Freshet.Emulators.Snowflake.Engine;

internal enum StatementState
{
    Running,
    Succeeded,
    Failed,
    Canceled,
    TimedOut,
}

/// <summary>A submitted request (or one statement of a multi-statement request) and what became of it.</summary>
internal sealed class StatementRecord(string handle, string? requestId, int timeoutSeconds)
{
    public string Handle { get; } = handle;
    public string? RequestId { get; } = requestId;
    public int TimeoutSeconds { get; } = timeoutSeconds;
    public DateTimeOffset CreatedOn { get; init; }
    public CancellationTokenSource Cancellation { get; } = new();
    public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public volatile bool CancelRequested;
    public StatementState State { get; set; } = StatementState.Running;
    public StatementResult? Result { get; set; }
    public SqlApiError? Error { get; set; }
    public IReadOnlyList<string> ChildHandles { get; set; } = [];
}
