using DuckDB.NET.Data;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// The block path of <see cref="ApplyAsync"/>: a table whose share of a batch is only blocks of inserts
/// (<see cref="ChangeBatch.Items"/>) with strictly ascending one-column integer keys is written column by column into
/// DuckDB's vectors, with no <see cref="RowChange"/>, fold or staging, once the target is seen to hold no row in the
/// blocks' key range (the row path's direct path, <c>TableApply.DirectRange</c>, with the range known from the
/// blocks' first and last keys). Anything else — another change of the table in the batch, keys out of order, a
/// column the block holds in a form its target column does not take, a key already in the target, a column added to
/// the target by hand — materializes the blocks into the changes they stand for, which take the row path: the same
/// result, slower.
/// </summary>
internal sealed partial class DuckDbDestination
{
    public bool TakesInsertBlocks => true;

    /// <summary>One table's part of an apply (see <see cref="TableApply"/> and <see cref="BlockApply"/>).</summary>
    private interface ITableWrite
    {
        TargetTable Table { get; }

        Task StageAsync(DuckDBConnection connection, CancellationToken cancellationToken);

        Task PrepareAsync(DuckDBConnection connection, TimeProvider time, CancellationToken cancellationToken);

        Task WriteAsync(DuckDBConnection connection, DateTimeOffset syncedAt, CancellationToken cancellationToken);

        Task DropStagingAsync(DuckDBConnection connection, CancellationToken cancellationToken);
    }

    /// <summary>
    /// The batch's changes for the row path (blocks of other tables materialized, in source order), and per table whose
    /// share is blocks the block path can take, those blocks.
    /// </summary>
    private (IReadOnlyList<RowChange> Changes, List<(TargetTable Target, List<InsertBlock> Blocks, int[] Columns)> Blocks) SplitBlocks(ChangeBatch batch)
    {
        if (batch.Items is not { } items || !items.Any(i => i.Block is not null))
        {
            return (batch.Changes, []);
        }

        var byTable = new Dictionary<TableId, List<InsertBlock>?>();
        foreach (var item in items)
        {
            var table = item.Table.Source;
            if (item.Block is { } block)
            {
                if (!byTable.TryGetValue(table, out var blocks))
                {
                    byTable[table] = blocks = [];
                }

                blocks?.Add(block);
            }
            else
            {
                // A change of the table besides its blocks: the row path folds them together.
                byTable[table] = null;
            }
        }

        var taken = new List<(TargetTable, List<InsertBlock>, int[])>();
        foreach (var (table, blocks) in byTable)
        {
            if (blocks is not null && _targets.TryGetValue(table, out var target) && BlockApply.ColumnsIfTaken(target, blocks) is { } columns)
            {
                taken.Add((target, blocks, columns));
            }
            else
            {
                byTable[table] = null;
            }
        }

        var changes = new List<RowChange>();
        foreach (var item in items)
        {
            if (item.Block is not { } block)
            {
                changes.Add(item.Change!);
            }
            else if (byTable[block.Table.Source] is null)
            {
                block.AddMaterialized(changes);
            }
        }

        return (changes, taken);
    }

    private List<ITableWrite> PlanApplies(IReadOnlyList<FoldedTable> tables, List<(TargetTable Target, List<InsertBlock> Blocks, int[] Columns)> blocks)
    {
        var applies = new List<ITableWrite>(tables.Count + blocks.Count);
        applies.AddRange(tables.Select((t, i) => new TableApply(t, i, context.DeleteMode)));
        foreach (var (target, tableBlocks, columns) in blocks)
        {
            applies.Add(new BlockApply(target, tableBlocks, columns, applies.Count, context.DeleteMode, TargetOf));
        }

        return applies;
    }

    /// <summary>
    /// One table's blocks, appended as they are, or (when the target already holds a key of theirs) materialized and staged;
    /// <c>columns</c> are the written columns' places in the blocks, as <see cref="ColumnsIfTaken"/> found them.
    /// </summary>
    private sealed class BlockApply(TargetTable target, List<InsertBlock> blocks, int[] columns, int number, DeleteMode deleteMode, Func<TableId, TargetTable> targetOf) : ITableWrite
    {
        private TableApply? _fallback;

        public TargetTable Table => target;

