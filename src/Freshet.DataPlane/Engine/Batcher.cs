using System.Collections.Concurrent;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;

namespace Freshet.DataPlane.Engine;

/// <summary>What the writer does next, in source order.</summary>
internal abstract record WriterItem;

internal sealed record ApplyBatch(ChangeBatch Batch, long Ticket) : WriterItem;

internal sealed record ApplySchema(TableSchema Schema) : WriterItem;

internal sealed record FailTable(TableId Table, string Reason) : WriterItem;

/// <summary>
/// Cuts the source's event stream into destination batches: at a source commit once the oldest change has waited
/// the latency target, or when rows/bytes reach their limits (rows: up to <see cref="BehindRowsFactor"/> times the
/// limit while the writer is busy). Batches end on commit boundaries unless one source transaction alone exceeds the
/// limits (then it is delivered in parts, each remembering how far into it it got).
/// Changes at or before the checkpoint's applied point are replays and are dropped here (a block of inserts that
/// straddles it is sliced).
/// </summary>
/// <remarks>
/// Blocks of inserts (<see cref="SourceEventKind.Inserts"/>) count toward the row limit like the changes they hold,
/// unless <paramref name="blocksWithinBytesOnly"/> (the destination writes blocks as they are): then, while the writer
/// is busy, only the byte limit bounds them (an idle writer still gets a batch at the row limit, so that a backlog's
/// first batch is written while the next fills). A block costs a few tens of bytes a row where a change costs several hundred and a collection's
/// worth of objects, so the same memory holds a catch-up's batch ten times larger, and a destination's per-batch costs
/// (DuckDB: the key-range check and the commit) are paid that many times less. A live trickle is cut by the latency
/// target long before either limit, so its batches do not change.
/// </remarks>
internal sealed class Batcher(
    DeliverySpec delivery,
    (long Position, long Sequence) appliedThrough,
    string resumePosition,
    ConcurrentDictionary<TableId, string> quarantined,
    PipelineProgress progress,
    TimeProvider time,
    Func<bool>? writerBusy = null,
    bool blocksWithinBytesOnly = false)
{
    /// <summary>
    /// While the writer is busy, a batch that reached the row limit grows on, up to this many times it (the byte limit
    /// still holds), ending at a commit when the writer is free or at that size: a pipeline behind its source (a backlog
    /// after a restart, a burst) then writes fewer, larger destination transactions. Their fixed costs (in DuckDB the
    /// key-range check and the commit's WAL sync, about 17 ms) were a third of a 10,000-row batch's time. Twice, not more:
    /// up to three batches are held at once (one written, one queued, one filling), so this is what bounds memory.
    /// </summary>
    internal const int BehindRowsFactor = 2;

    /// <summary>How often a batch that is due re-checks whether the writer has become free.</summary>
    private static readonly TimeSpan BusyRecheck = TimeSpan.FromMilliseconds(5);

    private readonly List<BatchItem> _changes = [];
    private readonly TimeSpan _maxDelay = TimeSpan.FromMilliseconds(delivery.MaxBatchDelayMilliseconds);
    private (long Position, long Sequence) _applied = appliedThrough;
    private string _resumePosition = resumePosition;
    private int _committedCount;

    // Rows counted toward the row limit (blocks' rows unless blocksWithinBytesOnly), in all and up to the last commit;
    // and every row, blocks' included.
    private long _rows;
    private long _committedRows;
    private long _allRows;
    private long _committedAllRows;
    private TransactionCommit? _lastCommit;
    private long _bytes;
    private long _committedBytes;
    private long? _firstAt;
    private DateTimeOffset? _firstReceivedAt;

    public async Task RunAsync(ChannelReader<SourceEvent> input, ChannelWriter<WriterItem> output, CancellationToken cancellationToken)
    {
        while (true)
        {
            var deadline = _firstAt is { } first ? _maxDelay - time.GetElapsedTime(first) : Timeout.InfiniteTimeSpan;
            if (_firstAt is not null && deadline <= TimeSpan.Zero)
            {
                // Due. While the writer is still busy with earlier batches the batch keeps growing (up to its row and
                // byte limits) instead of queueing behind them: fewer, larger destination commits when behind, and
                // the same latency as cutting now, since nothing could be written sooner anyway.
                if (_lastCommit is not null && writerBusy?.Invoke() != true)
                {
                    await CutAtCommitAsync(output, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                deadline = _lastCommit is null ? _maxDelay : BusyRecheck;
            }

            if (!input.TryRead(out var sourceEvent))
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                if (deadline != Timeout.InfiniteTimeSpan)
                {
                    wait.CancelAfter(deadline);
                }

                try
                {
                    if (!await input.WaitToReadAsync(wait.Token).ConfigureAwait(false))
                    {
                        return;
                    }
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // The latency target passed while waiting: cut at the next loop turn.
                }

                continue;
            }

            switch (sourceEvent.Kind)
            {
                case SourceEventKind.Change:
                    var change = sourceEvent.Change!;
                    if ((change.Position, change.Sequence).CompareTo(_applied) <= 0 || quarantined.ContainsKey(change.Table.Source))
                    {
                        break;
                    }

                    await AddAsync(BatchItem.Of(change), change.ApproximateBytes, 1, output, cancellationToken).ConfigureAwait(false);
                    break;
                case SourceEventKind.Inserts:
                    var block = sourceEvent.Block!;
                    if ((block.Position, block.LastSequence).CompareTo(_applied) <= 0 || quarantined.ContainsKey(block.Table.Source))
                    {
                        break;
                    }

                    if ((block.Position, block.FirstSequence).CompareTo(_applied) <= 0)
                    {
                        block = block.Slice((int)(_applied.Sequence - block.FirstSequence + 1));
                    }

                    await AddAsync(BatchItem.Of(block), block.ApproximateBytes, blocksWithinBytesOnly ? 0 : block.Count, output, cancellationToken).ConfigureAwait(false);
                    break;
                case SourceEventKind.Commit:
                    var commit = sourceEvent.Commit!;
                    _lastCommit = commit;
                    _committedCount = _changes.Count;
                    _committedRows = _rows;
                    _committedAllRows = _allRows;
                    _committedBytes = _bytes;
                    _firstAt ??= time.GetTimestamp();
                    _firstReceivedAt ??= time.GetUtcNow();
                    break;
                case SourceEventKind.SchemaChanged:
                    // Changes before the new shape go out first; the writer then adapts the target before later ones.
                    await CutPartialAsync(output, cancellationToken).ConfigureAwait(false);
                    await output.WriteAsync(new ApplySchema(sourceEvent.Schema!), cancellationToken).ConfigureAwait(false);
                    break;
                case SourceEventKind.TableFailed:
                    await CutPartialAsync(output, cancellationToken).ConfigureAwait(false);
                    await output.WriteAsync(new FailTable(sourceEvent.Table!.Value, sourceEvent.Error!), cancellationToken).ConfigureAwait(false);
                    break;
            }
        }
    }

    private async ValueTask AddAsync(BatchItem item, long bytes, long rows, ChannelWriter<WriterItem> output, CancellationToken cancellationToken)
    {
        _firstAt ??= time.GetTimestamp();
        _firstReceivedAt ??= time.GetUtcNow();
        _changes.Add(item);
        _bytes += bytes;
        _rows += rows;
        _allRows += item.RowCount;
        progress.Read(bytes);
        // Blocks within the byte limit only grow past the row limit while the writer is busy: an idle writer gets a batch
        // at the row limit as before, so that a backlog's first batch starts being written while the next fills.
        if (_rows >= delivery.MaxBatchRows || _bytes >= delivery.MaxBatchBytes
            || (_allRows >= delivery.MaxBatchRows && _allRows > _rows && writerBusy?.Invoke() != true))
        {
            if (_committedCount == 0)
            {
                await CutPartialAsync(output, cancellationToken).ConfigureAwait(false);
            }
            else if (_bytes >= delivery.MaxBatchBytes
                || _rows >= (long)delivery.MaxBatchRows * BehindRowsFactor
                || writerBusy?.Invoke() != true)
            {
                await CutAtCommitAsync(output, cancellationToken).ConfigureAwait(false);
            }

            // Otherwise the writer is still busy with earlier batches: this one grows on (see BehindRowsFactor).
        }
    }

    /// <summary>Sends every change up to the last source commit seen; the checkpoint moves past that transaction.</summary>
    private async ValueTask CutAtCommitAsync(ChannelWriter<WriterItem> output, CancellationToken cancellationToken)
    {
        var commit = _lastCommit!;
        var changes = _changes.GetRange(0, _committedCount);
        _changes.RemoveRange(0, _committedCount);
        _resumePosition = commit.ResumePosition;
        _applied = (commit.Position, long.MaxValue);
        var batch = new ChangeBatch
        {
            Items = changes,
            ResumePosition = commit.ResumePosition,
            AppliedThrough = _applied,
            AcknowledgePosition = commit.AcknowledgePosition,
            LastCommittedAt = commit.CommittedAt,
            FirstReceivedAt = _firstReceivedAt ?? time.GetUtcNow(),
            ApproximateBytes = _committedBytes,
        };
        _bytes -= _committedBytes;
        _committedBytes = 0;
        _rows -= _committedRows;
        _committedRows = 0;
        _allRows -= _committedAllRows;
        _committedAllRows = 0;
        _committedCount = 0;
        _lastCommit = null;
        _firstAt = _changes.Count > 0 ? time.GetTimestamp() : null;
        _firstReceivedAt = _changes.Count > 0 ? time.GetUtcNow() : null;
        await SendAsync(output, batch, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Sends everything gathered, including a transaction that has not committed at the source yet: used for a
    /// transaction larger than a batch, and before a schema change. The checkpoint keeps the resume position of the last
    /// whole transaction and records how far into the current one the destination got.
    /// </summary>
    private async ValueTask CutPartialAsync(ChannelWriter<WriterItem> output, CancellationToken cancellationToken)
    {
        if (_committedCount > 0 || (_lastCommit is not null && _changes.Count == 0))
        {
            await CutAtCommitAsync(output, cancellationToken).ConfigureAwait(false);
        }

        if (_changes.Count == 0)
        {
            return;
        }

        _applied = _changes[^1].Last;
        var batch = new ChangeBatch
        {
            Items = [.. _changes],
            ResumePosition = _resumePosition,
            AppliedThrough = _applied,
            AcknowledgePosition = null,
            LastCommittedAt = null,
            FirstReceivedAt = _firstReceivedAt ?? time.GetUtcNow(),
            ApproximateBytes = _bytes,
        };
        _changes.Clear();
        _bytes = 0;
        _rows = 0;
        _allRows = 0;
        _firstAt = null;
        _firstReceivedAt = null;
        await SendAsync(output, batch, cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask SendAsync(ChannelWriter<WriterItem> output, ChangeBatch batch, CancellationToken cancellationToken)
    {
        var oldest = batch.Items is [var first, ..] ? first.CommittedAt : batch.LastCommittedAt ?? time.GetUtcNow();
        var ticket = batch.Items is [_, ..] ? progress.Pending(oldest) : 0;
        await output.WriteAsync(new ApplyBatch(batch, ticket), cancellationToken).ConfigureAwait(false);
    }
}
