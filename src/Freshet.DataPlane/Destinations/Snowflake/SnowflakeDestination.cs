using System.Globalization;
using System.Text.Json;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations.Folding;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// Applies a pipeline's changes to tables in one schema of a Snowflake database over the SQL API v2. Every write that
/// must be fenced is one multi-statement request wrapped in BEGIN … COMMIT whose first statement updates the pipeline's
/// checkpoint row where the epoch is this placement's, and whose second fails the request (a cast of a text that is no
/// number) when the row holds another epoch: the UPDATE takes the table's DML lock, so no claim can slip in between,
/// and a failed statement ends the request's session with its transaction rolled back.
/// </summary>
/// <remarks>
/// A batch is folded to one change per key, staged as JSON bound as TEXT and flattened into the placement's staging
/// table (<see cref="SnowflakeTargetTable"/>), and merged with one MERGE per table guarded by each row's (position,
/// sequence), together with the checkpoint. When the staged rows fit in one request with the MERGEs they travel inside
/// the transaction; otherwise they are staged first by autocommitted requests (each retried with its requestId) and
/// the transaction merges what the staging table holds. Snowflake has no unique keys to enforce, so the MERGE keeps
/// keys unique; target tables are created with the key columns NOT NULL and no declared key.
/// DDL commits on its own in Snowflake and cannot join a transaction: table setup checks the epoch just before.
/// </remarks>
internal sealed partial class SnowflakeDestination : IDestination
{
    private static readonly string Checkpoints = SnowflakeTypes.Quote(MetadataColumns.CheckpointTable);
    private static readonly string Chunks = SnowflakeTypes.Quote(MetadataColumns.SnapshotChunkTable);
    private static readonly string Resnapshots = SnowflakeTypes.Quote(MetadataColumns.ResnapshotTable);
    private static readonly string Position = SnowflakeTypes.Quote(MetadataColumns.Position);
    private static readonly string Sequence = SnowflakeTypes.Quote(MetadataColumns.Sequence);
    private static readonly string CommittedAt = SnowflakeTypes.Quote(MetadataColumns.CommittedAt);
    private static readonly string SyncedAt = SnowflakeTypes.Quote(MetadataColumns.SyncedAt);
    private static readonly string Deleted = SnowflakeTypes.Quote(MetadataColumns.Deleted);
    private static readonly string DeletedAt = SnowflakeTypes.Quote(MetadataColumns.DeletedAt);

    private readonly DestinationContext _context;
    private readonly SnowflakeConnection _connection;
    private readonly SnowflakeSqlClient _client;
    private readonly ILogger _logger;
    private readonly Dictionary<TableId, SnowflakeTargetTable> _tables = [];
    private readonly Lock _tablesLock = new();

    public SnowflakeDestination(DestinationContext context, ILoggerFactory loggerFactory)
    {
        _context = context;
        _logger = loggerFactory.CreateLogger<SnowflakeDestination>();
        _connection = SnowflakeDestinationSettings.Connect(context.Endpoint, context.TimeProvider, _logger);
        _client = _connection.Client;
    }

    private string PipelineText => _context.PipelineId.ToString("D");

    private int MaxRequestBytes => _connection.Settings.MaxRequestBytes;

