using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations.Folding;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>
/// Applies a pipeline's changes to tables in one BigQuery dataset. Keyed tables take their rows through the Storage
/// Write API's CDC on the <c>_default</c> stream (UPSERT/DELETE with <c>_CHANGE_SEQUENCE_NUMBER</c> from the snapshot
/// generation and the source's (position, sequence)); the rest go through the placement's staging table and a MERGE query job. Every batch ends in
/// one jobs.query script, a transaction whose first statements update the pipeline's checkpoint row where the epoch is
/// this placement's and fail the script (a cast of a text that is no number) when another epoch holds it; the MERGEs,
/// truncates and chunk records of the batch run inside that same transaction.
/// </summary>
/// <remarks>
/// <para>
/// The Storage Write API has no transactions: CDC rows are appended (and acknowledged) before the script runs, so the
/// checkpoint lands only after every row it covers is in BigQuery, and a crash in between replays the batch. A replay
/// writes the same changes with the same sequence numbers, and BigQuery ignores a change older than the one it holds for
/// the key, so replays and late duplicates (the default stream is at-least-once) change nothing.
/// </para>
/// <para>
/// A zombie — a worker whose placement was superseded but who has not noticed — can still append CDC rows before its
/// checkpoint script fails on the fence. Those rows are source changes the successor replays too (it resumes from the
/// last checkpoint, which is at or before them), carrying the same sequence numbers; BigQuery applies per key only the
/// newest number, so whatever the interleaving the key ends with the newest change, which both workers agree on. That
/// holds as long as BigQuery knows the newest number of a key: documented for rows it holds, and the emulator also
/// remembers deleted keys; were a deleted key forgotten, a zombie's late UPSERT older than the delete could bring the row
/// back until the key changes again. Rows emptied by DML (a re-snapshot, a truncate) lose their numbers the same way.
/// A zombie never writes through the MERGE path into its successor's rows: its staging table is its own (the name
/// carries the epoch) and its MERGE runs inside the fenced transaction.
/// </para>
/// <para>
/// A change whose target row's values must survive — TOAST-unchanged columns, or a soft delete without the row's values
/// in the batch — cannot go by CDC: an UPSERT replaces the whole row and cannot read the old one. A table whose batch
/// holds such a change goes through the MERGE path for that batch (a MERGE reads the row it updates), whole, so the
/// old-key row a key change takes its unchanged values from is read before anything deletes it.
/// </para>
/// </remarks>
internal sealed partial class BigQueryDestination : IDestination
{
    private const string FenceText = "pipeline fenced: another epoch owns its checkpoint";