        /// <summary>
        /// The written columns' places in the blocks (see <see cref="BlockColumns"/>) when the blocks may take the block
        /// path, null otherwise: one schema, a one-column integer key rising strictly through them all, every written
        /// column held in a form its target column takes directly, and no timestamp the row path would take for an
        /// infinity (<see cref="DateTime.MinValue"/>, a valid MySQL DATETIME).
        /// </summary>
        public static int[]? ColumnsIfTaken(TargetTable target, List<InsertBlock> blocks)
        {
            var schema = blocks[0].Table;
            if (target.KeyIndexes.Count != 1 || !target.AppendsDirectly || blocks.Any(b => !ReferenceEquals(b.Table, schema)))
            {
                return null;
            }

            var columns = BlockColumns(target, schema);
            if (columns is null)
            {
                return null;
            }

            for (var w = 0; w < columns.Length; w++)
            {
                var column = columns[w];
                var kind = column < 0 ? BlockValueKind.Missing : blocks[0].KindOf(column);
                if (column >= 0 && !Takes(target.Written[w].SourceType, kind))
                {
                    return null;
                }

                if (kind is BlockValueKind.DateTime or BlockValueKind.DateTimeUtc && blocks.Any(b => b.HasMinimumTimestamp(column)))
                {
                    return null;
                }
            }

            var key = columns[target.KeyIndexes[0]];
            if (key < 0)
            {
                return null;
            }

            long? last = null;
            foreach (var block in blocks)
            {
                if (!block.StrictlyAscending(key) || block.Count == 0 || (last is { } previous && block.GetInteger(key, 0) <= previous))
                {
                    return null;
                }

                last = block.GetInteger(key, block.Count - 1);
            }

            return columns;
        }