    public async Task<DestinationCheckpoint> ClaimAsync(CancellationToken cancellationToken)
    {
        await RunAsync(new SnowflakeStatement(string.Join(";\n",
            $"""CREATE TABLE IF NOT EXISTS {Checkpoints} ("pipeline_id" VARCHAR NOT NULL, "epoch" NUMBER(19,0) NOT NULL, "position" VARCHAR, "applied_position" NUMBER(19,0) NOT NULL, "applied_sequence" NUMBER(19,0) NOT NULL, "snapshot" VARCHAR, "quarantined" VARCHAR, "updated_at" TIMESTAMP_TZ(6))""",
            $"""CREATE TABLE IF NOT EXISTS {Chunks} ("pipeline_id" VARCHAR NOT NULL, "source_table" VARCHAR NOT NULL, "chunk" NUMBER(10,0) NOT NULL, "row_count" NUMBER(19,0), "done_at" TIMESTAMP_TZ(6))""",
            $"""CREATE TABLE IF NOT EXISTS {Resnapshots} ("pipeline_id" VARCHAR NOT NULL, "request_id" VARCHAR NOT NULL, "handled_at" TIMESTAMP_TZ(6) NOT NULL)"""))
        {
            StatementCount = 3,
        }, cancellationToken).ConfigureAwait(false);

        // One statement, so atomic without a transaction; a lower epoch's claim leaves a higher one in place.
        await RunAsync(new SnowflakeStatement($"""
            MERGE INTO {Checkpoints} c USING (SELECT ? AS "pipeline_id", ? AS "epoch") s ON c."pipeline_id" = s."pipeline_id"
            WHEN MATCHED AND c."epoch" <= s."epoch" THEN UPDATE SET "epoch" = s."epoch"
            WHEN NOT MATCHED THEN INSERT ("pipeline_id", "epoch", "applied_position", "applied_sequence", "quarantined", "updated_at")
              VALUES (s."pipeline_id", s."epoch", 0, 0, '{"{}"}', ?::TIMESTAMP_TZ)
            """)
        {
            Bindings = [SnowflakeBinding.Text(PipelineText), SnowflakeBinding.Fixed(_context.Epoch), Timestamp(Now())],
        }, cancellationToken).ConfigureAwait(false);

        var checkpoint = await ReadCheckpointAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Pipeline {_context.PipelineId} has no checkpoint row after claiming it.");
        if (checkpoint.Epoch > _context.Epoch)
        {
            throw Fenced(checkpoint.Epoch);
        }

        await DropEarlierStagesAsync(cancellationToken).ConfigureAwait(false);
        LogClaimed(_logger, _context.PipelineId, _context.Epoch, _connection.Settings.Database, _connection.Settings.Schema);
        return checkpoint;
    }

    public async Task<TableSetup> EnsureTableAsync(TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken)
    {
        await CheckEpochAsync(cancellationToken).ConfigureAwait(false);
        var (setup, target) = await new SnowflakeTableSync(_client, _context.PipelineId, _context.Epoch).EnsureAsync(table, policy, cancellationToken).ConfigureAwait(false);
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
        }
        else if (setup.Changed || setup.Ignored.Count > 0)
        {
            LogTableEnsured(_logger, table.DestinationName, table.Source.ToString(), setup.Created, setup.Added.Count, setup.Dropped.Count, setup.Retyped.Count, setup.Ignored.Count);
        }