    private static readonly BigQueryColumn[] ChunkColumns =
    [
        new("pipeline_id", "STRING", null, null, true, ProtoEncoding.String),
        new("source_table", "STRING", null, null, true, ProtoEncoding.String),
        new("chunk", "INT64", null, null, true, ProtoEncoding.Int64),
        new("row_count", "INT64", null, null, false, ProtoEncoding.Int64),
        new("done_at", "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
    ];

    private static readonly BigQueryColumn[] ResnapshotColumns =
    [
        new("pipeline_id", "STRING", null, null, true, ProtoEncoding.String),
        new("request_id", "STRING", null, null, true, ProtoEncoding.String),
        new("handled_at", "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
    ];

    /// <summary>Rows handed to one AppendAsync call while a snapshot chunk streams in (the writer cuts them into requests).</summary>
    private const int ChunkRowsPerAppend = 20_000;

    private readonly DestinationContext _context;
    private readonly BigQueryConnection _connection;
    private readonly BigQueryCheckpoints _checkpoints;
    private readonly ILogger _logger;
    private readonly Dictionary<TableId, BigQueryTargetTable> _tables = [];
    private readonly Lock _tablesLock = new();

    /// <summary>The checkpoint's generation: the first section of every CDC sequence number this placement writes.</summary>
    private long _generation;

    public BigQueryDestination(DestinationContext context, ILoggerFactory loggerFactory)
    {
        _context = context;
        _logger = loggerFactory.CreateLogger<BigQueryDestination>();
        _connection = BigQueryDestinationSettings.Connect(context.Endpoint, context.TimeProvider, _logger);
        _checkpoints = new BigQueryCheckpoints(_connection.Rest, _connection.Options, Dataset, context.TimeProvider);
    }

    private BigQueryDestinationSettings Settings => _connection.Settings;

    private string Dataset => _connection.Settings.Dataset;

    private BigQueryRestClient Rest => _connection.Rest;

    private string Checkpoints => Path(MetadataColumns.CheckpointTable);

    private string Chunks => Path(MetadataColumns.SnapshotChunkTable);

    private string Resnapshots => Path(MetadataColumns.ResnapshotTable);

    public async Task<DestinationCheckpoint> ClaimAsync(CancellationToken cancellationToken)
    {
        await _checkpoints.EnsureTableAsync(cancellationToken).ConfigureAwait(false);
        await EnsureStateTableAsync(MetadataColumns.SnapshotChunkTable, ChunkColumns, cancellationToken).ConfigureAwait(false);
        await EnsureStateTableAsync(MetadataColumns.ResnapshotTable, ResnapshotColumns, cancellationToken).ConfigureAwait(false);
        DestinationCheckpoint checkpoint;
        try
        {
            checkpoint = await _checkpoints.ClaimAsync(_context.PipelineId, _context.Epoch, cancellationToken).ConfigureAwait(false);
        }
        catch (PipelineFencedException e)
        {
            throw Fenced(e.OwnerEpoch);
        }

        _generation = await ReadGenerationAsync(cancellationToken).ConfigureAwait(false);
        LogClaimed(_logger, _context.PipelineId, _context.Epoch, Settings.ProjectId, Dataset);
        return checkpoint;
    }

    public async Task<TableSetup> EnsureTableAsync(TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken)
    {
        await CheckEpochAsync(cancellationToken).ConfigureAwait(false);
        var (setup, target) = await SyncTableAsync(table, policy, cancellationToken).ConfigureAwait(false);
        lock (_tablesLock)
        {
            if (target is null)
            {
                _tables.Remove(table.Source);
            }
            else
            {
                _tables[table.Source] = target;
            }
        }

        if (target is null)
        {
            LogTableRefused(_logger, table.DestinationName, table.Source.ToString(), setup.QuarantineReason!);
            return setup;
        }

        // The placement's staging table starts empty: rows a failed earlier run of this epoch staged are not merged by anyone.
        await Rest.QueryAsync($"DROP TABLE IF EXISTS {Path(target.StageName)}", null, cancellationToken).ConfigureAwait(false);
        await Rest.CreateTableAsync(Dataset, target.StageName, target.StageColumns, [], null, cancellationToken).ConfigureAwait(false);
        if (setup.Changed || setup.Ignored.Count > 0)
        {
            LogTableEnsured(_logger, table.DestinationName, table.Source.ToString(), setup.Created, target.ChangeData, setup.Added.Count, setup.Dropped.Count,
                setup.Retyped.Count, setup.Ignored.Count);
        }

        return setup;
    }

    public async Task ApplyAsync(ChangeBatch batch, CancellationToken cancellationToken)
    {
        var started = _context.TimeProvider.GetTimestamp();
        var folded = ChangeFolder.Fold(batch.Changes, Table, _context.DeleteMode);
        var syncedAt = Now();
        var script = new FencedScript(this);
        script.Fence("position = @position_, applied_position = @applied_position_, applied_sequence = @applied_sequence_",
            BigQueryParameter.String("position_", batch.ResumePosition),
            BigQueryParameter.Int64("applied_position_", batch.AppliedThrough.Position),
            BigQueryParameter.Int64("applied_sequence_", batch.AppliedThrough.Sequence));

        var merged = new List<(FoldedTable<BigQueryTargetTable> Table, List<string> Statements)>();
        var cdcRows = 0;
        foreach (var table in folded)
        {
            var target = table.Table;
            var statements = new List<string>();
            if (table.Truncate is { } truncate)
            {
                statements.Add(TruncateStatement(script, target, truncate, syncedAt));
            }

            if (table.Rows.Count > 0)
            {
                if (target.ChangeData && !NeedsTargetValues(table))
                {
                    var rows = table.Rows.Values.Select(r => CdcRow(target, r, syncedAt, _generation)).ToList();
                    await ForTableAsync(target.Source, () => _connection.Writer.AppendAsync(Dataset, target.Name, target.CdcRows, rows, cancellationToken)).ConfigureAwait(false);
                    cdcRows += rows.Count;
                }
                else
                {
                    var batchId = Guid.NewGuid().ToString("N");
                    var rows = table.Rows.Values.Select(r => StageRow(target, r, batchId)).ToList();
                    await ForTableAsync(target.Source, () => _connection.Writer.AppendAsync(Dataset, target.StageName, target.StageRows, rows, cancellationToken)).ConfigureAwait(false);
                    statements.AddRange(MergeStatements(script, target, batchId, syncedAt, snapshot: false, hasUnchanged: table.Rows.Values.Any(r => r.HasUnchanged)));
                }
            }

            script.AddRange(statements);
            merged.Add((table, statements));
        }

        // Every CDC row of the batch is acknowledged by now; only then may the checkpoint move past them. A zombie gets this
        // far too and fails here on the fence: its rows stay in BigQuery, the same changes its successor replays with the
        // same sequence numbers (see the class remarks for why that is harmless, and where it would not be).
        try
        {
            await script.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BigQueryException e) when (!e.IsRetryable)
        {
            await ThrowIfFencedAsync(cancellationToken).ConfigureAwait(false);
            if (e.HttpStatus == 400)
            {
                await BlameTableAsync(script, merged, e, cancellationToken).ConfigureAwait(false);
            }
            throw;
        }

        LogApplied(_logger, batch.Changes.Count, folded.Count, cdcRows, batch.AppliedThrough.Position, batch.AppliedThrough.Sequence,
            (long)_context.TimeProvider.GetElapsedTime(started).TotalMilliseconds);
    }

    public Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, CancellationToken cancellationToken) =>
        BeginSnapshotAsync(tables, plan, [], cancellationToken);

    public async Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, IReadOnlyCollection<Guid> resnapshots, CancellationToken cancellationToken)
    {
        // A new generation: the snapshot's rows and every change after it sort after whatever the tables saw before, even
        // when the source's positions restarted lower (a MySQL binlog after RESET MASTER, copied again from nothing).
        var script = new FencedScript(this);
        script.Fence("snapshot = @plan_, generation = COALESCE(generation, 0) + 1", BigQueryParameter.String("plan_", plan));
        foreach (var name in tables.Select(t => t.DestinationName).Distinct(StringComparer.Ordinal))
        {
            if (await Rest.GetTableAsync(Dataset, name, cancellationToken).ConfigureAwait(false) is not null)
            {
                // DELETE rather than TRUNCATE TABLE: DML stays inside the transaction.
                script.Add($"DELETE FROM {Path(name)} WHERE TRUE");
            }
        }

        foreach (var table in tables)
        {
            var source = script.Parameter("st", n => BigQueryParameter.String(n, ChunkTableName(table.Source)));
            script.Add($"DELETE FROM {Chunks} WHERE pipeline_id = @pipeline AND source_table = {source}");
        }

        foreach (var request in resnapshots)
        {
            var id = script.Parameter("rq", n => BigQueryParameter.String(n, request.ToString("D")));
            script.Add($"""
                MERGE {Resnapshots} t USING (SELECT @pipeline AS pipeline_id, {id} AS request_id) s
                ON t.pipeline_id = s.pipeline_id AND t.request_id = s.request_id
                WHEN NOT MATCHED THEN INSERT (pipeline_id, request_id, handled_at) VALUES (s.pipeline_id, s.request_id, @now)
                """);
        }

        await RunFencedAsync(script, cancellationToken).ConfigureAwait(false);
        _generation = await ReadGenerationAsync(cancellationToken).ConfigureAwait(false);
        LogSnapshotStarted(_logger, tables.Count);
    }

