using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// The changes of one transaction the server streams before it commits. Kept in memory up to a budget, then appended
/// to a temporary file, so a transaction of any size costs bounded memory; deleted on commit (after replay) or abort.
/// </summary>
internal sealed class StreamedTransaction(uint xid, long memoryBudgetBytes, string? spillDirectory = null) : IDisposable
{
    private readonly List<(PendingChange Change, uint Subtransaction)> _memory = [];
    private readonly List<TableSchema> _schemas = [];
    private readonly List<SourceEvent> _events = [];
    private readonly HashSet<uint> _aborted = [];
    private long _memoryBytes;
    private string? _spillPath;
    private FileStream? _spill;
    private BinaryWriter? _writer;

    public uint Xid { get; } = xid;

    public bool Spilled => _spill is not null;

    public void Add(PendingChange change, uint subtransaction)
    {
        if (_spill is null && _memoryBytes + change.Size <= memoryBudgetBytes)
        {
            _memory.Add((change, subtransaction));
            _memoryBytes += change.Size;
            return;
        }

        var writer = EnsureSpill();
        writer.Write(subtransaction);
        if (change.Event is { } sourceEvent)
        {
            writer.Write((byte)255);
            writer.Write(_events.Count);
            _events.Add(sourceEvent);
            return;
        }

        writer.Write((byte)change.Kind);
        writer.Write(SchemaIndex(change.Table));
        writer.Write(change.Size);
        writer.Write(change.Values.Length);
        foreach (var value in change.Values)
        {
            SpillCodec.Write(writer, value);
        }

        writer.Write(change.OldKey is not null);
        if (change.OldKey is not null)
        {
            writer.Write(change.OldKey.Length);
            foreach (var value in change.OldKey)
            {
                SpillCodec.Write(writer, value);
            }
        }
    }

    public void AddEvent(SourceEvent sourceEvent) => Add(new PendingChange(null!, ChangeKind.Insert, [], null, 64, sourceEvent), Xid);

    public void AbortSubtransaction(uint subtransaction)
    {
        _aborted.Add(subtransaction);
        _memory.RemoveAll(entry => entry.Subtransaction == subtransaction);
    }

    /// <summary>The surviving changes in the order they were made.</summary>
    public IEnumerable<PendingChange> Replay()
    {
        foreach (var (change, subtransaction) in _memory)
        {
            if (!_aborted.Contains(subtransaction))
            {
                yield return change;
            }
        }

        if (_spill is null)
        {
            yield break;
        }

        _writer!.Flush();
        _spill.Position = 0;
        using var reader = new BinaryReader(_spill, System.Text.Encoding.UTF8, leaveOpen: true);
        while (_spill.Position < _spill.Length)
        {
            var subtransaction = reader.ReadUInt32();
            var kind = reader.ReadByte();
            if (kind == 255)
            {
                var sourceEvent = _events[reader.ReadInt32()];
                if (!_aborted.Contains(subtransaction))
                {
                    yield return new PendingChange(null!, ChangeKind.Insert, [], null, 64, sourceEvent);
                }

                continue;
            }

            var table = _schemas[reader.ReadInt32()];
            var size = reader.ReadInt32();
            var values = new object?[reader.ReadInt32()];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = SpillCodec.Read(reader, table.Columns[i].Type);
            }

            object?[]? oldKey = null;
            if (reader.ReadBoolean())
            {
                oldKey = new object?[reader.ReadInt32()];
                for (var i = 0; i < oldKey.Length; i++)
                {
                    oldKey[i] = SpillCodec.Read(reader, table.Columns[table.KeyIndexes[i]].Type);
                }
            }

            if (!_aborted.Contains(subtransaction))
            {
                yield return new PendingChange(table, (ChangeKind)kind, values, oldKey, size);
            }
        }
    }

    public void Dispose()
    {
        _writer?.Dispose();
        _spill?.Dispose();
        if (_spillPath is not null)
        {
            File.Delete(_spillPath);
        }
    }

    private int SchemaIndex(TableSchema schema)
    {
        var index = _schemas.IndexOf(schema);
        if (index < 0)
        {
            _schemas.Add(schema);
            index = _schemas.Count - 1;
        }

        return index;
    }

    private BinaryWriter EnsureSpill()
    {
        if (_writer is not null)
        {
            return _writer;
        }

        var directory = spillDirectory ?? Path.Combine(Path.GetTempPath(), "freshet-spill");
        Directory.CreateDirectory(directory);
        _spillPath = Path.Combine(directory, $"xid-{Xid}-{Guid.NewGuid():N}.spill");
        _spill = new FileStream(_spillPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.DeleteOnClose);
        _writer = new BinaryWriter(_spill, System.Text.Encoding.UTF8, leaveOpen: true);
        return _writer;
    }
}
