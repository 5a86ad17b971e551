using System.Diagnostics.CodeAnalysis;
using System.Threading.Channels;
using Freshet.DataPlane.Sources;

namespace Freshet.DataPlane.Engine;

/// <summary>
/// The source's events on their way to the batcher, bounded by count (as before) and, for blocks of inserts, by bytes:
/// a block holds up to thousands of rows, so a count bound alone would let a source that reads faster than the
/// destination writes (a binlog backlog) hold gigabytes in the channel. A block waits while the blocks already queued
/// take <paramref name="blockBytes"/> or more (one larger than that still passes once the channel holds no block).
/// </summary>
internal sealed class SourceEventChannel(int capacity, long blockBytes)
{
    private readonly long _blockBytes = blockBytes;

    private readonly Channel<SourceEvent> _channel = Channel.CreateBounded<SourceEvent>(
        new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true, FullMode = BoundedChannelFullMode.Wait });

    private readonly SemaphoreSlim _released = new(0);
    private long _queuedBytes;

    private ChannelWriter<SourceEvent>? _writer;
    private ChannelReader<SourceEvent>? _reader;

    public ChannelWriter<SourceEvent> Writer => _writer ??= new BudgetWriter(this);

    public ChannelReader<SourceEvent> Reader => _reader ??= new BudgetReader(this);

    private async ValueTask ReserveAsync(long bytes, CancellationToken cancellationToken)
    {
        while (!TryReserve(bytes))
        {
            // Only the reader releases; a release between the check and this wait leaves the semaphore counted.
            await _released.WaitAsync(TimeSpan.FromMilliseconds(50), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Counts a block's bytes as queued when the budget has room for them (or nothing else is queued).</summary>
    private bool TryReserve(long bytes)
    {
        // One writer: nothing else adds between the read and the add.
        var queued = Interlocked.Read(ref _queuedBytes);
        if (queued != 0 && queued + bytes > _blockBytes)
        {
            return false;
        }

        Interlocked.Add(ref _queuedBytes, bytes);
        return true;
    }

    private void Release(SourceEvent sourceEvent)
    {
        if (sourceEvent.Block is { } block)
        {
            Interlocked.Add(ref _queuedBytes, -block.ApproximateBytes);

            // One signal is enough for the one writer (it re-checks the budget, and polls besides); more would pile up
            // over a long run until the semaphore's count overflowed.
            if (_released.CurrentCount == 0)
            {
                _released.Release();
            }
        }
    }

    private sealed class BudgetWriter(SourceEventChannel owner) : ChannelWriter<SourceEvent>
    {
        public override bool TryComplete(Exception? error = null) => owner._channel.Writer.TryComplete(error);

        public override bool TryWrite(SourceEvent item)
        {
            if (item.Block is not { } block)
            {
                return owner._channel.Writer.TryWrite(item);
            }

            if (!owner.TryReserve(block.ApproximateBytes))
            {
                return false;
            }

            if (owner._channel.Writer.TryWrite(item))
            {
                return true;
            }

            Interlocked.Add(ref owner._queuedBytes, -block.ApproximateBytes);
            return false;
        }

        public override ValueTask<bool> WaitToWriteAsync(CancellationToken cancellationToken = default) =>
            owner._channel.Writer.WaitToWriteAsync(cancellationToken);

        public override async ValueTask WriteAsync(SourceEvent item, CancellationToken cancellationToken = default)
        {
            if (item.Block is { } block)
            {
                await owner.ReserveAsync(block.ApproximateBytes, cancellationToken).ConfigureAwait(false);
            }

            await owner._channel.Writer.WriteAsync(item, cancellationToken).ConfigureAwait(false);
        }
    }

    private sealed class BudgetReader(SourceEventChannel owner) : ChannelReader<SourceEvent>
    {
        public override Task Completion => owner._channel.Reader.Completion;

        public override int Count => owner._channel.Reader.Count;

        public override bool CanCount => true;

        public override bool TryRead([MaybeNullWhen(false)] out SourceEvent item)
        {
            if (!owner._channel.Reader.TryRead(out item))
            {
                return false;
            }

            owner.Release(item);
            return true;
        }

        public override ValueTask<bool> WaitToReadAsync(CancellationToken cancellationToken = default) =>
            owner._channel.Reader.WaitToReadAsync(cancellationToken);
    }
}