    public async Task<IReadOnlySet<Guid>> ReadHandledResnapshotsAsync(CancellationToken cancellationToken)
    {
        var result = await Rest.QueryAsync($"SELECT request_id FROM {Resnapshots} WHERE pipeline_id = @pipeline", [PipelineParameter], cancellationToken)
            .ConfigureAwait(false);
        return result.Rows.Select(r => Guid.Parse(r[0]!, CultureInfo.InvariantCulture)).ToHashSet();
    }

    public async Task<IReadOnlySet<(TableId Table, int Chunk)>> ReadCompletedChunksAsync(CancellationToken cancellationToken)
    {
        var result = await Rest.QueryAsync($"SELECT source_table, chunk FROM {Chunks} WHERE pipeline_id = @pipeline", [PipelineParameter], cancellationToken)
            .ConfigureAwait(false);
        return result.Rows.Select(r => (ParseChunkTableName(r[0]!), int.Parse(r[1]!, CultureInfo.InvariantCulture))).ToHashSet();
    }

    /// <summary>
    /// A CDC table's chunk goes in as UPSERTs numbered at the snapshot's position, so a chunk written again (resumed) replaces
    /// its rows and the stream's later changes win; other tables' chunks are staged and merged with the same guard. The
    /// chunk's record commits in the fenced script afterwards.
    /// </summary>
    public async Task<long> CopySnapshotChunkAsync(TableSchema table, SnapshotChunk chunk, IAsyncEnumerable<object?[]> rows, CancellationToken cancellationToken)
    {
        var target = Table(table.Source);
        var indexes = target.SourceIndexes(table);
        var syncedAt = Now();
        var batchId = Guid.NewGuid().ToString("N");
        var pending = new List<StorageWriteRow>();
        long count = 0;

        Task FlushAsync() => ForTableAsync(table.Source, () => target.ChangeData
            ? _connection.Writer.AppendAsync(Dataset, target.Name, target.CdcRows, pending, cancellationToken)
            : _connection.Writer.AppendAsync(Dataset, target.StageName, target.StageRows, pending, cancellationToken));

        await foreach (var row in rows.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var values = new object?[indexes.Length];
            for (var c = 0; c < indexes.Length; c++)
            {
                values[c] = indexes[c] < 0 ? null : row[indexes[c]];
            }

            var folded = new FoldedRow
            {
                IsDelete = false,
                Values = values,
                OriginKey = [],
                Position = chunk.Position,
                Sequence = 0,
                CommittedAt = chunk.TakenAt,
            };
            pending.Add(target.ChangeData ? CdcRow(target, folded, syncedAt, _generation) : StageRow(target, folded, batchId));
            count++;
            if (pending.Count >= ChunkRowsPerAppend)
            {
                await FlushAsync().ConfigureAwait(false);
                pending = [];
            }
        }

        if (pending.Count > 0)
        {
            await FlushAsync().ConfigureAwait(false);
        }

        var script = new FencedScript(this);
        script.Fence(null);
        if (!target.ChangeData && count > 0)
        {
            script.AddRange(MergeStatements(script, target, batchId, syncedAt, snapshot: true, hasUnchanged: false));
        }

        var source = script.Parameter("st", n => BigQueryParameter.String(n, ChunkTableName(table.Source)));
        var number = script.Parameter("cn", n => BigQueryParameter.Int64(n, chunk.Number));
        var rowCount = script.Parameter("rc", n => BigQueryParameter.Int64(n, count));
        script.Add($"DELETE FROM {Chunks} WHERE pipeline_id = @pipeline AND source_table = {source} AND chunk = {number}");
        script.Add($"INSERT INTO {Chunks} (pipeline_id, source_table, chunk, row_count, done_at) VALUES (@pipeline, {source}, {number}, {rowCount}, @now)");
        await ForTableAsync(table.Source, () => RunFencedAsync(script, cancellationToken)).ConfigureAwait(false);
        LogChunkCopied(_logger, table.Source.ToString(), chunk.Number, count, target.ChangeData);
        return count;
    }