        return setup;
    }

    public async Task ApplyAsync(ChangeBatch batch, CancellationToken cancellationToken)
    {
        var started = _context.TimeProvider.GetTimestamp();
        var folded = ChangeFolder.Fold(batch.Changes, Table, _context.DeleteMode);
        var syncedAt = Now();

        var plans = new List<TablePlan>();
        var inline = await StageBatchAsync(folded, plans, syncedAt, cancellationToken).ConfigureAwait(false);

        var transaction = new StatementList();
        AddFence(transaction, $"\"position\" = ?, \"applied_position\" = ?, \"applied_sequence\" = ?",
            [SnowflakeBinding.Text(batch.ResumePosition), SnowflakeBinding.Fixed(batch.AppliedThrough.Position), SnowflakeBinding.Fixed(batch.AppliedThrough.Sequence)]);
        foreach (var plan in plans)
        {
            plan.AddStatements(transaction, inline);
        }

        try
        {
            await RunAsync(transaction.Transaction(), cancellationToken).ConfigureAwait(false);
        }
        catch (SnowflakeException e) when (!e.IsRetryable)
        {
            await ThrowIfFencedAsync(cancellationToken).ConfigureAwait(false);
            if (IsTableError(e))
            {
                await BlameTableAsync(plans, inline, e, cancellationToken).ConfigureAwait(false);
            }
            throw;
        }

        LogApplied(_logger, batch.Changes.Count, folded.Count, batch.AppliedThrough.Position, batch.AppliedThrough.Sequence, inline,
            (long)_context.TimeProvider.GetElapsedTime(started).TotalMilliseconds);
    }

    public Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, CancellationToken cancellationToken) =>
        BeginSnapshotAsync(tables, plan, [], cancellationToken);

    public async Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, IReadOnlyCollection<Guid> resnapshots, CancellationToken cancellationToken)
    {
        var existing = await ExistingTablesAsync(cancellationToken).ConfigureAwait(false);
        var now = Now();
        var transaction = new StatementList();
        AddFence(transaction, "\"snapshot\" = ?", [SnowflakeBinding.Text(plan)]);
        foreach (var name in tables.Select(t => t.DestinationName).Distinct(StringComparer.Ordinal).Where(existing.Contains))
        {
            // DELETE rather than TRUNCATE: it is plain DML, so it stays inside the transaction.
            transaction.Add($"DELETE FROM {SnowflakeTypes.Quote(name)}");
        }

        foreach (var table in tables)
        {
            transaction.Add($"""DELETE FROM {Chunks} WHERE "pipeline_id" = ? AND "source_table" = ?""", SnowflakeBinding.Text(PipelineText), SnowflakeBinding.Text(ChunkTableName(table.Source)));
        }

        foreach (var request in resnapshots)
        {
            transaction.Add(
                $"""INSERT INTO {Resnapshots} ("pipeline_id", "request_id", "handled_at") SELECT ?, ?, ?::TIMESTAMP_TZ WHERE NOT EXISTS (SELECT 1 FROM {Resnapshots} WHERE "pipeline_id" = ? AND "request_id" = ?)""",
                SnowflakeBinding.Text(PipelineText), SnowflakeBinding.Text(request.ToString("D")), Timestamp(now), SnowflakeBinding.Text(PipelineText), SnowflakeBinding.Text(request.ToString("D")));
        }

        await RunFencedAsync(transaction, cancellationToken).ConfigureAwait(false);
        LogSnapshotStarted(_logger, tables.Count);
    }

    public async Task<IReadOnlySet<Guid>> ReadHandledResnapshotsAsync(CancellationToken cancellationToken)
    {
        var result = await RunAsync(new SnowflakeStatement($"""SELECT "request_id" FROM {Resnapshots} WHERE "pipeline_id" = ?""")
        {
            Bindings = [SnowflakeBinding.Text(PipelineText)],
        }, cancellationToken).ConfigureAwait(false);
        return result.Rows.Select(r => Guid.Parse(r[0]!, CultureInfo.InvariantCulture)).ToHashSet();
    }

    public async Task<IReadOnlySet<(TableId Table, int Chunk)>> ReadCompletedChunksAsync(CancellationToken cancellationToken)
    {
        var result = await RunAsync(new SnowflakeStatement($"""SELECT "source_table", "chunk" FROM {Chunks} WHERE "pipeline_id" = ?""")
        {
            Bindings = [SnowflakeBinding.Text(PipelineText)],
        }, cancellationToken).ConfigureAwait(false);
        return result.Rows.Select(r => (ParseChunkTableName(r[0]!), int.Parse(r[1]!, CultureInfo.InvariantCulture))).ToHashSet();
    }

    public async Task<long> CopySnapshotChunkAsync(TableSchema table, SnapshotChunk chunk, IAsyncEnumerable<object?[]> rows, CancellationToken cancellationToken)
    {
        var target = Table(table.Source);
        var indexes = target.SourceIndexes(table);
        var chunker = new SnowflakeStaging.JsonChunker(target.Name, target.ValueColumns, MaxRequestBytes);
        var staged = false;
        long count = 0;
        await foreach (var row in rows.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            var values = new object?[indexes.Length];
            for (var c = 0; c < indexes.Length; c++)
            {
                values[c] = indexes[c] < 0 ? null : row[indexes[c]];
            }

            count++;
            if (ForTable(table.Source, () => chunker.Add(values)) is not { } full)
            {
                continue;
            }

            // More than one request's worth: the rows go to the staging table first, request by request, and the
            // transaction moves them from there.
            if (!staged)
            {
                await ForTableAsync(table.Source, () => ClearStageAsync(target, chunk.Number, cancellationToken)).ConfigureAwait(false);
                staged = true;
            }

            await ForTableAsync(table.Source, () => StageAsync(target, chunk.Number, full, cancellationToken)).ConfigureAwait(false);
        }

        var last = chunker.Finish();
        var transaction = new StatementList();
        AddFence(transaction, null, []);
        var metadata = $"{Position}, {Sequence}, {CommittedAt}, {SyncedAt}, {Deleted}";
        var columns = string.Join(", ", target.Columns.Select(c => SnowflakeTypes.Quote(c.Name)));
        SnowflakeBinding[] constants = [SnowflakeBinding.Fixed(chunk.Position), Timestamp(chunk.TakenAt), Timestamp(Now())];
        if (!staged)
        {
            if (last is { } only)
            {
                var values = string.Join(", ", target.ValueColumns.Select(SnowflakeStaging.Extract));
                transaction.Add(
                    $"INSERT INTO {target.Quoted} ({columns}, {metadata}) SELECT {values}, ?, 0, ?::TIMESTAMP_TZ, ?::TIMESTAMP_TZ, FALSE FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f",
                    [.. constants, SnowflakeBinding.Text(only)]);
            }
        }
        else
        {
            if (last is { } rest)
            {
                await ForTableAsync(table.Source, () => StageAsync(target, chunk.Number, rest, cancellationToken)).ConfigureAwait(false);
            }

            var values = string.Join(", ", target.ValueColumns.Select(c => "s." + SnowflakeTypes.Quote(c.Name)));
            transaction.Add(
                $"INSERT INTO {target.Quoted} ({columns}, {metadata}) SELECT {values}, ?, 0, ?::TIMESTAMP_TZ, ?::TIMESTAMP_TZ, FALSE FROM {target.QuotedStage} s WHERE s.\"_chunk\" = ?",
                [.. constants, SnowflakeBinding.Fixed(chunk.Number)]);
            transaction.Add($"DELETE FROM {target.QuotedStage} WHERE \"_chunk\" = ?", SnowflakeBinding.Fixed(chunk.Number));
        }

        var record = new[] { SnowflakeBinding.Text(PipelineText), SnowflakeBinding.Text(ChunkTableName(table.Source)), SnowflakeBinding.Fixed(chunk.Number) };
        transaction.Add($"""DELETE FROM {Chunks} WHERE "pipeline_id" = ? AND "source_table" = ? AND "chunk" = ?""", record);
        transaction.Add($"""INSERT INTO {Chunks} ("pipeline_id", "source_table", "chunk", "row_count", "done_at") VALUES (?, ?, ?, ?, ?::TIMESTAMP_TZ)""",
            [.. record, SnowflakeBinding.Fixed(count), Timestamp(Now())]);
        await ForTableAsync(table.Source, () => RunFencedAsync(transaction, cancellationToken)).ConfigureAwait(false);
        LogChunkCopied(_logger, table.Source.ToString(), chunk.Number, count, staged);
        return count;
    }

    public Task FinishSnapshotAsync(string resumePosition, CancellationToken cancellationToken) =>
        FinishSnapshotAsync(resumePosition, restartsStream: false, cancellationToken);

    public async Task FinishSnapshotAsync(string resumePosition, bool restartsStream, CancellationToken cancellationToken)
    {
        var transaction = new StatementList();
        AddFence(transaction,
            restartsStream ? "\"snapshot\" = NULL, \"position\" = ?, \"applied_position\" = 0, \"applied_sequence\" = 0" : "\"snapshot\" = NULL, \"position\" = ?",
            [SnowflakeBinding.Text(resumePosition)]);
        await RunFencedAsync(transaction, cancellationToken).ConfigureAwait(false);
        LogSnapshotFinished(_logger);
    }

    public async Task SaveQuarantineAsync(IReadOnlyDictionary<TableId, string> quarantined, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(quarantined.ToDictionary(q => ChunkTableName(q.Key), q => q.Value));
        var transaction = new StatementList();
        AddFence(transaction, "\"quarantined\" = ?", [SnowflakeBinding.Text(json)]);
        await RunFencedAsync(transaction, cancellationToken).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync()
    {
        _connection.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>The checkpoint with the highest epoch (Snowflake enforces no unique key, so two first claims racing may both insert).</summary>
    private async Task<DestinationCheckpoint?> ReadCheckpointAsync(CancellationToken cancellationToken)
    {
        var result = await RunAsync(new SnowflakeStatement($"""
            SELECT "epoch", "position", "applied_position", "applied_sequence", "snapshot", "quarantined", "updated_at"
            FROM {Checkpoints} WHERE "pipeline_id" = ? ORDER BY "epoch" DESC LIMIT 1
            """)
        {
            Bindings = [SnowflakeBinding.Text(PipelineText)],
        }, cancellationToken).ConfigureAwait(false);
        if (result.Rows.Count == 0)
        {
            return null;
        }

        var row = result.Rows[0];
        return new DestinationCheckpoint(
            long.Parse(row[0]!, CultureInfo.InvariantCulture),
            row[1],
            long.Parse(row[2]!, CultureInfo.InvariantCulture),
            long.Parse(row[3]!, CultureInfo.InvariantCulture),
            row[4],
            ParseQuarantine(row[5]),
            row[6] is { } updated ? SnowflakeValues.TimestampTz(updated) : null);
    }

    private async Task CheckEpochAsync(CancellationToken cancellationToken)
    {
        var checkpoint = await ReadCheckpointAsync(cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Pipeline {_context.PipelineId} has no checkpoint in the destination: ClaimAsync must run first.");
        if (checkpoint.Epoch > _context.Epoch)
        {
            throw Fenced(checkpoint.Epoch);
        }
    }

    private async Task ThrowIfFencedAsync(CancellationToken cancellationToken)
    {
        if (await ReadCheckpointAsync(cancellationToken).ConfigureAwait(false) is { } checkpoint && checkpoint.Epoch > _context.Epoch)
        {
            throw Fenced(checkpoint.Epoch);
        }
    }

    /// <summary>
    /// The statements that open every fenced transaction: the checkpoint row is updated (<paramref name="assignments"/>
    /// and updated_at) where this epoch owns it — taking the table's lock —, then a statement fails unless it does.
    /// </summary>
    private void AddFence(StatementList transaction, string? assignments, SnowflakeBinding[] bindings)
    {
        transaction.Add(
            $"""UPDATE {Checkpoints} SET {(assignments is null ? "" : assignments + ", ")}"updated_at" = ?::TIMESTAMP_TZ WHERE "pipeline_id" = ? AND "epoch" = ?""",
            [.. bindings, Timestamp(Now()), SnowflakeBinding.Text(PipelineText), SnowflakeBinding.Fixed(_context.Epoch)]);
        transaction.Add(
            $"""SELECT CAST(IFF(MAX("epoch") = ?, '0', 'pipeline fenced: another epoch owns its checkpoint') AS NUMBER) FROM {Checkpoints} WHERE "pipeline_id" = ?""",
            SnowflakeBinding.Fixed(_context.Epoch), SnowflakeBinding.Text(PipelineText));
    }

    private async Task RunFencedAsync(StatementList transaction, CancellationToken cancellationToken)
    {
        try
        {
            await RunAsync(transaction.Transaction(), cancellationToken).ConfigureAwait(false);
        }
        catch (SnowflakeException e) when (!e.IsRetryable)
        {
            await ThrowIfFencedAsync(cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    private Task<SnowflakeResult> RunAsync(SnowflakeStatement statement, CancellationToken cancellationToken) => _client.ExecuteAsync(statement, cancellationToken);

    /// <summary>
    /// Encodes the batch's rows table by table as request-sized JSON arrays. While everything so far fits in one request
    /// with the statements, the arrays are kept in <paramref name="plans"/> to travel inside the transaction (returns
    /// true). From the first array that does not fit, every table's rows go to the staging table first, one request at a
    /// time, each array dropped once sent (returns false): a batch never holds more than about one request of encoded rows.
    /// </summary>
    private async Task<bool> StageBatchAsync(List<FoldedTable<SnowflakeTargetTable>> folded, List<TablePlan> plans, DateTimeOffset syncedAt, CancellationToken cancellationToken)
    {
        var inline = true;
        var inlineBytes = SnowflakeStaging.EnvelopeBytes;
        foreach (var table in folded)
        {
            var plan = new TablePlan(table, _context.DeleteMode, syncedAt);
            plans.Add(plan);
            var source = table.Table.Source;
            if (inline)
            {
                inlineBytes += plan.InlineBytes;
            }
            else if (table.Rows.Count > 0)
            {
                await ForTableAsync(source, () => ClearStageAsync(table.Table, SnowflakeTargetTable.StreamChunk, cancellationToken)).ConfigureAwait(false);
            }

            foreach (var rows in StreamRows(table))
            {
                if (inline)
                {
                    var before = plan.InlineBytes;
                    plan.Chunks.Add(rows);
                    inlineBytes += plan.InlineBytes - before;
                    if (inlineBytes <= MaxRequestBytes)
                    {
                        continue;
                    }

                    // Too much for one request: what is held so far is staged now, and everything after it as it comes.
                    inline = false;
                    foreach (var held in plans.Where(p => p.Table.Rows.Count > 0))
                    {
                        await ForTableAsync(held.Table.Table.Source, () => PreStageAsync(held, cancellationToken)).ConfigureAwait(false);
                    }

                    continue;
                }

                await ForTableAsync(source, () => StageAsync(table.Table, SnowflakeTargetTable.StreamChunk, rows, cancellationToken)).ConfigureAwait(false);
            }
        }

        return inline;
    }

    /// <summary>A table's folded rows as stage rows in request-sized JSON arrays, each encoded only when asked for.</summary>
    private IEnumerable<StagedJson> StreamRows(FoldedTable<SnowflakeTargetTable> table)
    {
        var target = table.Table;
        var chunker = new SnowflakeStaging.JsonChunker(target.Name, target.StreamColumns, MaxRequestBytes);
        var values = new object?[target.StreamColumns.Count];
        foreach (var row in table.Rows.Values)
        {
            values[0] = row.IsDelete;
            values[1] = row.Position;
            values[2] = row.Sequence;
            values[3] = row.CommittedAt;
            values[4] = row.Deleted;
            values[5] = row.HasUnchanged ? new string([.. row.Values.Select(v => ReferenceEquals(v, UnchangedValue.Instance) ? '1' : '0')]) : null;
            for (var c = 0; c < target.ColumnCount; c++)
            {
                values[6 + c] = row.Values[c] is UnchangedValue ? null : row.Values[c];
            }

            for (var k = 0; k < target.KeyIndexes.Count; k++)
            {
                values[6 + target.ColumnCount + k] = row.OriginKey[k];
            }

            if (AddRow(chunker, target.Source, values) is { } full)
            {
                yield return full;
            }
        }

        if (chunker.Finish() is { } last)
        {
            yield return last;
        }
    }

    private static StagedJson? AddRow(SnowflakeStaging.JsonChunker chunker, TableId table, object?[] values)
    {
        try
        {
            return chunker.Add(values);
        }
        catch (ArgumentException e)
        {
            // A row larger than any request could carry.
            throw new TableApplyException(table, e);
        }
    }

    /// <summary>Sends the arrays a table held for an inline transaction to its staging table instead, and lets go of them.</summary>
    private async Task PreStageAsync(TablePlan plan, CancellationToken cancellationToken)
    {
        var target = plan.Table.Table;
        await ClearStageAsync(target, SnowflakeTargetTable.StreamChunk, cancellationToken).ConfigureAwait(false);
        foreach (var rows in plan.Chunks)
        {
            await StageAsync(target, SnowflakeTargetTable.StreamChunk, rows, cancellationToken).ConfigureAwait(false);
        }

        plan.Chunks.Clear();
    }

    private Task ClearStageAsync(SnowflakeTargetTable target, int chunk, CancellationToken cancellationToken) =>
        RunAsync(new SnowflakeStatement($"DELETE FROM {target.QuotedStage} WHERE \"_chunk\" = ?") { Bindings = [SnowflakeBinding.Fixed(chunk)] }, cancellationToken);

    private Task StageAsync(SnowflakeTargetTable target, int chunk, StagedJson rows, CancellationToken cancellationToken)
    {
        var (sql, bindings) = TablePlan.StageInsert(target, chunk, rows);
        return RunAsync(new SnowflakeStatement(sql) { Bindings = bindings }, cancellationToken);
    }

    /// <summary>
    /// Finds which table's rows the service refused: each table's statements run again on their own in a transaction
    /// that is rolled back. The first that fails is named; when none does, the original error stands.
    /// </summary>
    private async Task BlameTableAsync(List<TablePlan> plans, bool inline, SnowflakeException original, CancellationToken cancellationToken)
    {
        foreach (var plan in plans)
        {
            var probe = new StatementList();
            plan.AddStatements(probe, inline);
            if (probe.Count == 0)
            {
                continue;
            }

            try
            {
                await RunAsync(probe.RolledBack(), cancellationToken).ConfigureAwait(false);
            }
            catch (SnowflakeException e) when (IsTableError(e))
            {
                LogTableFailed(_logger, plan.Table.Table.Source.ToString(), Describe(e));
                throw new TableApplyException(plan.Table.Table.Source, e);
            }
        }

        LogUnblamed(_logger, Describe(original));
    }

    private async Task<HashSet<string>> ExistingTablesAsync(CancellationToken cancellationToken)
    {
        var result = await RunAsync(new SnowflakeStatement("SELECT table_name FROM information_schema.tables WHERE table_schema = CURRENT_SCHEMA()"), cancellationToken)
            .ConfigureAwait(false);
        return result.Rows.Select(r => r[0]!).ToHashSet(StringComparer.Ordinal);
    }

    /// <summary>Staging tables of earlier placements of this pipeline: their runs are over (the claim just fenced them).</summary>
    private async Task DropEarlierStagesAsync(CancellationToken cancellationToken)
    {
        var prefix = SnowflakeTargetTable.StagePrefix(_context.PipelineId);
        var stale = (await ExistingTablesAsync(cancellationToken).ConfigureAwait(false))
            .Where(name => name.StartsWith(prefix, StringComparison.Ordinal)
                && name[prefix.Length..].Split('_')[0] is var epoch
                && long.TryParse(epoch, NumberStyles.None, CultureInfo.InvariantCulture, out var e) && e < _context.Epoch)
            .ToList();
        if (stale.Count > 0)
        {
            await RunAsync(new SnowflakeStatement(string.Join(";\n", stale.Select(name => $"DROP TABLE IF EXISTS {SnowflakeTypes.Quote(name)}"))) { StatementCount = stale.Count },
                cancellationToken).ConfigureAwait(false);
        }
    }

    private SnowflakeTargetTable Table(TableId source)
    {
        lock (_tablesLock)
        {
            return _tables.TryGetValue(source, out var table)
                ? table
                : throw new TableApplyException(source, new InvalidOperationException($"Table {source} has no target table set up (EnsureTableAsync was not called or refused it)."));
        }
    }

    private T ForTable<T>(TableId table, Func<T> action)
    {
        try
        {
            return action();
        }
        catch (ArgumentException e)
        {
            // A row larger than any request could carry.
            throw new TableApplyException(table, e);
        }
    }

    private async Task ForTableAsync(TableId table, Func<Task> action)
    {
        try
        {
            await action().ConfigureAwait(false);
        }
        catch (SnowflakeException e) when (IsTableError(e))
        {
            await ThrowIfFencedAsync(CancellationToken.None).ConfigureAwait(false);
            LogTableFailed(_logger, table.ToString(), Describe(e));
            throw new TableApplyException(table, e);
        }
    }

    /// <summary>
    /// Errors caused by one table's values or shape (SQL states 22 data, 23 integrity, 42 compilation, 0A not supported),
    /// as opposed to the service, the session or the fence.
    /// </summary>
    internal static bool IsTableError(SnowflakeException e) =>
        !e.IsRetryable && e.SqlState is { } state
        && (state.StartsWith("22", StringComparison.Ordinal) || state.StartsWith("23", StringComparison.Ordinal)
            || state.StartsWith("42", StringComparison.Ordinal) || state.StartsWith("0A", StringComparison.Ordinal));

    /// <summary>What may be logged or shown of an error: the service's code and SQL state (its message can quote values).</summary>
    internal static string Describe(SnowflakeException e) => $"Snowflake error {e.Code ?? "?"} (HTTP {e.HttpStatus}, SQL state {e.SqlState ?? "?"})";

    private static string ChunkTableName(TableId table) => $"{table.Schema}.{table.Name}";

    private static TableId ParseChunkTableName(string name)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return new TableId(name[..dot], name[(dot + 1)..]);
    }

    private static IReadOnlyDictionary<TableId, string> ParseQuarantine(string? json) =>
        string.IsNullOrEmpty(json)
            ? new Dictionary<TableId, string>()
            : (JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? []).ToDictionary(q => ParseChunkTableName(q.Key), q => q.Value);

    internal static SnowflakeBinding Timestamp(DateTimeOffset at) =>
        SnowflakeBinding.Text(at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff", CultureInfo.InvariantCulture) + "+00:00");

    private DateTimeOffset Now() => _context.TimeProvider.GetUtcNow();

    private PipelineFencedException Fenced(long ownerEpoch)
    {
        LogFenced(_logger, _context.PipelineId, _context.Epoch, ownerEpoch);
        return new PipelineFencedException(_context.PipelineId, _context.Epoch, ownerEpoch);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} claimed with epoch {Epoch} in Snowflake {Database}.{Schema}")]
    private static partial void LogClaimed(ILogger logger, Guid pipelineId, long epoch, string database, string schema);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} is fenced: epoch {OwnerEpoch} owns it, this worker runs epoch {Epoch}")]
    private static partial void LogFenced(ILogger logger, Guid pipelineId, long epoch, long ownerEpoch);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Target table {Table} for {Source}: created {Created}, added {Added}, dropped {Dropped}, retyped {Retyped}, ignored {Ignored}")]
    private static partial void LogTableEnsured(ILogger logger, string table, string source, bool created, int added, int dropped, int retyped, int ignored);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Target table {Table} for {Source} refused a schema change: {Reason}")]
    private static partial void LogTableRefused(ILogger logger, string table, string source, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Applied {Changes} changes to {Tables} tables through ({Position}, {Sequence}), staged inline {Inline}, in {ElapsedMs} ms")]
    private static partial void LogApplied(ILogger logger, int changes, int tables, long position, long sequence, bool inline, long elapsedMs);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Applying to table {Source} failed ({Error}); the batch was rolled back")]
    private static partial void LogTableFailed(ILogger logger, string source, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A batch failed ({Error}) but no table's statements fail on their own")]
    private static partial void LogUnblamed(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot of {Tables} tables started")]
    private static partial void LogSnapshotStarted(ILogger logger, int tables);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Snapshot chunk {Chunk} of {Source}: {Rows} rows (through the staging table: {Staged})")]
    private static partial void LogChunkCopied(ILogger logger, string source, int chunk, long rows, bool staged);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot finished")]
    private static partial void LogSnapshotFinished(ILogger logger);
}

/// <summary>Statements of one request and their bindings, numbered across the request as the SQL API numbers them.</summary>
internal sealed class StatementList
{
    private readonly List<string> _statements = [];
    private readonly List<SnowflakeBinding> _bindings = [];

    public int Count => _statements.Count;

    /// <summary>The statements' text as the request body carries it (escaped inside a JSON string).</summary>
    public int SqlBytes => _statements.Sum(s => JsonEncodedText.Encode(s).EncodedUtf8Bytes.Length + 2);

    public void Add(string sql, params SnowflakeBinding[] bindings)
    {
        _statements.Add(sql);
        _bindings.AddRange(bindings);
    }

    public SnowflakeStatement Transaction() => SnowflakeStatement.Transaction(_statements, _bindings);

    /// <summary>The statements in a transaction that is rolled back at the end: they run, and leave nothing behind.</summary>
    public SnowflakeStatement RolledBack() =>
        new("BEGIN;\n" + string.Join(";\n", _statements) + ";\nROLLBACK") { StatementCount = _statements.Count + 2, Bindings = [.. _bindings] };
}
