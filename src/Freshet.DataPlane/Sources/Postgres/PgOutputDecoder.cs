using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// Turns pgoutput messages into source events. Ordinary transactions pass straight through (their commit position is
/// known from BEGIN); transactions the server streams while still in progress are buffered per transaction (spilling
/// to disk beyond a memory budget), dropped on abort (whole or per subtransaction) and released in order on commit.
/// </summary>
internal sealed partial class PgOutputDecoder(
    PgCatalog catalog,
    Dictionary<TableId, TableSchema> tables,
    IReadOnlyList<TableSpec> selected,
    ChannelWriter<SourceEvent> output,
    long streamBufferLimitBytes,
    string? spillDirectory,
    ILogger logger)
{
    private readonly Dictionary<uint, RelationState> _relations = [];
    private readonly Dictionary<uint, StreamedTransaction> _streamed = [];
    private readonly Dictionary<TableId, TableSpec> _selected = selected.ToDictionary(t => new TableId(t.Schema, t.Name));
    private long _position;
    private DateTimeOffset _committedAt;
    private long _sequence;
    private uint? _streamXid;

    /// <summary>
    /// Changes committed at or before this position fill unchanged values from the source's current row (see
    /// PgSnapshotSession.ResumeAsync). It moves on when a row to fill from is gone (see <see cref="FillAsync"/>); the
    /// resume position carries it, so a restart fills the same changes.
    /// </summary>
    public NpgsqlTypes.NpgsqlLogSequenceNumber? FillUntil { get; set; }

    /// <summary>The row with the change's key as the source holds it now, or null and the source's WAL position when it is gone.</summary>
    public Func<TableSchema, object?[], CancellationToken, ValueTask<CurrentRow>>? ReadCurrentRow { get; init; }

    public async ValueTask HandleAsync(PgOutputReplicationMessage message, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case BeginMessage begin:
                _position = Lsn.ToPosition(begin.TransactionFinalLsn);
                _committedAt = begin.TransactionCommitTimestamp;
                _sequence = 0;
                break;
            case CommitMessage commit:
                await output.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(
                    _position, StreamStart.Format(commit.TransactionEndLsn, FillUntil), (ulong)commit.TransactionEndLsn, commit.TransactionCommitTimestamp)), cancellationToken).ConfigureAwait(false);
                break;
            case RelationMessage relation:
                await OnRelationAsync(relation, cancellationToken).ConfigureAwait(false);
                break;
            case InsertMessage or UpdateMessage or DeleteMessage:
                await OnRowAsync(message, cancellationToken).ConfigureAwait(false);
                break;
            case TruncateMessage truncate:
                foreach (var relation in truncate.Relations)
                {
                    if (_relations.TryGetValue(relation.RelationId, out var state) && state.Schema is { } schema)
                    {
                        await EmitAsync(truncate.TransactionXid, new PendingChange(schema, ChangeKind.Truncate, [], null, 16), cancellationToken).ConfigureAwait(false);
                    }
                }

                break;
            case StreamStartMessage start:
                _streamXid = start.TransactionXid;
                if (!_streamed.ContainsKey(start.TransactionXid))
                {
                    _streamed[start.TransactionXid] = new StreamedTransaction(start.TransactionXid, streamBufferLimitBytes, spillDirectory);
                }

                break;
            case StreamStopMessage:
                _streamXid = null;
                break;
            case StreamCommitMessage commit:
                await OnStreamCommitAsync(commit, cancellationToken).ConfigureAwait(false);
                break;
            case StreamAbortMessage abort:
                if (_streamed.TryGetValue(abort.TransactionXid, out var aborted))
                {
                    if (abort.SubtransactionXid == abort.TransactionXid || abort.SubtransactionXid == 0)
                    {
                        aborted.Dispose();
                        _streamed.Remove(abort.TransactionXid);
                    }
                    else
                    {
                        aborted.AbortSubtransaction(abort.SubtransactionXid);
                    }
                }

                break;
        }
    }

    private async ValueTask OnStreamCommitAsync(StreamCommitMessage commit, CancellationToken cancellationToken)
    {
        if (!_streamed.Remove(commit.TransactionXid, out var transaction))
        {
            return;
        }

        using (transaction)
        {
            var position = Lsn.ToPosition(commit.CommitLsn);
            long sequence = 0;
            foreach (var pending in transaction.Replay())
            {
                var filled = await FillAsync(pending, commit.CommitLsn, cancellationToken).ConfigureAwait(false);
                await output.WriteAsync(Materialize(filled, position, ++sequence, commit.TransactionCommitTimestamp), cancellationToken).ConfigureAwait(false);
            }

            await output.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(
                position, StreamStart.Format(commit.TransactionEndLsn, FillUntil), (ulong)commit.TransactionEndLsn, commit.TransactionCommitTimestamp)), cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask OnRelationAsync(RelationMessage relation, CancellationToken cancellationToken)
    {
        var id = new TableId(relation.Namespace, relation.RelationName);
        if (!_selected.TryGetValue(id, out var spec))
        {
            _relations[relation.RelationId] = new RelationState(id, null, []);
            return;
        }

        tables.TryGetValue(id, out var known);
        var knownKeys = known?.Columns.Where(c => c.IsKey).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var excluded = new HashSet<string>(spec.ExcludedColumns ?? [], StringComparer.Ordinal);
        var columns = new List<ColumnSchema>();
        var map = new int[relation.Columns.Count];
        var errors = new List<string>();
        for (var i = 0; i < relation.Columns.Count; i++)
        {
            var column = relation.Columns[i];
            if (excluded.Contains(column.ColumnName))
            {
                map[i] = -1;
                continue;
            }

            var info = await catalog.TypeAsync(column.DataTypeId, column.TypeModifier, cancellationToken).ConfigureAwait(false);
            if (!PgTypeMapping.TryMap(info, out var type, out var error))
            {
                errors.Add($"column {column.ColumnName}: {error}");
                map[i] = -1;
                continue;
            }

            // The table's key as the catalog described it at start (REPLICA IDENTITY FULL flags every column).
            var isKey = knownKeys is { Count: > 0 } ? knownKeys.Contains(column.ColumnName) : column.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey);
            map[i] = columns.Count;
            columns.Add(new ColumnSchema(column.ColumnName, type, isKey));
        }

        if (errors.Count == 0 && !columns.Any(c => c.IsKey))
        {
            errors.Add("its key columns are gone");
        }

        if (errors.Count > 0)
        {
            _relations[relation.RelationId] = new RelationState(id, null, map);
            await EmitEventAsync(SourceEvent.ForFailedTable(id, $"{id} cannot be replicated any more: {string.Join("; ", errors)}"), cancellationToken).ConfigureAwait(false);
            return;
        }

        var schema = new TableSchema(id, spec.DestinationName ?? spec.Name, columns);
        if (known is not null && known.SameShapeAs(schema))
        {
            schema = known;
        }
        else
        {
            tables[id] = schema;
            LogSchemaChanged(logger, id.ToString());
            await EmitEventAsync(SourceEvent.ForSchema(schema), cancellationToken).ConfigureAwait(false);
        }

        _relations[relation.RelationId] = new RelationState(id, schema, map);
    }

    private async ValueTask OnRowAsync(PgOutputReplicationMessage message, CancellationToken cancellationToken)
    {
        var (relationId, xid) = message switch
        {
            InsertMessage m => (m.Relation.RelationId, m.TransactionXid),
            UpdateMessage m => (m.Relation.RelationId, m.TransactionXid),
            DeleteMessage m => (m.Relation.RelationId, m.TransactionXid),
            _ => throw new InvalidOperationException(),
        };
        if (!_relations.TryGetValue(relationId, out var state) || state.Schema is null)
        {
            return;
        }

        var schema = state.Schema;
        try
        {
            PendingChange change;
            switch (message)
            {
                case InsertMessage insert:
                {
                    var (values, size) = await ReadAsync(insert.NewRow, state, cancellationToken).ConfigureAwait(false);
                    change = new PendingChange(schema, ChangeKind.Insert, values, null, size);
                    break;
                }

                case IndexUpdateMessage update:
                {
                    var (key, _) = await ReadAsync(update.Key, state, cancellationToken).ConfigureAwait(false);
                    var (values, size) = await ReadAsync(update.NewRow, state, cancellationToken).ConfigureAwait(false);
                    change = new PendingChange(schema, ChangeKind.Update, values, ChangedKey(schema, key, values), size);
                    break;
                }

                case FullUpdateMessage update:
                {
                    var (old, _) = await ReadAsync(update.OldRow, state, cancellationToken).ConfigureAwait(false);
                    var (values, size) = await ReadAsync(update.NewRow, state, cancellationToken).ConfigureAwait(false);
                    for (var i = 0; i < values.Length; i++)
                    {
                        // REPLICA IDENTITY FULL sends the whole old row: use it for values the new row left out.
                        if (ReferenceEquals(values[i], UnchangedValue.Instance) && !ReferenceEquals(old[i], UnchangedValue.Instance))
                        {
                            values[i] = old[i];
                        }
                    }

                    change = new PendingChange(schema, ChangeKind.Update, values, ChangedKey(schema, old, values), size);
                    break;
                }

                case UpdateMessage update:
                {
                    var (values, size) = await ReadAsync(update.NewRow, state, cancellationToken).ConfigureAwait(false);
                    change = new PendingChange(schema, ChangeKind.Update, values, null, size);
                    break;
                }

                case KeyDeleteMessage delete:
                {
                    var (values, size) = await ReadAsync(delete.Key, state, cancellationToken).ConfigureAwait(false);
                    change = new PendingChange(schema, ChangeKind.Delete, KeyOnly(schema, values), null, size);
                    break;
                }

                case FullDeleteMessage delete:
                {
                    var (values, size) = await ReadAsync(delete.OldRow, state, cancellationToken).ConfigureAwait(false);
                    change = new PendingChange(schema, ChangeKind.Delete, KeyOnly(schema, values), null, size);
                    break;
                }

                default:
                    return;
            }

            await EmitAsync(xid, change, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is InvalidCastException or OverflowException or NotSupportedException or FormatException)
        {
            // One unreadable value stops its table (quarantine), never the pipeline.
            _relations[relationId] = state with { Schema = null };
            await EmitEventAsync(SourceEvent.ForFailedTable(schema.Source, $"a value of {schema.Source} could not be read: {e.Message}"), cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask EmitAsync(uint? xid, PendingChange change, CancellationToken cancellationToken)
    {
        var top = _streamXid;
        if (xid is not null && top is not null && _streamed.TryGetValue(top.Value, out var transaction))
        {
            transaction.Add(change, xid.Value);
            return;
        }

        change = await FillAsync(change, Lsn.FromPosition(_position), cancellationToken).ConfigureAwait(false);
        await output.WriteAsync(Materialize(change, _position, ++_sequence, _committedAt), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask<PendingChange> FillAsync(PendingChange change, NpgsqlTypes.NpgsqlLogSequenceNumber position, CancellationToken cancellationToken)
    {
        if (FillUntil is not { } until || position > until || ReadCurrentRow is null || change.Event is not null
            || change.Kind is not (ChangeKind.Insert or ChangeKind.Update) || !change.Values.Any(v => ReferenceEquals(v, UnchangedValue.Instance)))
        {
            return change;
        }

        // The current row: any later change to these columns is replayed after this one, so the end state is exact.
        var current = await ReadCurrentRow(change.Table, change.Values, cancellationToken).ConfigureAwait(false);
        if (current.Values is null)
        {
            // The row is gone: a later change deleted it or changed its key, and that change is in the log before the
            // position read with it. The row stays unfilled, so the destination may lack its unchanged values (its
            // target row can be missing: copied by a resumed snapshot after the row had left that chunk's range). Should
            // the later change be a key change, its own unchanged values would come from this row there; extending the
            // window to that position makes the source fill it instead, and so on down the chain of key changes.
            if (current.GoneBefore > until)
            {
                FillUntil = current.GoneBefore;
            }

            return change;
        }

        var values = (object?[])change.Values.Clone();
        for (var i = 0; i < values.Length; i++)
        {
            if (ReferenceEquals(values[i], UnchangedValue.Instance))
            {
                values[i] = current.Values[i];
            }
        }

        return change with { Values = values };
    }

    private async ValueTask EmitEventAsync(SourceEvent sourceEvent, CancellationToken cancellationToken)
    {
        if (_streamXid is { } top && _streamed.TryGetValue(top, out var transaction))
        {
            transaction.AddEvent(sourceEvent);
            return;
        }

        await output.WriteAsync(sourceEvent, cancellationToken).ConfigureAwait(false);
    }

    private static SourceEvent Materialize(PendingChange change, long position, long sequence, DateTimeOffset committedAt) =>
        change.Event is { } sourceEvent
            ? sourceEvent
            : SourceEvent.ForChange(new RowChange
            {
                Table = change.Table,
                Kind = change.Kind,
                Values = change.Values,
                OldKey = change.OldKey,
                Position = position,
                Sequence = sequence,
                CommittedAt = committedAt,
                ApproximateBytes = change.Size,
            });

    private static async ValueTask<(object?[] Values, int Size)> ReadAsync(ReplicationTuple tuple, RelationState state, CancellationToken cancellationToken)
    {
        var schema = state.Schema!;
        var values = new object?[schema.Columns.Count];
        var index = 0;
        await foreach (var value in tuple.ConfigureAwait(false))
        {
            var target = index < state.Map.Length ? state.Map[index] : -1;
            index++;
            if (target < 0)
            {
                continue;
            }

            var read = await PgValueReader.ReadAsync(value, schema.Columns[target].Type, cancellationToken).ConfigureAwait(false);
            values[target] = read;
        }

        return (values, ChangeSize.Of(values));
    }

    private static object?[] KeyOnly(TableSchema schema, object?[] values)
    {
        var key = new object?[values.Length];
        foreach (var i in schema.KeyIndexes)
        {
            key[i] = values[i];
        }

        return key;
    }

    /// <summary>The old key when an update moved the row to a new key; null when the key stayed.</summary>
    private static object?[]? ChangedKey(TableSchema schema, object?[] old, object?[] values)
    {
        var oldKey = schema.KeyIndexes.Select(i => old[i]).ToArray();
        var changed = schema.KeyIndexes.Select((column, n) => !ValueEquality.Equal(oldKey[n], values[column])).Any(x => x);
        return changed ? oldKey : null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Columns of {Table} changed at the source")]
    private static partial void LogSchemaChanged(ILogger logger, string table);

    private sealed record RelationState(TableId Id, TableSchema? Schema, int[] Map);
}

/// <summary>A change whose commit position is not known yet (or an event to release in order with them).</summary>
internal sealed record PendingChange(TableSchema Table, ChangeKind Kind, object?[] Values, object?[]? OldKey, int Size, SourceEvent? Event = null);

/// <summary>A row read from the source for the values a change left out.</summary>
/// <param name="Values">The row now, in the table's column order; null when no row has the key.</param>
/// <param name="GoneBefore">When the row is gone: the source's WAL position read after, past the change that removed it.</param>
internal readonly record struct CurrentRow(object?[]? Values, NpgsqlTypes.NpgsqlLogSequenceNumber GoneBefore);