    public Task FinishSnapshotAsync(string resumePosition, CancellationToken cancellationToken) =>
        FinishSnapshotAsync(resumePosition, restartsStream: false, cancellationToken);

    public async Task FinishSnapshotAsync(string resumePosition, bool restartsStream, CancellationToken cancellationToken)
    {
        var script = new FencedScript(this);
        script.Fence(restartsStream ? "snapshot = NULL, position = @position_, applied_position = 0, applied_sequence = 0" : "snapshot = NULL, position = @position_",
            BigQueryParameter.String("position_", resumePosition));
        await RunFencedAsync(script, cancellationToken).ConfigureAwait(false);
        LogSnapshotFinished(_logger);
    }

    public async Task SaveQuarantineAsync(IReadOnlyDictionary<TableId, string> quarantined, CancellationToken cancellationToken)
    {
        var script = new FencedScript(this);
        script.Fence("quarantined = @quarantined_", BigQueryParameter.String("quarantined_", BigQueryCheckpoints.WriteQuarantine(quarantined)));
        await RunFencedAsync(script, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _connection.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>What may be logged, stored or shown of a failure: row errors and query errors can quote values, so only their kind.</summary>
    internal static string Describe(BigQueryException e) => e switch
    {
        BigQueryRowErrorsException rows => $"BigQuery refused {rows.Rows.Count} row(s) of {rows.Table} (Storage Write row errors)",
        _ when e.HttpStatus == 400 && e.Reason is "invalidQuery" or "invalid" => $"BigQuery error {e.HttpStatus} {e.Reason}",
        _ => e.Message,
    };

    private async Task<(TableSetup Setup, BigQueryTargetTable? Target)> SyncTableAsync(TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken)
    {
        if (SchemaChangePlan.MetadataCollision(table) is { } collision)
        {
            return (Refused(collision), null);
        }

        if (table.Columns.FirstOrDefault(c => !IsIdentifier(c.Name)) is { } odd)
        {
            // Column names travel as proto field names and backquoted identifiers; BigQuery's flexible names would need both escaped.
            return (Refused($"column {odd.Name} cannot be written to BigQuery: names must be letters, digits and underscores, starting with a letter or underscore"), null);
        }

        var wanted = new Dictionary<string, BigQueryColumn>(StringComparer.Ordinal);
        foreach (var column in table.Columns)
        {
            try
            {
                wanted[column.Name] = BigQueryTypes.Column(column.Name, column.Type, column.IsKey);
            }
            catch (ArgumentOutOfRangeException)
            {
                return (Refused($"column {column.Name} has a type BigQuery cannot hold ({column.Type})"), null);
            }
        }

        var keys = table.KeyIndexes.Select(i => table.Columns[i].Name).ToList();
        var existing = await Rest.GetTableAsync(Dataset, table.DestinationName, cancellationToken).ConfigureAwait(false);
        var created = false;
        IReadOnlyList<string> added = [], dropped = [], ignored = [];
        if (existing is null)
        {
            // BigQuery declares at most 16 primary key columns; a wider key goes through the MERGE path.
            var primaryKey = keys.Count <= 16 ? keys : [];
            var staleness = Settings.WriteMethod == BigQueryWriteMethod.StorageWrite && primaryKey.Count > 0 ? Settings.MaxStaleness : null;
            try
            {
                existing = await Rest.CreateTableAsync(Dataset, table.DestinationName, [.. table.Columns.Select(c => wanted[c.Name]), .. BigQueryTargetTable.MetadataColumnsOfTarget],
                    primaryKey, staleness, cancellationToken).ConfigureAwait(false);
                created = true;
            }
            catch (BigQueryException e) when (e.HttpStatus == 409)
            {
                existing = await Rest.GetTableAsync(Dataset, table.DestinationName, cancellationToken).ConfigureAwait(false)
                    ?? throw new BigQueryException($"Table {Dataset}.{table.DestinationName} was reported as existing but cannot be read.", 409, e.Reason, isRetryable: true, inner: e);
            }
        }

        if (!created)
        {
            var byName = existing.Columns.Where(c => !MetadataColumns.All.Contains(c.Name)).ToDictionary(c => c.Name, StringComparer.Ordinal);
            // A declared key that is no longer the source's: under Propagate the table goes the MERGE way on the source's key
            // (CDC needs the declared key to be the source's); the other policies stop it, as for PostgreSQL.
            var keyChanged = existing.PrimaryKey.Count > 0 && !existing.PrimaryKey.ToHashSet(StringComparer.Ordinal).SetEquals(keys);
            var plan = SchemaChangePlan.Decide(table, byName.Keys,
                c => SameType(byName[c.Name], wanted[c.Name]) ? null : $"{TypeText(byName[c.Name])} → {TypeText(wanted[c.Name])}", policy,
                keyChanged ? $"({string.Join(", ", existing.PrimaryKey)}) → ({string.Join(", ", keys)})" : null);
            if (plan.QuarantineReason is { } reason)
            {
                return (Refused(reason), null);
            }

            if (plan.Retype.Count > 0)
            {
                // BigQuery changes a column's type in place only by widening (ALTER COLUMN SET DATA TYPE); Freshet does not
                // rewrite tables, so the table stops until someone decides (re-create it, or choose another policy).
                return (Refused($"the target could not follow the source ({plan.Differences}): BigQuery cannot change a column's type in place"), null);
            }

            var missingMetadata = BigQueryTargetTable.MetadataColumnsOfTarget.Where(m => !existing.Columns.Any(c => c.Name == m.Name)).ToList();
            if (plan.Add.Count > 0 || missingMetadata.Count > 0)
            {
                try
                {
                    existing = await Rest.PatchSchemaAsync(Dataset, table.DestinationName,
                        [.. existing.Columns, .. plan.Add.Select(c => wanted[c.Name] with { Required = false }), .. missingMetadata], cancellationToken).ConfigureAwait(false);
                }
                catch (BigQueryException e) when (!e.IsRetryable && e.HttpStatus == 400)
                {
                    return (Refused($"the target could not follow the source ({plan.Differences}): {Describe(e)}"), null);
                }
            }

            foreach (var gone in plan.Drop)
            {
                try
                {
                    await Rest.QueryAsync($"ALTER TABLE {Path(table.DestinationName)} DROP COLUMN {Quote(gone)}", null, cancellationToken).ConfigureAwait(false);
                }
                catch (BigQueryException e) when (!e.IsRetryable && e.HttpStatus == 400)
                {
                    return (Refused($"the target could not follow the source ({plan.Differences}): {Describe(e)}"), null);
                }
            }

            if (plan.Drop.Count > 0)
            {
                existing = await Rest.GetTableAsync(Dataset, table.DestinationName, cancellationToken).ConfigureAwait(false)
                    ?? throw new BigQueryException($"Table {Dataset}.{table.DestinationName} disappeared while it was altered.", 404, "notFound", isRetryable: true);
            }

            added = [.. plan.Add.Select(c => c.Name)];
            dropped = plan.Drop;
            ignored = plan.Ignored;
        }

        var targetColumns = existing.Columns.ToDictionary(c => c.Name, StringComparer.Ordinal);
        var received = table.Columns.Where(c => !ignored.Contains(c.Name) && targetColumns.ContainsKey(c.Name)).ToList();
        if (keys.Any(k => !targetColumns.ContainsKey(k)))
        {
            return (Refused($"the target table lacks key column(s) {string.Join(", ", keys.Where(k => !targetColumns.ContainsKey(k)))}"), null);
        }

        var changeData = Settings.WriteMethod == BigQueryWriteMethod.StorageWrite
            && existing.PrimaryKey.Count > 0 && existing.PrimaryKey.ToHashSet(StringComparer.Ordinal).SetEquals(keys);
        var target = new BigQueryTargetTable(table.Source, table.DestinationName, received, [.. received.Select(c => targetColumns[c.Name])], changeData,
            _context.PipelineId, _context.Epoch);
        return (new TableSetup(created, added, dropped, [], null, ignored), target);
    }

    private static bool SameType(BigQueryColumn existing, BigQueryColumn wanted) =>
        existing.Type == wanted.Type && (existing.Precision ?? 0) == (wanted.Precision ?? 0) && (existing.Scale ?? 0) == (wanted.Scale ?? 0);

    private static string TypeText(BigQueryColumn column) =>
        column.Precision is { } p ? FormattableString.Invariant($"{column.Type}({p},{column.Scale ?? 0})") : column.Type;

    /// <summary>Whether a change in the table's batch needs the target row's current values, which only the MERGE path can read.</summary>
    private bool NeedsTargetValues(FoldedTable<BigQueryTargetTable> table) =>
        table.Rows.Values.Any(r => r.HasUnchanged || (r.IsDelete && _context.DeleteMode == DeleteMode.Soft));

    private static StorageWriteRow CdcRow(BigQueryTargetTable target, FoldedRow row, DateTimeOffset syncedAt, long generation)
    {
        var values = new object?[target.ColumnCount + BigQueryTargetTable.MetadataColumnsOfTarget.Length];
        var sequence = StorageWriteRows.SequenceNumber(generation, row.Position, row.Sequence);
        if (row.IsDelete)
        {
            foreach (var k in target.KeyIndexes)
            {
                values[k] = row.Values[k];
            }
            return new StorageWriteRow(values, ChangeType.Delete, sequence);
        }

        Array.Copy(row.Values, values, target.ColumnCount);
        var m = target.ColumnCount;
        values[m] = row.Position;
        values[m + 1] = row.Sequence;
        values[m + 2] = row.CommittedAt;
        values[m + 3] = syncedAt;
        values[m + 4] = row.Deleted;
        values[m + 5] = row.Deleted ? row.CommittedAt : null;
        return new StorageWriteRow(values, ChangeType.Upsert, sequence);
    }

    private static StorageWriteRow StageRow(BigQueryTargetTable target, FoldedRow row, string batchId)
    {
        var values = new object?[target.StageColumns.Count];
        values[0] = batchId;
        values[1] = row.IsDelete;
        values[2] = row.Position;
        values[3] = row.Sequence;
        values[4] = row.CommittedAt;
        values[5] = row.Deleted;
        values[6] = row.HasUnchanged ? new string([.. row.Values.Select(v => ReferenceEquals(v, UnchangedValue.Instance) ? '1' : '0')]) : null;
        for (var c = 0; c < target.ColumnCount; c++)
        {
            values[7 + c] = row.Values[c] is UnchangedValue ? null : row.Values[c];
        }

        for (var k = 0; k < target.KeyIndexes.Count && k < row.OriginKey.Length; k++)
        {
            values[7 + target.ColumnCount + k] = row.OriginKey[k];
        }

        return new StorageWriteRow(values);
    }

    private string TruncateStatement(FencedScript script, BigQueryTargetTable target, (long Position, long Sequence, DateTimeOffset CommittedAt) truncate, DateTimeOffset syncedAt)
    {
        var p = script.Parameter("tp", n => BigQueryParameter.Int64(n, truncate.Position));
        var s = script.Parameter("ts", n => BigQueryParameter.Int64(n, truncate.Sequence));
        var guard = $"({Quote(MetadataColumns.Position)} IS NULL OR {Quote(MetadataColumns.Position)} < {p} OR ({Quote(MetadataColumns.Position)} = {p} AND {Quote(MetadataColumns.Sequence)} < {s}))";
        if (_context.DeleteMode == DeleteMode.Hard)
        {
            return $"DELETE FROM {Path(target.Name)} WHERE {guard}";
        }

        var c = script.Parameter("tc", n => BigQueryParameter.Timestamp(n, truncate.CommittedAt));
        var synced = script.Parameter("sy", n => BigQueryParameter.Timestamp(n, syncedAt));
        return $"UPDATE {Path(target.Name)} SET {Quote(MetadataColumns.Deleted)} = TRUE, {Quote(MetadataColumns.DeletedAt)} = {c}, {Quote(MetadataColumns.Position)} = {p}, "
            + $"{Quote(MetadataColumns.Sequence)} = {s}, {Quote(MetadataColumns.CommittedAt)} = {c}, {Quote(MetadataColumns.SyncedAt)} = {synced} "
            + $"WHERE NOT COALESCE({Quote(MetadataColumns.Deleted)}, FALSE) AND {guard}";
    }

    /// <summary>
    /// The MERGE of one staged batch into its target (the newest staged row per key: the default stream may have written a
    /// row twice), every action guarded by the target row's (position, sequence) so nothing older overwrites it — a
    /// snapshot row also replaces a row stamped exactly as itself (a resumed chunk) —, then the staged rows' removal.
    /// </summary>
    private List<string> MergeStatements(FencedScript script, BigQueryTargetTable target, string batchId, DateTimeOffset syncedAt, bool snapshot, bool hasUnchanged)
    {
        var b = script.Parameter("b", n => BigQueryParameter.String(n, batchId));
        var synced = script.Parameter("sy", n => BigQueryParameter.Timestamp(n, syncedAt));
        var columns = target.Columns;
        var t = Path(target.Name);
        string Q(string name) => Quote(name);
        string C(int i) => $"s.c{i}";
        string Unchanged(int i) => $"SUBSTR(s._u, {i + 1}, 1) = '1'";
        var position = Q(MetadataColumns.Position);
        var sequence = Q(MetadataColumns.Sequence);

        var select = "SELECT g.*";
        var from = $" FROM {Path(target.StageName)} g";
        if (hasUnchanged)
        {
            // Unchanged values come from the row's target state before this statement: the key it had before the batch
            // changed it when the target holds that key, else its own key. A MERGE reads its source before it writes.
            select += string.Concat(columns.Select((c, i) => $", o.{Q(c.Name)} AS u{i}")) + $", (o.{Q(columns[target.KeyIndexes[0]].Name)} IS NOT NULL) AS _of";
            from += $" LEFT JOIN {t} o ON " + string.Join(" AND ", target.KeyIndexes.Select((k, i) => $"o.{Q(columns[k].Name)} = g.o{i}"));
        }

        var partition = string.Join(", ", target.KeyIndexes.Select(k => $"g.c{k}"));
        var source = $"{select}{from} WHERE g._batch = {b} QUALIFY ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY g._p DESC, g._s DESC) = 1";

        string Updated(int i) => hasUnchanged && !columns[i].IsKey ? $"IF({Unchanged(i)}, IF(s._of, s.u{i}, t.{Q(columns[i].Name)}), {C(i)})" : C(i);
        string Inserted(int i) => hasUnchanged && !columns[i].IsKey ? $"IF({Unchanged(i)}, s.u{i}, {C(i)})" : C(i);

        var guard = $"(t.{position} IS NULL OR t.{position} < s._p OR (t.{position} = s._p AND t.{sequence} {(snapshot ? "<=" : "<")} s._s))";
        var metadata = $"{position} = s._p, {sequence} = s._s, {Q(MetadataColumns.CommittedAt)} = s._c, {Q(MetadataColumns.SyncedAt)} = {synced}, "
            + $"{Q(MetadataColumns.Deleted)} = s._d, {Q(MetadataColumns.DeletedAt)} = IF(s._d, s._c, NULL)";
        var updates = columns.Select((c, i) => (c, i)).Where(x => !x.c.IsKey).Select(x => $"{Q(x.c.Name)} = {Updated(x.i)}").Append(metadata);
        var delete = _context.DeleteMode == DeleteMode.Hard
            ? "DELETE"
            : $"UPDATE SET {Q(MetadataColumns.Deleted)} = TRUE, {Q(MetadataColumns.DeletedAt)} = s._c, {position} = s._p, {sequence} = s._s, "
              + $"{Q(MetadataColumns.CommittedAt)} = s._c, {Q(MetadataColumns.SyncedAt)} = {synced}";
        var allColumns = string.Join(", ", columns.Select(c => Q(c.Name)).Concat(BigQueryTargetTable.MetadataColumnsOfTarget.Select(m => Q(m.Name))));
        var merge = $"MERGE {t} t USING ({source}) s ON "
            + string.Join(" AND ", target.KeyIndexes.Select(k => $"t.{Q(columns[k].Name)} = {C(k)}"))
            + $"\nWHEN MATCHED AND s._del AND {guard} THEN {delete}"
            + $"\nWHEN MATCHED AND NOT s._del AND {guard} THEN UPDATE SET {string.Join(", ", updates)}"
            + $"\nWHEN NOT MATCHED AND NOT s._del THEN INSERT ({allColumns})"
            + $" VALUES ({string.Join(", ", columns.Select((_, i) => Inserted(i)))}, s._p, s._s, s._c, {synced}, s._d, IF(s._d, s._c, NULL))";
        return [merge, $"DELETE FROM {Path(target.StageName)} WHERE _batch = {b}"];
    }

    /// <summary>
    /// Finds which table's statements BigQuery refused: each table's statements run again alone in a transaction that is
    /// rolled back. The first that fails is named; when none does, the original error stands.
    /// </summary>
    private async Task BlameTableAsync(FencedScript script, List<(FoldedTable<BigQueryTargetTable> Table, List<string> Statements)> tables, BigQueryException original,
        CancellationToken cancellationToken)
    {
        foreach (var (table, statements) in tables.Where(t => t.Statements.Count > 0))
        {
            try
            {
                await Rest.QueryAsync("BEGIN TRANSACTION;\n" + string.Join(";\n", statements) + ";\nROLLBACK TRANSACTION;", script.Parameters, cancellationToken).ConfigureAwait(false);
            }
            catch (BigQueryException e) when (!e.IsRetryable && e.HttpStatus == 400)
            {
                LogTableFailed(_logger, table.Table.Source.ToString(), Describe(e));
                throw new TableApplyException(table.Table.Source, e);
            }
        }

        LogUnblamed(_logger, Describe(original));
    }

    private async Task EnsureStateTableAsync(string name, BigQueryColumn[] columns, CancellationToken cancellationToken)
    {
        if (await Rest.GetTableAsync(Dataset, name, cancellationToken).ConfigureAwait(false) is not null)
        {
            return;
        }

        try
        {
            await Rest.CreateTableAsync(Dataset, name, columns, [], null, cancellationToken).ConfigureAwait(false);
        }
        catch (BigQueryException e) when (e.HttpStatus == 409)
        {
            // Another worker created it between the check and the insert.
        }
    }

    private async Task<long> ReadGenerationAsync(CancellationToken cancellationToken)
    {
        var result = await Rest.QueryAsync($"SELECT COALESCE(MAX(generation), 0) FROM {Checkpoints} WHERE pipeline_id = @pipeline", [PipelineParameter], cancellationToken)
            .ConfigureAwait(false);
        return result.Rows.Count == 1 && result.Rows[0][0] is { } generation ? long.Parse(generation, CultureInfo.InvariantCulture) : 0;
    }

    private async Task<long?> ReadOwnerEpochAsync(CancellationToken cancellationToken)
    {
        var result = await Rest.QueryAsync($"SELECT MAX(epoch) FROM {Checkpoints} WHERE pipeline_id = @pipeline", [PipelineParameter], cancellationToken).ConfigureAwait(false);
        return result.Rows.Count == 1 && result.Rows[0][0] is { } epoch ? long.Parse(epoch, CultureInfo.InvariantCulture) : null;
    }

    private async Task CheckEpochAsync(CancellationToken cancellationToken)
    {
        var owner = await ReadOwnerEpochAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Pipeline {_context.PipelineId} has no checkpoint in the destination: ClaimAsync must run first.");
        if (owner > _context.Epoch)
        {
            throw Fenced(owner);
        }
    }

    private async Task ThrowIfFencedAsync(CancellationToken cancellationToken)
    {
        if (await ReadOwnerEpochAsync(cancellationToken).ConfigureAwait(false) is { } owner && owner != _context.Epoch)
        {
            throw Fenced(owner);
        }
    }

    private async Task RunFencedAsync(FencedScript script, CancellationToken cancellationToken)
    {
        try
        {
            await script.RunAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (BigQueryException e) when (!e.IsRetryable)
        {
            await ThrowIfFencedAsync(cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    private BigQueryTargetTable Table(TableId source)
    {
        lock (_tablesLock)
        {
            return _tables.TryGetValue(source, out var table)
                ? table
                : throw new TableApplyException(source, new InvalidOperationException($"Table {source} has no target table set up (EnsureTableAsync was not called or refused it)."));
        }
    }

    /// <summary>Rows BigQuery refuses, or values that cannot take the target column's type, stop that table only.</summary>
    private async Task ForTableAsync(TableId table, Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (BigQueryException e) when (!e.IsRetryable && (e is BigQueryRowErrorsException || e.HttpStatus == 400))
        {
            await ThrowIfFencedAsync(CancellationToken.None).ConfigureAwait(false);
            LogTableFailed(_logger, table.ToString(), Describe(e));
            throw new TableApplyException(table, e);
        }
        catch (Exception e) when (e is ArgumentException or InvalidCastException or FormatException or OverflowException)
        {
            LogTableFailed(_logger, table.ToString(), e.GetType().Name);
            throw new TableApplyException(table, e);
        }
    }

    private BigQueryParameter PipelineParameter => BigQueryParameter.String("pipeline", _context.PipelineId.ToString());

    private string Path(string table) => BigQueryMerge.Path(Settings.ProjectId, Dataset, table);

    private static string Quote(string column) => $"`{column}`";

    private static bool IsIdentifier(string name) =>
        name.Length is > 0 and <= 300 && (char.IsAsciiLetter(name[0]) || name[0] == '_') && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_');

    private static TableSetup Refused(string reason) => new(false, [], [], [], reason, []);

    private static string ChunkTableName(TableId table) => $"{table.Schema}.{table.Name}";

    private static TableId ParseChunkTableName(string name)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return new TableId(name[..dot], name[(dot + 1)..]);
    }

    private DateTimeOffset Now() => _context.TimeProvider.GetUtcNow();

    private PipelineFencedException Fenced(long ownerEpoch)
    {
        LogFenced(_logger, _context.PipelineId, _context.Epoch, ownerEpoch);
        return new PipelineFencedException(_context.PipelineId, _context.Epoch, ownerEpoch);
    }

    /// <summary>
    /// One jobs.query script: BEGIN TRANSACTION, the checkpoint row's UPDATE where this epoch owns it, a statement that fails
    /// unless it does, the caller's statements, COMMIT. A failing statement ends the script and rolls the transaction back.
    /// </summary>
    private sealed class FencedScript(BigQueryDestination destination)
    {
        private readonly List<string> _statements = [];
        private readonly List<BigQueryParameter> _parameters = [];
        private int _next;

        public IReadOnlyList<BigQueryParameter> Parameters => _parameters;

        public void Fence(string? assignments, params BigQueryParameter[] parameters)
        {
            _parameters.Add(destination.PipelineParameter);
            _parameters.Add(BigQueryParameter.Int64("epoch", destination._context.Epoch));
            _parameters.Add(BigQueryParameter.Timestamp("now", destination.Now()));
            _parameters.AddRange(parameters);
            _statements.Add($"UPDATE {destination.Checkpoints} SET {(assignments is null ? "" : assignments + ", ")}updated_at = @now WHERE pipeline_id = @pipeline AND epoch = @epoch");
            _statements.Add($"SELECT CAST(IF(MAX(epoch) = @epoch, '0', '{FenceText}') AS INT64) FROM {destination.Checkpoints} WHERE pipeline_id = @pipeline");
        }

        /// <summary>Adds a parameter under a fresh name (ending in '_', so that no name is the start of another) and returns its reference.</summary>
        public string Parameter(string prefix, Func<string, BigQueryParameter> create)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"{prefix}{_next++}_");
            _parameters.Add(create(name));
            return "@" + name;
        }

        public void Add(string statement) => _statements.Add(statement);

        public void AddRange(IEnumerable<string> statements) => _statements.AddRange(statements);

        public Task RunAsync(CancellationToken cancellationToken) =>
            destination.Rest.QueryAsync("BEGIN TRANSACTION;\n" + string.Join(";\n", _statements) + ";\nCOMMIT TRANSACTION;", _parameters, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} claimed with epoch {Epoch} in BigQuery {Project}.{Dataset}")]
    private static partial void LogClaimed(ILogger logger, Guid pipelineId, long epoch, string project, string dataset);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} is fenced: epoch {OwnerEpoch} owns it, this worker runs epoch {Epoch}")]
    private static partial void LogFenced(ILogger logger, Guid pipelineId, long epoch, long ownerEpoch);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Target table {Table} for {Source}: created {Created}, Storage Write CDC {ChangeData}, added {Added}, dropped {Dropped}, retyped {Retyped}, ignored {Ignored}")]
    private static partial void LogTableEnsured(ILogger logger, string table, string source, bool created, bool changeData, int added, int dropped, int retyped, int ignored);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Target table {Table} for {Source} refused a schema change: {Reason}")]
    private static partial void LogTableRefused(ILogger logger, string table, string source, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Applied {Changes} changes to {Tables} tables ({CdcRows} rows by Storage Write CDC) through ({Position}, {Sequence}) in {ElapsedMs} ms")]
    private static partial void LogApplied(ILogger logger, int changes, int tables, int cdcRows, long position, long sequence, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Applying to table {Source} failed ({Error})")]
    private static partial void LogTableFailed(ILogger logger, string source, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch failed ({Error}) but no table's statements fail on their own")]
    private static partial void LogUnblamed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot of {Tables} tables started")]
    private static partial void LogSnapshotStarted(ILogger logger, int tables);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Snapshot chunk {Chunk} of {Source}: {Rows} rows (Storage Write CDC: {ChangeData})")]
    private static partial void LogChunkCopied(ILogger logger, string source, int chunk, long rows, bool changeData);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot finished")]
    private static partial void LogSnapshotFinished(ILogger logger);
}