        public Task StageAsync(DuckDBConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

        public async Task PrepareAsync(DuckDBConnection connection, TimeProvider time, CancellationToken cancellationToken)
        {
            var key = columns[target.KeyIndexes[0]];
            var low = blocks[0].GetInteger(key, 0);
            var high = blocks[^1].GetInteger(key, blocks[^1].Count - 1);
            if (await TableApply.NoTargetRowsInAsync(target, connection, low, high, cancellationToken).ConfigureAwait(false))
            {
                return;
            }

            var rows = new List<RowChange>(blocks.Sum(b => b.Count));
            foreach (var block in blocks)
            {
                block.AddMaterialized(rows);
            }

            _fallback = new TableApply(ChangeFolder.Fold(rows, targetOf).Single(), number, deleteMode);
            await _fallback.StageAsync(connection, cancellationToken).ConfigureAwait(false);
            await _fallback.PrepareAsync(connection, time, cancellationToken).ConfigureAwait(false);
        }

        public Task WriteAsync(DuckDBConnection connection, DateTimeOffset syncedAt, CancellationToken cancellationToken)
        {
            if (_fallback is not null)
            {
                return _fallback.WriteAsync(connection, syncedAt, cancellationToken);
            }

            Append(connection, syncedAt);
            return Task.CompletedTask;
        }

        public Task DropStagingAsync(DuckDBConnection connection, CancellationToken cancellationToken) =>
            _fallback?.DropStagingAsync(connection, cancellationToken) ?? Task.CompletedTask;

        /// <summary>Appends every row, a chunk's worth of rows at a time, column by column.</summary>
        private void Append(DuckDBConnection connection, DateTimeOffset syncedAt)
        {
            var physical = PhysicalSources(target);
            // PrepareAsync saw the registered columns, whose types AppendsDirectly checked.
            using var chunks = ChunkAppender.TryOpen(connection, target.Name, physical.Length)
                ?? throw new InvalidOperationException($"The DuckDB table {target.Name} changed while a batch was written to it.");
            foreach (var block in blocks)
            {
                for (var done = 0; done < block.Count;)
                {
                    var count = Math.Min(chunks.RoomInChunk, block.Count - done);
                    for (var p = 0; p < physical.Length; p++)
                    {
                        PutColumn(chunks, p, physical[p] >= 0 ? columns[physical[p]] : -1, physical[p], block, done, count, syncedAt);
                    }

                    chunks.EndRows(count);
                    done += count;
                }
            }

            chunks.Close();
        }

        /// <summary>
        /// Rows [<paramref name="first"/>, + <paramref name="count"/>) of the block into target column <paramref name="p"/>:
        /// block column <paramref name="column"/> (a written column; -1 when the block lacks it), or the metadata
        /// <paramref name="from"/> names (see <see cref="PhysicalSources"/>).
        /// </summary>
        private static void PutColumn(ChunkAppender chunks, int p, int column, int from, InsertBlock block, int first, int count, DateTimeOffset syncedAt)
        {
            switch (from)
            {
                case FromPosition:
                    chunks.PutInt64Run(p, block.Position, 0, count);
                    return;
                case FromSequence:
                    chunks.PutInt64Run(p, block.FirstSequence + first, 1, count);
                    return;
                case FromCommittedAt:
                    chunks.PutTimestampRun(p, block.CommittedAt, count);
                    return;
                case FromSyncedAt:
                    chunks.PutTimestampRun(p, syncedAt, count);
                    return;
                case FromDeleted:
                    chunks.PutBooleanRun(p, false, count);
                    return;
            }

            var kind = from < 0 || column < 0 ? BlockValueKind.Missing : block.KindOf(column);
            switch (kind)
            {
                case BlockValueKind.Int16 or BlockValueKind.Int32 or BlockValueKind.Int64:
                    chunks.PutIntegers(p, block.Integers(column).Slice(first, count));
                    break;
                case BlockValueKind.Float32 or BlockValueKind.Float64:
                    chunks.PutFloats(p, block.Floats(column).Slice(first, count));
                    break;
                case BlockValueKind.Decimal:
                    chunks.PutDecimals(p, block.Decimals(column).Slice(first, count));
                    break;
                case BlockValueKind.Date:
                    chunks.PutDayNumbers(p, block.Integers(column).Slice(first, count));
                    break;
                case BlockValueKind.DateTime or BlockValueKind.DateTimeUtc:
                    chunks.PutTicks(p, block.Integers(column).Slice(first, count));
                    break;
                case BlockValueKind.Text or BlockValueKind.Bytes:
                    for (var i = 0; i < count; i++)
                    {
                        if (block.IsNull(column, first + i))
                        {
                            continue;
                        }

                        if (kind == BlockValueKind.Text)
                        {
                            chunks.PutUtf8(p, i, block.GetUtf8(column, first + i));
                        }
                        else
                        {
                            chunks.PutBlob(p, i, block.GetBytes(column, first + i));
                        }
                    }

                    break;
                case BlockValueKind.Boolean:
                    chunks.PutBooleans(p, block.Integers(column).Slice(first, count));
                    break;
                case BlockValueKind.Microseconds:
                    chunks.PutIntervalMicroseconds(p, block.Integers(column).Slice(first, count));
                    break;
                default:
                    for (var i = 0; i < count; i++)
                    {
                        chunks.PutNull(p, i);
                    }

                    return;
            }

            if (block.HasNulls(column))
            {
                for (var i = 0; i < count; i++)
                {
                    if (block.IsNull(column, first + i))
                    {
                        chunks.PutNull(p, i);
                    }
                }
            }
        }

        /// <summary>For each written column, its column in the blocks' schema (-1: none); null when a written key is not there.</summary>
        private static int[]? BlockColumns(TargetTable target, TableSchema schema)
        {
            var columns = new int[target.Written.Count];
            for (var w = 0; w < columns.Length; w++)
            {
                columns[w] = -1;
                for (var c = 0; c < schema.Columns.Count; c++)
                {
                    if (string.Equals(schema.Columns[c].Name, target.Written[w].SourceName, StringComparison.Ordinal))
                    {
                        columns[w] = c;
                        break;
                    }
                }

                if (columns[w] < 0 && target.Written[w].IsKey)
                {
                    return null;
                }
            }

            return columns;
        }

        /// <summary>Whether a block column of <paramref name="kind"/> appends directly as a value of <paramref name="type"/> would.</summary>
        private static bool Takes(ColumnType type, BlockValueKind kind) => !type.IsArray && kind switch
        {
            BlockValueKind.Missing => true,
            BlockValueKind.Int16 or BlockValueKind.Int32 or BlockValueKind.Int64 => type.Kind is ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64,
            BlockValueKind.Float32 or BlockValueKind.Float64 => type.Kind is ValueKind.Float32 or ValueKind.Float64,
            BlockValueKind.Decimal => type.Kind == ValueKind.Decimal,
            BlockValueKind.Date => type.Kind == ValueKind.Date,
            BlockValueKind.DateTime or BlockValueKind.DateTimeUtc => type.Kind is ValueKind.Timestamp or ValueKind.TimestampTz,
            BlockValueKind.Text => type.Kind is ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText,
            BlockValueKind.Bytes => type.Kind == ValueKind.Bytes,
            BlockValueKind.Boolean => type.Kind == ValueKind.Boolean,
            BlockValueKind.Microseconds => type.Kind == ValueKind.Interval,
            _ => false,
        };
    }
}
