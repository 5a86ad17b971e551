using System.Collections.Concurrent;
using Freshet.Emulators.Snowflake.Sql;

namespace Freshet.Emulators.Snowflake.Engine;

/// <summary>A parsed POST /api/v2/statements body.</summary>
internal sealed record SubmittedRequest(
    string Statement, int TimeoutSeconds, string? Database, string? Schema, IReadOnlyDictionary<int, Binding> Bindings, int? MultiStatementCount);

/// <summary>Runs submitted requests on the engine and keeps their records for polling, partitions and cancellation.</summary>
internal sealed class StatementService(DuckDbEngine engine, SnowflakeEmulatorOptions options)
{
    // Statements that change the session rather than data: the SQL API accepts them only inside a multi-statement request
    // (docs: "Submitting multiple SQL statements in a single request").
    private static readonly HashSet<string> SessionStatements = new(StringComparer.Ordinal)
    {
        "BEGIN", "START", "COMMIT", "ROLLBACK", "USE", "ALTER SESSION", "SET", "UNSET",
    };

    private readonly ConcurrentDictionary<string, StatementRecord> _byHandle = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StatementRecord> _byRequestId = new(StringComparer.Ordinal);
    private readonly Lock _holdLock = new();
    private TaskCompletionSource? _hold;
    private int _executedRequests;
    private long _executedStatements;

    public int ExecutedRequests => Volatile.Read(ref _executedRequests);

    public long ExecutedStatements => Interlocked.Read(ref _executedStatements);

    public StatementRecord? Find(string handle) => _byHandle.GetValueOrDefault(handle);

    public StatementRecord? FindByRequestId(string requestId) => _byRequestId.GetValueOrDefault(requestId);

    public IDisposable Hold()
    {
        lock (_holdLock)
        {
            _hold ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        return new Release(this);
    }

    public void ReleaseHold()
    {
        lock (_holdLock)
        {
            _hold?.TrySetResult();
            _hold = null;
        }
    }

    /// <summary>Validates and starts a request; the returned record completes when it has run.</summary>
    public StatementRecord Submit(SubmittedRequest request, string? requestId)
    {
        List<List<Token>> split;
        try
        {
            split = SqlTokenizer.SplitStatements(request.Statement);
        }
        catch (SqlSyntaxException exception)
        {
            throw SqlApiError.Compilation(exception.Message);
        }
        if (split.Count == 0)
        {
            throw SqlApiError.Compilation("Empty SQL statement.");
        }
        var desired = request.MultiStatementCount ?? 1;
        if (desired != 0 && desired != split.Count)
        {
            throw SqlApiError.Execution("000008", "0A000", $"Actual statement count {split.Count} did not match the desired statement count {desired}.");
        }
        var translated = new List<TranslatedStatement>();
        var nextBinding = 1;
        try
        {
            foreach (var tokens in split)
            {
                translated.Add(SnowflakeToDuckDb.Translate(tokens, ref nextBinding));
            }
        }
        catch (SqlSyntaxException exception)
        {
            throw SqlApiError.Compilation(exception.Message);
        }
        var isMultiStatement = request.MultiStatementCount is not null and not 1;
        if (!isMultiStatement)
        {
            var first = translated[0];
            var kind = first.FirstKeyword == "ALTER" && first.Sql.TrimStart().Split(' ', 3, StringSplitOptions.RemoveEmptyEntries) is [_, var second, ..]
                && second.Equals("SESSION", StringComparison.OrdinalIgnoreCase) ? "ALTER SESSION" : first.FirstKeyword;
            if (SessionStatements.Contains(kind))
            {
                throw SqlApiError.Execution("990002", "0A000",
                    $"{kind} is supported only in a multi-statement request (set parameters.MULTI_STATEMENT_COUNT). [emulator code]");
            }
        }

        var record = new StatementRecord(NewHandle(), requestId, request.TimeoutSeconds) { CreatedOn = options.TimeProvider.GetUtcNow() };
        var children = isMultiStatement
            ? translated.Select(_ => new StatementRecord(NewHandle(), requestId, request.TimeoutSeconds) { CreatedOn = record.CreatedOn }).ToList()
            : [];
        record.ChildHandles = children.Select(c => c.Handle).ToList();
        _byHandle[record.Handle] = record;
        foreach (var child in children)
        {
            _byHandle[child.Handle] = child;
        }
        if (requestId is not null)
        {
            _byRequestId[requestId] = record;
        }
        if (request.TimeoutSeconds > 0)
        {
            record.Cancellation.CancelAfter(TimeSpan.FromSeconds(request.TimeoutSeconds));
        }
        _ = Task.Run(() => RunAsync(record, children, translated, request));
        return record;
    }

    public bool Cancel(StatementRecord record)
    {
        if (record.State != StatementState.Running)
        {
            return false;
        }
        record.CancelRequested = true;
        record.Cancellation.Cancel();
        return true;
    }

    private async Task RunAsync(StatementRecord record, List<StatementRecord> children, List<TranslatedStatement> statements, SubmittedRequest request)
    {
        var token = record.Cancellation.Token;
        try
        {
            var results = await engine.ExecuteAsync(statements, request.Bindings, request.Database, request.Schema, WaitWhileHeldAsync, token);
            CountExecuted(statements.Count);
            if (children.Count == 0)
            {
                record.Result = results[0];
            }
            else
            {
                for (var i = 0; i < children.Count; i++)
                {
                    children[i].Result = results[i];
                    children[i].State = StatementState.Succeeded;
                    children[i].Completion.TrySetResult();
                }
                record.Result = new StatementResult(
                    [new ResultColumn("multiple statement execution", "text", null, null, false)], [["Multiple statements executed successfully."]], null);
            }
            record.State = StatementState.Succeeded;
        }
        catch (OperationCanceledException)
        {
            record.State = record.CancelRequested ? StatementState.Canceled : StatementState.TimedOut;
        }
        catch (SqlApiError error)
        {
            CountExecuted(statements.Count);
            record.Error = error;
            record.State = StatementState.Failed;
        }
        catch (Exception exception)
        {
            record.Error = SqlApiError.Execution("000603", "XX000", "Internal error: " + exception.Message);
            record.State = StatementState.Failed;
        }
        foreach (var child in children.Where(c => c.State == StatementState.Running))
        {
            child.State = record.State == StatementState.Succeeded ? StatementState.Failed : record.State;
            child.Error = record.Error;
            child.Completion.TrySetResult();
        }
        record.Completion.TrySetResult();
    }

    // A request that failed part way counts all its statements: the service compiled them all and the bill follows the
    // request's warehouse time, not how far it got.
    private void CountExecuted(int statementCount)
    {
        Interlocked.Add(ref _executedStatements, statementCount);
        Interlocked.Increment(ref _executedRequests);
    }

    private Task WaitWhileHeldAsync(int statementIndex, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        Task? hold;
        lock (_holdLock)
        {
            hold = _hold?.Task;
        }
        return hold is null ? Task.CompletedTask : hold.WaitAsync(cancellationToken);
    }

    // Snowflake's handles are UUIDs.
    private static string NewHandle() => Guid.NewGuid().ToString();

    private sealed class Release(StatementService service) : IDisposable
    {
        public void Dispose() => service.ReleaseHold();
    }
}
