namespace Freshet.Emulators.Snowflake.Api;

/// <summary>
/// Failures the emulator answers with on demand: throttling or unavailability before a request is looked at (429/503 with
/// Retry-After), or a lost response — the statement runs, and its answer is replaced by a 503, which is what a retry with the
/// same requestId must survive without running it twice.
/// </summary>
internal sealed class FaultPlan
{
    private readonly Lock _lock = new();
    private readonly Queue<Fault> _beforeRequest = new();
    private int _lostResponses;
    private int _served;

    /// <summary>Injected 429/503 answers given so far.</summary>
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

    public void Add(int status, int count, TimeSpan? retryAfter)
    {
        lock (_lock)
        {
            for (var i = 0; i < count; i++)
            {
                _beforeRequest.Enqueue(new Fault(status, retryAfter));
            }
        }
    }

    public void LoseResponses(int count)
    {
        lock (_lock)
        {
            _lostResponses += count;
        }
    }

    public Fault? NextBeforeRequest()
    {
        lock (_lock)
        {
            if (!_beforeRequest.TryDequeue(out var fault))
            {
                return null;
            }
            _served++;
            return fault;
        }
    }

    public bool TakeLostResponse()
    {
        lock (_lock)
        {
            if (_lostResponses == 0)
            {
                return false;
            }
            _lostResponses--;
            return true;
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _beforeRequest.Clear();
            _lostResponses = 0;
        }
    }
}

internal sealed record Fault(int Status, TimeSpan? RetryAfter);
