namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// Many shared holders or one exclusive holder. A waiting exclusive holder stops new shared holders from entering, so a
/// stream of snapshot chunks cannot starve a claim or an apply.
/// </summary>
internal sealed class AsyncReaderWriterLock
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly Lock _sync = new();
    private int _shared;
    private TaskCompletionSource? _drained;

    public async Task<IDisposable> EnterSharedAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        lock (_sync)
        {
            _shared++;
        }

        _gate.Release();
        return new Releaser(this, exclusive: false);
    }

    public async Task<IDisposable> EnterExclusiveAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            Task drained;
            lock (_sync)
            {
                if (_shared == 0)
                {
                    return new Releaser(this, exclusive: true);
                }

                _drained = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                drained = _drained.Task;
            }

            await drained.WaitAsync(cancellationToken).ConfigureAwait(false);
            return new Releaser(this, exclusive: true);
        }
        catch
        {
            lock (_sync)
            {
                _drained = null;
            }

            _gate.Release();
            throw;
        }
    }

    private void ExitShared()
    {
        lock (_sync)
        {
            _shared--;
            if (_shared == 0 && _drained is { } drained)
            {
                _drained = null;
                drained.TrySetResult();
            }
        }
    }

    private sealed class Releaser(AsyncReaderWriterLock owner, bool exclusive) : IDisposable
    {
        private int _released;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _released, 1) != 0)
            {
                return;
            }

            if (exclusive)
            {
                owner._gate.Release();
            }
            else
            {
                owner.ExitShared();
            }
        }
    }
}
