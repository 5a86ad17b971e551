using System.Collections.Concurrent;
using Freshet.Contracts;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;

namespace Freshet.DataPlane.Engine;

/// <summary>Thread-safe accumulator the engine updates and reporters read.</summary>
public sealed class PipelineProgress(Guid pipelineId, long epoch, TimeProvider time)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<TableId, TableCounters> _tables = [];
    private readonly Queue<(long Timestamp, long Rows, long Bytes, long RowsRead, long BytesRead)> _samples = new();
    private readonly ConcurrentDictionary<long, DateTimeOffset> _pending = new();
    private PipelineRunState _state = PipelineRunState.Starting;
    private string? _reason;
    private DateTimeOffset? _nextAttemptAt;
    private long? _committedPosition;
    private DateTimeOffset? _lastDeliveryAt;
    private DateTimeOffset? _lastSourceCommitAt;
    private long _rows;
    private long _bytes;
    // Taken in from the source: bumped by the batcher per change without the lock (one writer, read under the lock).
    private long _rowsRead;
    private long _bytesRead;
    private long _batches;
    private long _retries;
    private long _errors;
    private long _pendingIds;
    private Func<SourceStatus> _sourceStatus = () => SourceStatus.Unknown;
    private IReadOnlyList<Guid>? _handledResnapshots;

    public Guid PipelineId { get; } = pipelineId;

    public long Epoch { get; } = epoch;

    internal void SetSourceStatus(Func<SourceStatus> sourceStatus) => _sourceStatus = sourceStatus;

    internal void SetState(PipelineRunState state, string? reason = null, DateTimeOffset? nextAttemptAt = null)
    {
        lock (_lock)
        {
            _state = state;
            _reason = reason;
            _nextAttemptAt = nextAttemptAt;
        }
    }

    /// <summary>The spec's re-snapshot requests whose tables the destination now holds copied again.</summary>
    internal void ResnapshotsHandled(IReadOnlyList<Guid> requests)
    {
        lock (_lock)
        {
            _handledResnapshots = requests.Count == 0 ? null : requests;
        }
    }

    internal void Quarantined(TableId table, string reason)
    {
        lock (_lock)
        {
            Table(table).QuarantineReason = reason;
        }
    }

    internal void SnapshotPlanned(TableId table, int chunks, int done)
    {
        lock (_lock)
        {
            var counters = Table(table);
            counters.ChunksTotal = chunks;
            counters.ChunksDone = done;
        }
    }

    internal void SnapshotChunkDone(TableId table, long rows)
    {
        lock (_lock)
        {
            var counters = Table(table);
            counters.ChunksDone++;
            counters.SnapshotRows += rows;
            _rows += rows;
            Interlocked.Add(ref _rowsRead, rows);
            _lastDeliveryAt = time.GetUtcNow();
            Sample();
        }
    }

    /// <summary>Registers a batch that is waiting for the destination; returns its ticket for <see cref="Delivered"/>.</summary>
    internal long Pending(DateTimeOffset oldestCommit)
    {
        var id = Interlocked.Increment(ref _pendingIds);
        _pending[id] = oldestCommit;
        return id;
    }

    internal void Delivered(long ticket, Changes.ChangeBatch batch, long? committedPosition)
    {
        _pending.TryRemove(ticket, out _);
        lock (_lock)
        {
            // Batches are long runs of one table's changes: look its counters up once per run, not per change.
            TableSchema? lastSchema = null;
            TableCounters counters = null!;
            foreach (var item in batch.AllItems)
            {
                if (!ReferenceEquals(item.Table, lastSchema))
                {
                    counters = Table(item.Table.Source);
                    lastSchema = item.Table;
                }

                if (item.Block is { } block)
                {
                    counters.Inserted += block.Count;
                    continue;
                }

                switch (item.Change!.Kind)
                {
                    case Changes.ChangeKind.Insert:
                        counters.Inserted++;
                        break;
                    case Changes.ChangeKind.Update:
                        counters.Updated++;
                        break;
                    case Changes.ChangeKind.Delete:
                        counters.Deleted++;
                        break;
                }
            }

            _rows += batch.RowCount;
            _bytes += batch.ApproximateBytes;
            _batches++;
            _committedPosition = committedPosition ?? _committedPosition;
            _lastDeliveryAt = time.GetUtcNow();
            _lastSourceCommitAt = batch.LastCommittedAt ?? _lastSourceCommitAt;
            Sample();
        }
    }

    /// <summary>A change was taken in from the source (not a replay of what the destination holds).</summary>
    internal void Read(long approximateBytes)
    {
        Interlocked.Increment(ref _rowsRead);
        Interlocked.Add(ref _bytesRead, approximateBytes);
    }

    internal void Retried() => Interlocked.Increment(ref _retries);

    internal void Failed() => Interlocked.Increment(ref _errors);

    public PipelineProgressReport Report()
    {
        var now = time.GetUtcNow();
        var source = _sourceStatus();
        var head = source.HeadPosition;
        lock (_lock)
        {
            Sample();
            var (rowsPerSecond, bytesPerSecond, readRowsPerSecond, readBytesPerSecond) = Rates();
            // Enumerated once: the writer removes tickets concurrently, so checking for emptiness first could race.
            DateTimeOffset? oldest = null;
            foreach (var (_, pendingSince) in _pending)
            {
                oldest = oldest is { } earliest && earliest <= pendingSince ? earliest : pendingSince;
            }

            return new PipelineProgressReport(
                PipelineId,
                Epoch,
                _state,
                _reason,
                _nextAttemptAt,
                head,
                _committedPosition,
                head is { } h && _committedPosition is { } c ? Math.Max(0, h - c) : null,
                oldest is { } o ? Math.Max(0, (now - o).TotalSeconds) : 0,
                rowsPerSecond,
                bytesPerSecond,
                _lastDeliveryAt,
                _lastSourceCommitAt,
                source.RetainedBytes,
                _rows,
                _batches,
                Interlocked.Read(ref _retries),
                Interlocked.Read(ref _errors),
                _tables.ToDictionary(t => t.Key.ToString(), t => t.Value.Report()),
                now,
                _handledResnapshots,
                source.RetainedLimitBytes,
                source.RetainedLimitKind,
                readRowsPerSecond,
                readBytesPerSecond);
        }
    }

    private TableCounters Table(TableId table)
    {
        if (!_tables.TryGetValue(table, out var counters))
        {
            counters = new TableCounters();
            _tables[table] = counters;
        }

        return counters;
    }

    /// <summary>Keeps samples of the cumulative counts over the last ten seconds for the rates.</summary>
    private void Sample()
    {
        var now = time.GetTimestamp();
        _samples.Enqueue((now, _rows, _bytes, Interlocked.Read(ref _rowsRead), Interlocked.Read(ref _bytesRead)));
        while (_samples.Count > 2 && time.GetElapsedTime(_samples.Peek().Timestamp, now) > TimeSpan.FromSeconds(10))
        {
            _samples.Dequeue();
        }
    }

    private (double Rows, double Bytes, double RowsRead, double BytesRead) Rates()
    {
        if (_samples.Count < 2)
        {
            return (0, 0, 0, 0);
        }

        var first = _samples.Peek();
        var last = _samples.Last();
        var seconds = Math.Max(1, time.GetElapsedTime(first.Timestamp, last.Timestamp).TotalSeconds);
        return (
            (last.Rows - first.Rows) / seconds,
            (last.Bytes - first.Bytes) / seconds,
            (last.RowsRead - first.RowsRead) / seconds,
            (last.BytesRead - first.BytesRead) / seconds);
    }

    private sealed class TableCounters
    {
        public long Inserted;
        public long Updated;
        public long Deleted;
        public long SnapshotRows;
        public int ChunksDone;
        public int ChunksTotal;
        public string? QuarantineReason;

        public TableProgressReport Report() => new(Inserted, Updated, Deleted, SnapshotRows, ChunksDone, ChunksTotal, QuarantineReason);
    }
}
