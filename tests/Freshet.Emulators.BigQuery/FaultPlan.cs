namespace Freshet.Emulators.BigQuery;

/// <summary>Which surface an injected fault hits.</summary>
public enum FaultTarget
{
    /// <summary>REST calls (tables, datasets, jobs): HTTP 429 or 503 with Retry-After.</summary>
    Rest,

    /// <summary>AppendRows requests: the call ends with RESOURCE_EXHAUSTED or UNAVAILABLE and a google.rpc.RetryInfo.</summary>
    Storage,
}

/// <summary>What an injected fault answers.</summary>
public enum FaultKind
{
    /// <summary>429 / RESOURCE_EXHAUSTED: quota or rate limit.</summary>
    Throttled,

    /// <summary>503 / UNAVAILABLE: the backend is briefly unavailable.</summary>
    Unavailable,
}

/// <summary>Failures the emulator answers with on demand, before looking at the request they replace.</summary>
internal sealed class FaultPlan
{
    private readonly Lock _lock = new();
    private readonly Dictionary<FaultTarget, Queue<(FaultKind Kind, TimeSpan RetryAfter)>> _queued = new()
    {
        [FaultTarget.Rest] = new(),
        [FaultTarget.Storage] = new(),
    };

    private int _served;

    /// <summary>Faults answered so far.</summary>
    public int Served
    {
        get
        {
            lock (_lock)
            {
                return _served;
            }
        }
    }

    private readonly Dictionary<FaultTarget, int> _passFirst = new() { [FaultTarget.Rest] = 0, [FaultTarget.Storage] = 0 };

    /// <summary>Queues <paramref name="count"/> faults that start after <paramref name="afterRequests"/> more requests have passed.</summary>
    public void Add(FaultTarget target, FaultKind kind, int count, TimeSpan retryAfter, int afterRequests = 0)
    {
        lock (_lock)
        {
            _passFirst[target] = afterRequests;
            for (var i = 0; i < count; i++)
            {
                _queued[target].Enqueue((kind, retryAfter));
            }
        }
    }

    public (FaultKind Kind, TimeSpan RetryAfter)? Next(FaultTarget target)
    {
        lock (_lock)
        {
            if (_queued[target].Count > 0 && _passFirst[target] > 0)
            {
                _passFirst[target]--;
                return null;
            }
            if (_queued[target].TryDequeue(out var fault))
            {
                _served++;
                return fault;
            }
            return null;
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            foreach (var queue in _queued.Values)
            {
                queue.Clear();
            }
        }
    }
}
