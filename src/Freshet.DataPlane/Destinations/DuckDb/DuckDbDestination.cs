using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using DuckDB.NET.Data;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;
using Microsoft.Extensions.Logging;
using static Freshet.DataPlane.Destinations.DuckDb.DuckDbSql;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// Writes a pipeline into a DuckDB file (<c>Settings["path"]</c>, absolute; created when missing), target tables in the
/// <c>main</c> schema. The file stays open while batches follow each other and is closed when they pause, when a
/// reader asks for it, and on dispose, so other processes can read it (see <see cref="SharedDuckDbFile"/> and
/// <see cref="DuckDbFile"/>).
/// </summary>
/// <remarks>
/// A batch is applied per table by appending its folded rows to a temporary staging table and then, set-based: a truncate
/// removes older rows; one join of the staging rows with the target finds the rows that win the (position, sequence)
/// guard and builds their final values (unchanged columns taken from the target row); the target rows they replace are
/// deleted and the winners inserted. Deleting and inserting rather than updating in place keeps DuckDB's checkpoints
/// cheap: an update rewrites whole row groups at the next checkpoint (on every close), a delete only marks rows.
/// </remarks>
internal sealed partial class DuckDbDestination(DestinationContext context, ILoggerFactory loggerFactory, DuckDbResources? resources = null) : IDestination
{
    private const string Checkpoints = "main." + MetadataColumns.CheckpointTable;
    private const string Chunks = "main." + MetadataColumns.SnapshotChunkTable;
    private const string Resnapshots = "main." + MetadataColumns.ResnapshotTable;

    private static readonly string[] MetadataDefinitions =
    [
        $"{MetadataColumns.Position} BIGINT",
        $"{MetadataColumns.Sequence} BIGINT",
        $"{MetadataColumns.CommittedAt} TIMESTAMP WITH TIME ZONE",
        $"{MetadataColumns.SyncedAt} TIMESTAMP WITH TIME ZONE",
        $"{MetadataColumns.Deleted} BOOLEAN",
        $"{MetadataColumns.DeletedAt} TIMESTAMP WITH TIME ZONE",
    ];

    private static readonly string MetadataList = string.Join(", ", MetadataColumns.All);

    private readonly ILogger _logger = loggerFactory.CreateLogger<DuckDbDestination>();
    private readonly SharedDuckDbFile _file = SharedDuckDbFile.For(ResolvePath(context.Endpoint), resources ?? DuckDbResources.Default);
    private readonly ConcurrentDictionary<TableId, TargetTable> _targets = new();
    private readonly string _pipelineId = context.PipelineId.ToString("D");

    public async Task<DestinationCheckpoint> ClaimAsync(CancellationToken cancellationToken)
    {
        await using var lease = await _file.AcquireAsync(exclusive: true, _logger, cancellationToken).ConfigureAwait(false);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(
            connection,
            $"""
            CREATE TABLE IF NOT EXISTS {Checkpoints} (
                pipeline_id VARCHAR PRIMARY KEY, epoch BIGINT NOT NULL, position VARCHAR, applied_position BIGINT NOT NULL,
                applied_sequence BIGINT NOT NULL, snapshot VARCHAR, quarantined VARCHAR, updated_at TIMESTAMP WITH TIME ZONE)
            """,
            cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(
            connection,
            $"""
            CREATE TABLE IF NOT EXISTS {Chunks} (
                pipeline_id VARCHAR NOT NULL, source_table VARCHAR NOT NULL, chunk INTEGER NOT NULL, row_count BIGINT NOT NULL,
                done_at TIMESTAMP WITH TIME ZONE NOT NULL)
            """,
            cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(
            connection,
            $"""
            CREATE TABLE IF NOT EXISTS {Resnapshots} (
                pipeline_id VARCHAR NOT NULL, request_id VARCHAR NOT NULL, handled_at TIMESTAMP WITH TIME ZONE NOT NULL,
                PRIMARY KEY (pipeline_id, request_id))
            """,
            cancellationToken).ConfigureAwait(false);

        var stored = await ReadCheckpointAsync(connection, cancellationToken).ConfigureAwait(false);
        if (stored is not null && stored.Epoch > context.Epoch)
        {
            throw Fenced(stored.Epoch);
        }

        var now = context.TimeProvider.GetUtcNow();
        await ExecuteAsync(
            connection,
            $"""
            INSERT INTO {Checkpoints} (pipeline_id, epoch, applied_position, applied_sequence, quarantined, updated_at)
            VALUES ($1, $2, 0, 0, $4, $3)
            ON CONFLICT (pipeline_id) DO UPDATE SET epoch = excluded.epoch, updated_at = excluded.updated_at
            """,
            [_pipelineId, context.Epoch, now, "{}"],
            cancellationToken).ConfigureAwait(false);
        await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);

        var empty = new Dictionary<TableId, string>();
        return (stored ?? new DestinationCheckpoint(context.Epoch, null, 0, 0, null, empty, now)) with { Epoch = context.Epoch, UpdatedAt = now };
    }

    public async Task<TableSetup> EnsureTableAsync(TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken)
    {
        await using var lease = await _file.AcquireAsync(exclusive: true, _logger, cancellationToken).ConfigureAwait(false);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);

        if (table.Columns.Any(c => SameName(c.Name, "rowid")))
        {
            // A column named rowid hides DuckDB's row id, which an apply uses to replace the rows it matched.
            return Quarantined(table, "a column named rowid cannot be replicated to DuckDB (it hides DuckDB's row id)");
        }

        if (SchemaChangePlan.MetadataCollision(table, StringComparer.OrdinalIgnoreCase) is { } collision)
        {
            return Quarantined(table, collision);
        }

        var qualified = "main." + Quote(table.DestinationName);
        var existing = await ReadColumnsAsync(connection, table.DestinationName, cancellationToken).ConfigureAwait(false);
        if (existing.Count == 0)
        {
            var definitions = table.Columns.Select(c => $"{Quote(c.Name)} {DuckDbTypes.TargetType(c.Type)}").Concat(MetadataDefinitions);
            await ExecuteAsync(connection, $"CREATE TABLE {qualified} ({string.Join(", ", definitions)})", cancellationToken).ConfigureAwait(false);
            await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
            Register(table, [.. table.Columns.Select(c => new TargetColumn(c.Name, DuckDbTypes.TargetType(c.Type)))], [.. table.Columns.Select(c => c.Name), .. MetadataColumns.All]);
            LogTableCreated(_logger, table.DestinationName, table.Source);
            return new TableSetup(true, [.. table.Columns.Select(c => c.Name)], [], [], null, []);
        }

        var replicated = existing.Where(c => !IsMetadata(c.Name)).ToList();
        // DuckDB's names are case-insensitive: a target column is the source column whose name matches in any case.
        var plan = SchemaChangePlan.Decide(
            table,
            replicated.Select(t => table.Columns.FirstOrDefault(c => SameName(c.Name, t.Name))?.Name ?? t.Name),
            column => Find(replicated, column.Name) is { } target && !DuckDbTypes.SameType(target.Type, DuckDbTypes.TargetType(column.Type))
                ? $"{target.Type} → {DuckDbTypes.TargetType(column.Type)}"
                : null,
            policy);
        if (plan.QuarantineReason is { } refused)
        {
            return Quarantined(table, refused);
        }

        foreach (var metadata in MetadataDefinitions.Where(d => Find(existing, d[..d.IndexOf(' ', StringComparison.Ordinal)]) is null))
        {
            await ExecuteAsync(connection, $"ALTER TABLE {qualified} ADD COLUMN {metadata}", cancellationToken).ConfigureAwait(false);
        }

        foreach (var column in plan.Add)
        {
            await ExecuteAsync(
                connection,
                $"ALTER TABLE {qualified} ADD COLUMN {Quote(column.Name)} {DuckDbTypes.TargetType(column.Type)}",
                cancellationToken).ConfigureAwait(false);
        }

        foreach (var name in plan.Drop)
        {
            await ExecuteAsync(connection, $"ALTER TABLE {qualified} DROP COLUMN {Quote(name)}", cancellationToken).ConfigureAwait(false);
        }

        foreach (var column in plan.Retype)
        {
            var from = Find(replicated, column.Name)!.Type;
            var type = DuckDbTypes.TargetType(column.Type);
            try
            {
                await ExecuteAsync(
                    connection,
                    $"ALTER TABLE {qualified} ALTER COLUMN {Quote(column.Name)} SET DATA TYPE {type}",
                    cancellationToken).ConfigureAwait(false);
            }
            catch (DuckDBException exception) when (!cancellationToken.IsCancellationRequested)
            {
                // The transaction is rolled back on dispose: the table stays as it was.
                return Quarantined(table, $"column {column.Name} cannot change from {from} to {type}: {exception.ErrorType} error converting the stored values");
            }
        }

        var physical = await ReadColumnsAsync(connection, table.DestinationName, cancellationToken).ConfigureAwait(false);
        var final = physical.Where(c => !IsMetadata(c.Name)).ToList();
        var missingKeys = table.Columns.Where(c => c.IsKey && Find(final, c.Name) is null).Select(c => c.Name).ToList();
        if (missingKeys.Count > 0)
        {
            return Quarantined(table, $"key column(s) {string.Join(", ", missingKeys)} are not in the target table {table.DestinationName}");
        }

        await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        Register(table, final, [.. physical.Select(c => c.Name)]);

        var setup = new TableSetup(
            Created: false,
            Added: [.. plan.Add.Select(c => c.Name)],
            Dropped: plan.Drop,
            Retyped: [.. plan.Retype.Select(c => c.Name)],
            QuarantineReason: null,
            Ignored: plan.Ignored);
        if (setup.Changed)
        {
            LogTableAltered(_logger, table.DestinationName, setup.Added.Count, setup.Dropped.Count, setup.Retyped.Count);
        }

        return setup;
    }

    public async Task ApplyAsync(ChangeBatch batch, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                await ApplyOnceAsync(batch, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception exception) when (exception is DuckDBException or DuckDbAppendException && SharedDuckDbFile.IsOutOfMemory(exception))
            {
                // The transaction rolled back; the batch is tried again under a larger limit, if there is one.
                if (!await _file.RaiseMemoryLimitAsync(_logger, cancellationToken).ConfigureAwait(false))
                {
                    throw;
                }
            }
            catch (DuckDbCommitFailedException exception) when (exception.MemoryLimitRaised)
            {
                // The commit ran out of memory: the instance was discarded, so the batch is tried again on the file as it
                // was committed, reopened under the larger limit (a batch is derived from the destination's state alone).
            }
        }
    }

    private async Task ApplyOnceAsync(ChangeBatch batch, CancellationToken cancellationToken)
    {
        var started = Stopwatch.GetTimestamp();
        var (changes, blocks) = SplitBlocks(batch);
        var tables = ChangeFolder.Fold(changes, TargetOf);
        var folded = Stopwatch.GetTimestamp();
        var applies = PlanApplies(tables, blocks);
        var planned = Stopwatch.GetTimestamp();

        await using var lease = await _file.AcquireAsync(exclusive: true, _logger, cancellationToken).ConfigureAwait(false);
        var leased = Stopwatch.GetTimestamp();
        var connection = lease.Connection;

        // Staging tables are private to the connection, so they are filled before the transaction to keep it short.
        foreach (var apply in applies)
        {
            await ForTableAsync(apply.Table.Source, () => apply.StageAsync(connection, cancellationToken), cancellationToken).ConfigureAwait(false);
        }

        var staged = Stopwatch.GetTimestamp();

        var prepared = staged;
        var written = staged;
        var syncedAt = context.TimeProvider.GetUtcNow();
        if (applies.Count > 0)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);
            foreach (var apply in applies)
            {
                await ForTableAsync(
                    apply.Table.Source,
                    () => apply.PrepareAsync(connection, context.TimeProvider, cancellationToken),
                    cancellationToken).ConfigureAwait(false);
            }

            // Synced-at measures commit-to-destination latency, so it is taken after all the reading, just before the writes.
            prepared = Stopwatch.GetTimestamp();
            syncedAt = context.TimeProvider.GetUtcNow();
            foreach (var apply in applies)
            {
                await ForTableAsync(apply.Table.Source, () => apply.WriteAsync(connection, syncedAt, cancellationToken), cancellationToken).ConfigureAwait(false);
            }

            written = Stopwatch.GetTimestamp();
            await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        }

        await SaveCheckpointAsync(lease, batch, syncedAt, cancellationToken).ConfigureAwait(false);

        // The connection serves the next batch when this one leaves nothing behind on it.
        foreach (var apply in applies)
        {
            await apply.DropStagingAsync(connection, cancellationToken).ConfigureAwait(false);
        }

        lease.KeepConnection();
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            LogApplied(
                _logger,
                batch.RowCount,
                Stopwatch.GetElapsedTime(started, folded).TotalMilliseconds,
                Stopwatch.GetElapsedTime(folded, planned).TotalMilliseconds,
                Stopwatch.GetElapsedTime(planned, leased).TotalMilliseconds,
                Stopwatch.GetElapsedTime(leased, staged).TotalMilliseconds,
                Stopwatch.GetElapsedTime(staged, prepared).TotalMilliseconds,
                Stopwatch.GetElapsedTime(prepared, written).TotalMilliseconds,
                Stopwatch.GetElapsedTime(written).TotalMilliseconds);
        }
    }

    /// <summary>
    /// Moves the checkpoint past <paramref name="batch"/>, in a transaction of its own after the one that committed the
    /// batch's rows (none when the batch only moves the checkpoint). Not in the rows' transaction, for the reason chunk
    /// done records are not (<see cref="RecordChunkDoneAsync"/>): a DuckDB commit that fails is not atomic, and one that
    /// kept the checkpoint's move without the rows would have the stream resume after changes that never landed. Apart,
    /// the checkpoint moves only once the rows are committed; rows committed without it are replayed from the old
    /// checkpoint, which changes nothing: a change never replaces a target row holding its own or a newer (position,
    /// sequence), a delete of a missing row is a no-op, and a truncate removes only rows older than itself.
    /// </summary>
    private async Task SaveCheckpointAsync(SharedDuckDbFile.Lease lease, ChangeBatch batch, DateTimeOffset syncedAt, CancellationToken cancellationToken)
    {
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(
            connection,
            $"""
            UPDATE {Checkpoints} SET position = $1, applied_position = $2, applied_sequence = $3, updated_at = $4
            WHERE pipeline_id = $5
            """,
            [batch.ResumePosition, batch.AppliedThrough.Position, batch.AppliedThrough.Sequence, syncedAt, _pipelineId],
            cancellationToken).ConfigureAwait(false);
        await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
    }

    public Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, CancellationToken cancellationToken) =>
        BeginSnapshotAsync(tables, plan, [], cancellationToken);

    public async Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, IReadOnlyCollection<Guid> resnapshots, CancellationToken cancellationToken)
    {
        await using var lease = await _file.AcquireAsync(exclusive: true, _logger, cancellationToken).ConfigureAwait(false);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);
        foreach (var table in tables)
        {
            if ((await ReadColumnsAsync(connection, table.DestinationName, cancellationToken).ConfigureAwait(false)).Count > 0)
            {
                await ExecuteAsync(connection, $"DELETE FROM main.{Quote(table.DestinationName)}", cancellationToken).ConfigureAwait(false);
            }

            await ExecuteAsync(
                connection,
                $"DELETE FROM {Chunks} WHERE pipeline_id = $1 AND source_table = $2",
                [_pipelineId, table.Source.ToString()],
                cancellationToken).ConfigureAwait(false);
        }

        await ExecuteAsync(
            connection,
            $"UPDATE {Checkpoints} SET snapshot = $1, updated_at = $2 WHERE pipeline_id = $3",
            [plan, context.TimeProvider.GetUtcNow(), _pipelineId],
            cancellationToken).ConfigureAwait(false);
        foreach (var request in resnapshots)
        {
            await ExecuteAsync(
                connection,
                $"INSERT INTO {Resnapshots} (pipeline_id, request_id, handled_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                [_pipelineId, request.ToString("D"), context.TimeProvider.GetUtcNow()],
                cancellationToken).ConfigureAwait(false);
        }

        await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlySet<Guid>> ReadHandledResnapshotsAsync(CancellationToken cancellationToken)
    {
        await using var lease = await _file.AcquireAsync(exclusive: false, _logger, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(
            lease.Connection,
            $"SELECT request_id FROM {Resnapshots} WHERE pipeline_id = $1",
            [_pipelineId],
            reader =>
            {
                var handled = new HashSet<Guid>();
                while (reader.Read())
                {
                    handled.Add(Guid.Parse(reader.GetString(0)));
                }

                return handled;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<IReadOnlySet<(TableId Table, int Chunk)>> ReadCompletedChunksAsync(CancellationToken cancellationToken)
    {
        await using var lease = await _file.AcquireAsync(exclusive: false, _logger, cancellationToken).ConfigureAwait(false);
        return await ReadAsync(
            lease.Connection,
            $"SELECT source_table, chunk FROM {Chunks} WHERE pipeline_id = $1",
            [_pipelineId],
            reader =>
            {
                var chunks = new HashSet<(TableId, int)>();
                while (reader.Read())
                {
                    chunks.Add((ParseTableId(reader.GetString(0)), reader.GetInt32(1)));
                }

                return chunks;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public async Task<long> CopySnapshotChunkAsync(
        TableSchema table,
        SnapshotChunk chunk,
        IAsyncEnumerable<object?[]> rows,
        CancellationToken cancellationToken)
    {
        try
        {
            return await CopySnapshotChunkOnceAsync(table, chunk, rows, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is DuckDBException or DuckDbAppendException && SharedDuckDbFile.IsOutOfMemory(exception))
        {
            // The rows cannot be read again here; the engine retries the chunk, under the larger limit when it could grow.
            await _file.RaiseMemoryLimitAsync(_logger, cancellationToken).ConfigureAwait(false);
            throw;
        }
    }

    private async Task<long> CopySnapshotChunkOnceAsync(
        TableSchema table,
        SnapshotChunk chunk,
        IAsyncEnumerable<object?[]> rows,
        CancellationToken cancellationToken)
    {
        var target = TargetOf(table.Source);
        var sourceIndexes = target.Written.Select(c => table.IndexOf(c.SourceName)).ToArray();
        var started = Stopwatch.GetTimestamp();

        // The file is taken only once the source has its first row (or has none): until then the source may wait for
        // long (a COPY queued for its table's lock behind a TRUNCATE, a loaded server), and a lease held meanwhile keeps
        // the instance open, locking every other process's reader out for as long (the hold-off for readers only
        // stops writes that have not started).
        // A resumed chunk goes through staging, which can replace what an earlier attempt left (see SnapshotChunk.Resumed).
        var direct = target.AppendsDirectly && !chunk.Resumed;
        if (direct && rows is ITypedRowSource { CanReadTyped: true } typed)
        {
            await using var reader = await typed.OpenTypedAsync(cancellationToken).ConfigureAwait(false);
            var first = await reader.MoveNextAsync().ConfigureAwait(false);
            var typedRows = new TypedDirectRows(reader, sourceIndexes, [.. target.Written.Select(c => c.SourceType.Kind)], table.Columns.Count);
            return await CopySnapshotChunkDirectAsync(table, chunk, target, sourceIndexes, typedRows, first, started, cancellationToken).ConfigureAwait(false);
        }

        await using var source = rows.GetAsyncEnumerator(cancellationToken);
        var more = await source.MoveNextAsync().ConfigureAwait(false);

        if (direct)
        {
            var objectRows = new ObjectDirectRows(source, sourceIndexes, target);
            return await CopySnapshotChunkDirectAsync(table, chunk, target, sourceIndexes, objectRows, more, started, cancellationToken).ConfigureAwait(false);
        }

        // Shared: chunks append in parallel, each on its own connection to the one instance. The rows are staged before
        // the transaction begins, to keep it short.
        await using var lease = await _file.AcquireAsync(exclusive: false, _logger, cancellationToken).ConfigureAwait(false);
        var connection = lease.Connection;
        var count = await StageChunkAsync(table.Source, connection, target, sourceIndexes, source, more, cancellationToken).ConfigureAwait(false);
        var syncedAt = context.TimeProvider.GetUtcNow();
        await using (var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false))
        {
            await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);
            await InsertStagedChunkAsync(table.Source, connection, target, chunk, syncedAt, cancellationToken).ConfigureAwait(false);
            await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        }

        await RecordChunkDoneAsync(lease, table.Source, chunk, count, syncedAt, cancellationToken).ConfigureAwait(false);
        return count;
    }

    /// <summary>
    /// A chunk's done record, in a transaction of its own after the one that committed the chunk's rows. Not in the rows'
    /// transaction: a DuckDB commit that fails (out of memory) is not atomic — its revert has left rows behind without
    /// their done record, and once (a MariaDB crash-loop run) a done record without the chunk's 150 rows, so the resumed
    /// snapshot skipped the chunk and lost them. Committed apart, a done record exists only after its rows committed;
    /// rows without a record are what a resumed chunk replaces (<see cref="SnapshotChunk.Resumed"/>).
    /// </summary>
    private async Task RecordChunkDoneAsync(SharedDuckDbFile.Lease lease, TableId table, SnapshotChunk chunk, long rows, DateTimeOffset syncedAt, CancellationToken cancellationToken)
    {
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(
            connection,
            $"INSERT INTO {Chunks} (pipeline_id, source_table, chunk, row_count, done_at) VALUES ($1, $2, $3, $4, $5)",
            [_pipelineId, table.ToString(), chunk.Number, rows, syncedAt],
            cancellationToken).ConfigureAwait(false);
        await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A fresh snapshot's chunk rows are all new (the snapshot began on emptied tables; a resumed chunk does not come here), so
    /// when every written column can be appended in its target type they go straight into the target, inside the
    /// chunk's transaction: one copy instead of a staging table and an INSERT … SELECT. A row the rows cannot append
    /// as they are (a timestamp infinity, which only the staged form can express; a decimal with more places than its
    /// column) sends the rest of the chunk through staging, in the same transaction.
    /// </summary>
    private async Task<long> CopySnapshotChunkDirectAsync(
        TableSchema table,
        SnapshotChunk chunk,
        TargetTable target,
        int[] sourceIndexes,
        IDirectRows rows,
        bool more,
        long started,
        CancellationToken cancellationToken)
    {
        var firstRow = Stopwatch.GetTimestamp();
        await using var lease = await _file.AcquireAsync(exclusive: false, _logger, cancellationToken).ConfigureAwait(false);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);
        var syncedAt = context.TimeProvider.GetUtcNow();
        var physical = PhysicalSources(target);
        var metadata = new DirectMetadata(chunk.Position, 0, chunk.TakenAt, syncedAt);

        long count = 0;
        var leased = Stopwatch.GetTimestamp();
        var appended = leased;
        // A table changed by hand since it was registered stages every row (staging names its columns).
        using var chunks = ForTable(table.Source, () => ChunkAppender.TryOpen(connection, target.Name, target.PhysicalColumns.Count), cancellationToken);
        if (chunks is not null)
        {
            while (more)
            {
                bool taken;
                try
                {
                    taken = rows.AppendCurrent(chunks, physical, metadata);
                }
                catch (Exception exception) when (!cancellationToken.IsCancellationRequested && IsDataError(exception))
                {
                    LogTableFailed(_logger, table.Source, exception.GetType().Name, (exception as DuckDBException)?.ErrorType.ToString());
                    throw new TableApplyException(table.Source, exception);
                }

                if (!taken)
                {
                    break;
                }

                count++;
                more = await rows.MoveNextAsync().ConfigureAwait(false);
            }

            appended = Stopwatch.GetTimestamp();
            ForTable(table.Source, chunks.Close, cancellationToken);
        }

        var closed = Stopwatch.GetTimestamp();
        if (more)
        {
            count += await StageChunkAsync(table.Source, connection, target, sourceIndexes, rows.Rest, more, cancellationToken).ConfigureAwait(false);
            await InsertStagedChunkAsync(table.Source, connection, target, chunk, syncedAt, cancellationToken).ConfigureAwait(false);
        }

        var written = Stopwatch.GetTimestamp();
        await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
        await transaction.DisposeAsync().ConfigureAwait(false);
        await RecordChunkDoneAsync(lease, table.Source, chunk, count, syncedAt, cancellationToken).ConfigureAwait(false);
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            LogChunkCopied(
                _logger,
                table.Source,
                chunk.Number,
                count,
                rows.Kind,
                Stopwatch.GetElapsedTime(started, firstRow).TotalMilliseconds,
                Stopwatch.GetElapsedTime(firstRow, leased).TotalMilliseconds,
                Stopwatch.GetElapsedTime(leased, appended).TotalMilliseconds,
                Stopwatch.GetElapsedTime(appended, closed).TotalMilliseconds,
                Stopwatch.GetElapsedTime(closed, written).TotalMilliseconds,
                Stopwatch.GetElapsedTime(written).TotalMilliseconds);
        }

        return count;
    }

    /// <summary>A chunk's rows as <see cref="CopySnapshotChunkDirectAsync"/> takes them.</summary>
    private interface IDirectRows
    {
        /// <summary>How the rows are read, for the log.</summary>
        string Kind { get; }

        /// <summary>The rest of the rows as objects, positioned on the current one (for staging).</summary>
        IAsyncEnumerator<object?[]> Rest { get; }

        /// <summary>Appends the current row in DuckDB's column order; false, with nothing of it appended, when it must be staged.</summary>
        bool AppendCurrent(ChunkAppender chunks, int[] physical, DirectMetadata metadata);

        ValueTask<bool> MoveNextAsync();
    }

    /// <summary>Rows read as objects.</summary>
    private sealed class ObjectDirectRows(IAsyncEnumerator<object?[]> source, int[] sourceIndexes, TargetTable target) : IDirectRows
    {
        // Where in a row the timestamps are (an infinity stages the rest).
        private readonly int[] _timestamps = [.. target.Written
            .Select((c, i) => (c, i))
            .Where(x => x.c.SourceType is { IsArray: false, Kind: ValueKind.Timestamp or ValueKind.TimestampTz } && sourceIndexes[x.i] >= 0)
            .Select(x => sourceIndexes[x.i])];

        public string Kind => "objects";

        public IAsyncEnumerator<object?[]> Rest => source;

        public bool AppendCurrent(ChunkAppender chunks, int[] physical, DirectMetadata metadata)
        {
            var values = source.Current;
            if (HasInfinity(values, _timestamps))
            {
                return false;
            }

            AppendDirect(chunks, physical, sourceIndexes, values, metadata);
            return true;
        }

        public ValueTask<bool> MoveNextAsync() => source.MoveNextAsync();
    }

    /// <summary>Rows read typed: each value goes from the source's bytes into DuckDB's vectors, no object or .NET string on the way.</summary>
    private sealed class TypedDirectRows(ITypedRows reader, int[] sourceIndexes, ValueKind[] kinds, int columns) : IDirectRows
    {
        public string Kind => "typed";

        public IAsyncEnumerator<object?[]> Rest { get; } = new TypedRowsAsObjects(reader, columns);

        public bool AppendCurrent(ChunkAppender chunks, int[] physical, DirectMetadata metadata) =>
            AppendTyped(chunks, physical, sourceIndexes, kinds, reader, metadata);

        public ValueTask<bool> MoveNextAsync() => reader.MoveNextAsync();
    }

    /// <summary>
    /// Appends the reader's current row in DuckDB's column order (as <see cref="AppendDirect"/> does for objects); false,
    /// with nothing of the row appended, when a value cannot go in this way.
    /// </summary>
    private static bool AppendTyped(ChunkAppender chunks, int[] physical, int[] sourceIndexes, ValueKind[] kinds, ITypedRows reader, DirectMetadata metadata)
    {
        foreach (var from in physical)
        {
            switch (from)
            {
                case >= 0:
                    var column = sourceIndexes[from];
                    if (column < 0 || reader.IsNull(column))
                    {
                        chunks.AppendNull();
                    }
                    else if (!AppendTypedValue(chunks, kinds[from], reader, column))
                    {
                        chunks.AbandonRow();
                        return false;
                    }

                    break;
                default:
                    AppendMetadata(chunks, from, metadata);
                    break;
            }
        }

        return true;
    }

    private static bool AppendTypedValue(ChunkAppender chunks, ValueKind kind, ITypedRows reader, int column)
    {
        switch (kind)
        {
            case ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64:
                chunks.AppendInteger(reader.GetInteger(column));
                return true;
            case ValueKind.Float32 or ValueKind.Float64:
                chunks.AppendFloat(reader.GetFloat(column));
                return true;
            case ValueKind.Boolean:
                chunks.AppendBoolean(reader.GetBoolean(column));
                return true;
            case ValueKind.Text or ValueKind.Json or ValueKind.Enum or ValueKind.NumericText:
                chunks.AppendUtf8(reader.GetUtf8(column));
                return true;
            case ValueKind.Bytes:
                chunks.AppendBlob(reader.GetBytes(column));
                return true;
            case ValueKind.Uuid:
                chunks.AppendUuid(reader.GetUuid(column));
                return true;
            case ValueKind.Time:
                chunks.AppendTime(reader.GetTime(column));
                return true;
            case ValueKind.Date when reader.TryGetDate(column, out var days):
                chunks.AppendDate(days);
                return true;
            case ValueKind.Timestamp or ValueKind.TimestampTz when reader.TryGetTimestamp(column, out var microseconds):
                chunks.AppendTimestampMicroseconds(microseconds);
                return true;
            case ValueKind.Decimal when reader.TryGetScaledDecimal(column, chunks.CurrentScale, out var scaled):
                chunks.AppendScaledDecimal(scaled);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The rest of a typed chunk as objects, for staging (the reader stays the caller's to dispose).</summary>
    private sealed class TypedRowsAsObjects(ITypedRows reader, int columns) : IAsyncEnumerator<object?[]>
    {
        private object?[]? _current;

        public object?[] Current => _current ??= [.. Enumerable.Range(0, columns).Select(reader.GetValue)];

        public async ValueTask<bool> MoveNextAsync()
        {
            _current = null;
            return await reader.MoveNextAsync().ConfigureAwait(false);
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static bool HasInfinity(object?[] values, int[] timestamps)
    {
        foreach (var i in timestamps)
        {
            if (DuckDbTypes.IsInfinity(values[i]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The metadata a directly appended row carries.</summary>
    private readonly record struct DirectMetadata(long Position, long Sequence, DateTimeOffset CommittedAt, DateTimeOffset SyncedAt);

    // What a target column receives on the direct path when it is not a written column.
    private const int FromPosition = -1;
    private const int FromSequence = -2;
    private const int FromCommittedAt = -3;
    private const int FromSyncedAt = -4;
    private const int FromDeleted = -5;
    private const int FromNothing = int.MinValue;

    /// <summary>For each column of the target in DuckDB's order: the written column it receives (its index), a metadata value (negative), or nothing.</summary>
    private static int[] PhysicalSources(TargetTable target)
    {
        var sources = new int[target.PhysicalColumns.Count];
        for (var p = 0; p < sources.Length; p++)
        {
            var name = target.PhysicalColumns[p];
            sources[p] = target.WrittenIndexOf(name) is var i and >= 0 ? i
                : SameName(name, MetadataColumns.Position) ? FromPosition
                : SameName(name, MetadataColumns.Sequence) ? FromSequence
                : SameName(name, MetadataColumns.CommittedAt) ? FromCommittedAt
                : SameName(name, MetadataColumns.SyncedAt) ? FromSyncedAt
                : SameName(name, MetadataColumns.Deleted) ? FromDeleted
                : FromNothing;
        }

        return sources;
    }

    /// <summary>
    /// Appends one new row to a target in DuckDB's column order. <paramref name="valueIndexes"/> maps a written column to
    /// its place in <paramref name="values"/> (-1: not there).
    /// </summary>
    private static void AppendDirect(ChunkAppender chunks, int[] physical, int[] valueIndexes, object?[] values, DirectMetadata metadata)
    {
        foreach (var from in physical)
        {
            switch (from)
            {
                case >= 0:
                    chunks.Append(valueIndexes[from] >= 0 ? values[valueIndexes[from]] : null);
                    break;
                default:
                    AppendMetadata(chunks, from, metadata);
                    break;
            }
        }
    }

    /// <summary>Appends what a target column that is not a written one receives (see <see cref="PhysicalSources"/>).</summary>
    private static void AppendMetadata(ChunkAppender chunks, int from, DirectMetadata metadata)
    {
        switch (from)
        {
            case FromPosition:
                chunks.AppendInt64(metadata.Position);
                break;
            case FromSequence:
                chunks.AppendInt64(metadata.Sequence);
                break;
            case FromCommittedAt:
                chunks.AppendTimestamp(metadata.CommittedAt);
                break;
            case FromSyncedAt:
                chunks.AppendTimestamp(metadata.SyncedAt);
                break;
            case FromDeleted:
                chunks.AppendBoolean(false);
                break;
            default:
                chunks.AppendNull();
                break;
        }
    }

    /// <summary>Appends the rest of a chunk's rows to a new staging table on <paramref name="connection"/>.</summary>
    private async Task<long> StageChunkAsync(
        TableId table, DuckDBConnection connection, TargetTable target, int[] sourceIndexes, IAsyncEnumerator<object?[]> source, bool more, CancellationToken cancellationToken)
    {
        var columns = target.Written.Select((c, i) => $"c{i} {c.StagingType}");
        await ForTableAsync(
            table,
            () => ExecuteAsync(connection, $"CREATE TEMP TABLE _freshet_chunk ({string.Join(", ", columns)})", cancellationToken),
            cancellationToken).ConfigureAwait(false);
        long count = 0;
        var appender = ForTable(table, () => connection.CreateAppender("temp", "main", "_freshet_chunk"), cancellationToken);
        try
        {
            while (more)
            {
                var values = source.Current;
                try
                {
                    AppendRow(appender.CreateRow(), target.Written, sourceIndexes, values);
                }
                catch (Exception exception) when (!cancellationToken.IsCancellationRequested && IsDataError(exception))
                {
                    // Only appending is the table's fault, not a failure of the rows' source.
                    LogTableFailed(_logger, table, exception.GetType().Name, (exception as DuckDBException)?.ErrorType.ToString());
                    throw new TableApplyException(table, exception);
                }

                count++;
                more = await source.MoveNextAsync().ConfigureAwait(false);
            }

            ForTable(table, appender.Close, cancellationToken);
        }
        finally
        {
            appender.Dispose();
        }

        return count;
    }

    private Task InsertStagedChunkAsync(
        TableId table, DuckDBConnection connection, TargetTable target, SnapshotChunk chunk, DateTimeOffset syncedAt, CancellationToken cancellationToken)
    {
        var names = target.Written.Select(c => Quote(c.TargetName));
        var staged = target.Written.Select((c, i) => c.TargetValue($"c{i}"));
        return ForTableAsync(
            table,
            async () =>
            {
                if (chunk.Resumed)
                {
                    // Rows an earlier attempt at this chunk left without its done record. Null-safe: with REPLICA
                    // IDENTITY FULL every column is a key, nullable ones included.
                    var match = string.Join(
                        " AND ",
                        target.KeyIndexes.Select(i => $"t.{Quote(target.Written[i].TargetName)} IS NOT DISTINCT FROM {target.Written[i].TargetValue($"s.c{i}")}"));
                    await ExecuteAsync(
                        connection,
                        $"DELETE FROM {target.QualifiedName} AS t USING temp.main._freshet_chunk s WHERE {match}",
                        cancellationToken).ConfigureAwait(false);
                }

                await ExecuteAsync(
                    connection,
                    $"""
                    INSERT INTO {target.QualifiedName} ({string.Join(", ", names)}, {MetadataList})
                    SELECT {string.Join(", ", staged)}, $1, 0, $2, $3, false, NULL FROM temp.main._freshet_chunk
                    """,
                    [chunk.Position, chunk.TakenAt, syncedAt],
                    cancellationToken).ConfigureAwait(false);
            },
            cancellationToken);
    }

    public Task FinishSnapshotAsync(string resumePosition, CancellationToken cancellationToken) =>
        FinishSnapshotAsync(resumePosition, restartsStream: false, cancellationToken);

    public Task FinishSnapshotAsync(string resumePosition, bool restartsStream, CancellationToken cancellationToken) =>
        UpdateCheckpointAsync(
            restartsStream ? "snapshot = NULL, position = $1, applied_position = 0, applied_sequence = 0" : "snapshot = NULL, position = $1",
            resumePosition,
            cancellationToken);

    public Task SaveQuarantineAsync(IReadOnlyDictionary<TableId, string> quarantined, CancellationToken cancellationToken) =>
        UpdateCheckpointAsync(
            "quarantined = $1",
            JsonSerializer.Serialize(quarantined.ToDictionary(q => q.Key.ToString(), q => q.Value)),
            cancellationToken);

    /// <summary>The memory limit of this destination's DuckDB instance now (it grows after writes that ran out).</summary>
    internal int MemoryLimitMb => _file.MemoryLimitMb;

    public async ValueTask DisposeAsync() => await _file.CloseIfUnusedAsync().ConfigureAwait(false);

    private static string ResolvePath(EndpointSpec endpoint)
    {
        if (!endpoint.Settings.TryGetValue("path", out var path) || string.IsNullOrWhiteSpace(path))
        {
            throw new ArgumentException("A DuckDB destination needs the setting 'path'.", nameof(endpoint));
        }

        if (!Path.IsPathFullyQualified(path))
        {
            throw new ArgumentException($"The DuckDB path '{path}' must be absolute.", nameof(endpoint));
        }

        return Path.GetFullPath(path);
    }

    private static bool IsMetadata(string column) => MetadataColumns.All.Any(m => SameName(m, column));

    // DuckDB matches identifiers ignoring case.
    private static bool SameName(string left, string right) => string.Equals(left, right, StringComparison.OrdinalIgnoreCase);

    private static TargetColumn? Find(IEnumerable<TargetColumn> columns, string name) => columns.FirstOrDefault(c => SameName(c.Name, name));

    private static TableId ParseTableId(string value)
    {
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? new TableId(string.Empty, value) : new TableId(value[..dot], value[(dot + 1)..]);
    }

    private static async Task<List<TargetColumn>> ReadColumnsAsync(DuckDBConnection connection, string table, CancellationToken cancellationToken) =>
        await ReadAsync(
            connection,
            """
            SELECT column_name, data_type FROM duckdb_columns()
            WHERE database_name = current_database() AND schema_name = 'main' AND lower(table_name) = lower($1)
            ORDER BY column_index
            """,
            [table],
            reader =>
            {
                var columns = new List<TargetColumn>();
                while (reader.Read())
                {
                    columns.Add(new TargetColumn(reader.GetString(0), reader.GetString(1)));
                }

                return columns;
            },
            cancellationToken).ConfigureAwait(false);

    private TableSetup Quarantined(TableSchema table, string reason)
    {
        _targets.TryRemove(table.Source, out _);
        LogTableQuarantined(_logger, table.DestinationName, table.Source, reason);
        return new TableSetup(false, [], [], [], reason, []);
    }

    private void Register(TableSchema table, IReadOnlyList<TargetColumn> columns, IReadOnlyList<string> physicalColumns)
    {
        var written = new List<WrittenColumn>();
        foreach (var column in table.Columns)
        {
            if (Find(columns, column.Name) is { } target)
            {
                written.Add(new WrittenColumn(column.Name, column.Type, target.Name, target.Type, column.IsKey));
            }
        }

        _targets[table.Source] = new TargetTable(table.Source, table.DestinationName, columns, written, physicalColumns);
    }

    private TargetTable TargetOf(TableId table) =>
        _targets.TryGetValue(table, out var target)
            ? target
            : throw new InvalidOperationException($"EnsureTableAsync has not set up {table} in this destination.");

    private async Task<DestinationCheckpoint?> ReadCheckpointAsync(DuckDBConnection connection, CancellationToken cancellationToken) =>
        await ReadAsync(
            connection,
            $"""
            SELECT epoch, position, applied_position, applied_sequence, snapshot, quarantined, updated_at
            FROM {Checkpoints} WHERE pipeline_id = $1
            """,
            [_pipelineId],
            reader =>
            {
                if (!reader.Read())
                {
                    return null;
                }

                var quarantined = reader.IsDBNull(5)
                    ? []
                    : JsonSerializer.Deserialize<Dictionary<string, string>>(reader.GetString(5)) ?? [];
                return new DestinationCheckpoint(
                    reader.GetInt64(0),
                    reader.IsDBNull(1) ? null : reader.GetString(1),
                    reader.GetInt64(2),
                    reader.GetInt64(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    quarantined.ToDictionary(q => ParseTableId(q.Key), q => q.Value),
                    reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6));
            },
            cancellationToken).ConfigureAwait(false);

    /// <summary>Inside a write transaction: refuses to go on when a higher epoch owns the pipeline.</summary>
    private async Task CheckEpochAsync(DuckDBConnection connection, CancellationToken cancellationToken)
    {
        var owner = await ReadAsync(
            connection,
            $"SELECT epoch FROM {Checkpoints} WHERE pipeline_id = $1",
            [_pipelineId],
            reader => reader.Read() ? reader.GetInt64(0) : (long?)null,
            cancellationToken).ConfigureAwait(false);
        if (owner is null)
        {
            throw new InvalidOperationException($"Pipeline {context.PipelineId} has not been claimed in {_file.FullPath}.");
        }

        if (owner > context.Epoch)
        {
            throw Fenced(owner.Value);
        }
    }

    private PipelineFencedException Fenced(long ownerEpoch)
    {
        LogFenced(_logger, context.PipelineId, context.Epoch, ownerEpoch);
        return new PipelineFencedException(context.PipelineId, context.Epoch, ownerEpoch);
    }

    private async Task UpdateCheckpointAsync(string assignments, object? value, CancellationToken cancellationToken)
    {
        await using var lease = await _file.AcquireAsync(exclusive: true, _logger, cancellationToken).ConfigureAwait(false);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await CheckEpochAsync(connection, cancellationToken).ConfigureAwait(false);
        await ExecuteAsync(
            connection,
            $"UPDATE {Checkpoints} SET {assignments}, updated_at = $2 WHERE pipeline_id = $3",
            [value, context.TimeProvider.GetUtcNow(), _pipelineId],
            cancellationToken).ConfigureAwait(false);
        await lease.CommitAsync(transaction, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs one table's part of a write; a failure caused by its rows becomes a <see cref="TableApplyException"/>.</summary>
    private async Task ForTableAsync(TableId table, Func<Task> work, CancellationToken cancellationToken)
    {
        try
        {
            await work().ConfigureAwait(false);
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested && IsDataError(exception))
        {
            // The message may quote a value, so only the error's type is logged.
            LogTableFailed(_logger, table, exception.GetType().Name, (exception as DuckDBException)?.ErrorType.ToString());
            throw new TableApplyException(table, exception);
        }
    }

    private void ForTable(TableId table, Action work, CancellationToken cancellationToken) =>
        ForTable<object?>(
            table,
            () =>
            {
                work();
                return null;
            },
            cancellationToken);

    private T ForTable<T>(TableId table, Func<T> work, CancellationToken cancellationToken)
    {
        try
        {
            return work();
        }
        catch (Exception exception) when (!cancellationToken.IsCancellationRequested && IsDataError(exception))
        {
            LogTableFailed(_logger, table, exception.GetType().Name, (exception as DuckDBException)?.ErrorType.ToString());
            throw new TableApplyException(table, exception);
        }
    }

    private static void AppendRow(IDuckDBAppenderRow row, IReadOnlyList<WrittenColumn> written, int[] sourceIndexes, object?[] values)
    {
        for (var i = 0; i < sourceIndexes.Length; i++)
        {
            var value = sourceIndexes[i] >= 0 ? values[sourceIndexes[i]] : null;
            if (value is null or UnchangedValue)
            {
                row.AppendNullValue();
            }
            else
            {
                written[i].Write(row, value);
            }
        }

        row.EndRow();
    }

    // What a table's values or types cause: a failed cast or constraint in DuckDB, a value of the wrong type for its kind.
    // Running out of memory is the worker's problem, not the table's: it must never quarantine a table.
    private static bool IsDataError(Exception exception) =>
        exception is DuckDBException or DuckDbAppendException or InvalidCastException or OverflowException or FormatException or InvalidOperationException
            && exception is not ObjectDisposedException
            && !SharedDuckDbFile.IsOutOfMemory(exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} epoch {Epoch} is fenced: epoch {OwnerEpoch} owns it")]
    private static partial void LogFenced(ILogger logger, Guid pipelineId, long epoch, long ownerEpoch);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Copied chunk {Chunk} of {Table} ({Rows} rows, read as {Reading}): first row {FirstRowMs:0.0} ms, lease {LeaseMs:0.0} ms, append {AppendMs:0.0} ms, close {CloseMs:0.0} ms, rest {RestMs:0.0} ms, commit (rows, then checkpoint) {CommitMs:0.0} ms")]
    private static partial void LogChunkCopied(ILogger logger, TableId table, int chunk, long rows, string reading, double firstRowMs, double leaseMs, double appendMs, double closeMs, double restMs, double commitMs);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Applied {Changes} changes: fold {FoldMs:0.0} ms, plan {PlanMs:0.0} ms, connect {ConnectMs:0.0} ms, stage {StageMs:0.0} ms, match {MatchMs:0.0} ms, write {WriteMs:0.0} ms, commit (rows, then checkpoint) {CommitMs:0.0} ms")]
    private static partial void LogApplied(ILogger logger, int changes, double foldMs, double planMs, double connectMs, double stageMs, double matchMs, double writeMs, double commitMs);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created DuckDB table {Table} for {Source}")]
    private static partial void LogTableCreated(ILogger logger, string table, TableId source);

    [LoggerMessage(Level = LogLevel.Information, Message = "Altered DuckDB table {Table}: {Added} column(s) added, {Dropped} dropped, {Retyped} retyped")]
    private static partial void LogTableAltered(ILogger logger, string table, int added, int dropped, int retyped);

    [LoggerMessage(Level = LogLevel.Warning, Message = "DuckDB table {Table} for {Source} must be quarantined: {Reason}")]
    private static partial void LogTableQuarantined(ILogger logger, string table, TableId source, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Writing {Table} to DuckDB failed ({Exception}, DuckDB error type {ErrorType})")]
    private static partial void LogTableFailed(ILogger logger, TableId table, string exception, string? errorType);

    /// <summary>One table's part of an apply: staging, then (inside the transaction) truncate and guard, then the writes.</summary>
    private sealed class TableApply : ITableWrite
    {
        // 63 flags per BIGINT keeps every mask positive, so the SQL literals stay BIGINT.
        private const int FlagsPerMask = 63;

        private readonly FoldedTable _folded;
        private readonly bool _soft;
        private readonly string _stage;
        private readonly string _final;
        private readonly int[] _flagOf;
        private readonly int _masks;
        private readonly bool _fills;
        private readonly bool _nullKeys;

        /// <summary>The batch's range of the first key column, when the direct path may be tried (see <see cref="DirectRange"/>).</summary>
        private readonly (long Low, long High)? _directRange;

        /// <summary>Set in <see cref="PrepareAsync"/>: the rows are appended straight into the target, without staging.</summary>
        private bool _direct;
        private bool _staged;

        public TableApply(FoldedTable folded, int number, DeleteMode deleteMode)
        {
            _folded = folded;
            _soft = deleteMode == DeleteMode.Soft;
            _stage = $"_freshet_stage_{number}";
            _final = $"_freshet_final_{number}";

            // One pass over the rows (it runs for every batch): which columns some row leaves as the target has them,
            // whether any row fills from an old key, and whether a key is NULL.
            var written = folded.Target.Written;
            var keys = folded.Target.KeyIndexes;
            var keeps = new bool[written.Count];
            var softDeletes = false;
            foreach (var row in folded.Rows)
            {
                if (row.Delete)
                {
                    softDeletes |= _soft;
                }
                else
                {
                    for (var i = 0; i < keeps.Length; i++)
                    {
                        keeps[i] |= ReferenceEquals(row.Values[i], UnchangedValue.Instance);
                    }
                }

                _fills |= row.FillFrom is not null;
                foreach (var k in keys)
                {
                    _nullKeys |= row.Values[k] is null;
                }

                if (row.FillFrom is { } old)
                {
                    _nullKeys |= Array.IndexOf(old, null) >= 0;
                }
            }

            // Only columns that some row leaves unchanged get a flag (and a CASE reading the target row).
            _flagOf = new int[written.Count];
            var flags = 0;
            for (var i = 0; i < written.Count; i++)
            {
                _flagOf[i] = !written[i].IsKey && (keeps[i] || softDeletes) ? flags++ : -1;
            }

            _masks = (flags + FlagsPerMask - 1) / FlagsPerMask;
            _directRange = DirectRange();
        }

        public TargetTable Table => _folded.Target;

        /// <summary>Drops this apply's temporary tables (they would otherwise live as long as the connection).</summary>
        public async Task DropStagingAsync(DuckDBConnection connection, CancellationToken cancellationToken)
        {
            if (_staged)
            {
                await ExecuteAsync(
                    connection,
                    $"DROP TABLE IF EXISTS temp.main.{_stage}; DROP TABLE IF EXISTS temp.main.{_final}",
                    cancellationToken).ConfigureAwait(false);
            }
        }

        /// <summary>Stages the rows, unless they may take the direct path (decided inside the transaction).</summary>
        public Task StageAsync(DuckDBConnection connection, CancellationToken cancellationToken) =>
            _directRange is null ? StageCoreAsync(connection, cancellationToken) : Task.CompletedTask;

        private async Task StageCoreAsync(DuckDBConnection connection, CancellationToken cancellationToken)
        {
            if (_folded.Rows.Count == 0 || _staged)
            {
                return;
            }

            _staged = true;

            var written = Table.Written;
            var columns = new List<string> { "_d BOOLEAN", "_p BIGINT", "_s BIGINT", "_c TIMESTAMP WITH TIME ZONE" };
            columns.AddRange(Enumerable.Range(0, _masks).Select(m => $"_u{m} BIGINT"));
            columns.AddRange(written.Select((c, i) => $"c{i} {c.StagingType}"));
            if (_fills)
            {
                columns.Add("_o BOOLEAN");
                columns.AddRange(Table.KeyIndexes.Select((i, k) => $"o{k} {written[i].StagingType}"));
            }

            await ExecuteAsync(connection, $"CREATE TEMP TABLE {_stage} ({string.Join(", ", columns)})", cancellationToken).ConfigureAwait(false);
            var masks = new long[_masks];
            using var appender = connection.CreateAppender("temp", "main", _stage);
            foreach (var folded in _folded.Rows)
            {
                var row = appender.CreateRow()
                    .AppendValue(folded.Delete)
                    .AppendValue(folded.Position)
                    .AppendValue(folded.Sequence)
                    .AppendValue(folded.CommittedAt);
                Array.Clear(masks);
                for (var i = 0; i < written.Count; i++)
                {
                    if (_flagOf[i] >= 0 && KeepsTarget(folded, i))
                    {
                        masks[_flagOf[i] / FlagsPerMask] |= 1L << (_flagOf[i] % FlagsPerMask);
                    }
                }

                foreach (var mask in masks)
                {
                    row.AppendValue(mask);
                }

                for (var i = 0; i < written.Count; i++)
                {
                    Append(row, written[i], folded.Delete && !written[i].IsKey ? null : folded.Values[i]);
                }

                if (_fills)
                {
                    row.AppendValue(folded.FillFrom is not null);
                    for (var k = 0; k < Table.KeyIndexes.Count; k++)
                    {
                        Append(row, written[Table.KeyIndexes[k]], folded.FillFrom?[k]);
                    }
                }

                row.EndRow();
            }
        }

        public async Task PrepareAsync(DuckDBConnection connection, TimeProvider time, CancellationToken cancellationToken)
        {
            if (_folded.Truncate is var (position, sequence, committedAt))
            {
                var sql = _soft
                    ? $"""
                      UPDATE {Table.QualifiedName} SET {MetadataColumns.Deleted} = true, {MetadataColumns.DeletedAt} = $3,
                          {MetadataColumns.Position} = $1, {MetadataColumns.Sequence} = $2, {MetadataColumns.CommittedAt} = $3,
                          {MetadataColumns.SyncedAt} = $4
                      WHERE NOT coalesce({MetadataColumns.Deleted}, false) AND {OlderThan(string.Empty, "$1::BIGINT", "$2::BIGINT")}
                      """
                    : $"DELETE FROM {Table.QualifiedName} WHERE {OlderThan(string.Empty, "$1::BIGINT", "$2::BIGINT")}";
                object?[] parameters = _soft ? [position, sequence, committedAt, time.GetUtcNow()] : [position, sequence];
                await ExecuteAsync(connection, sql, parameters, cancellationToken).ConfigureAwait(false);
            }

            if (_folded.Rows.Count == 0)
            {
                return;
            }

            if (_directRange is var (low, high))
            {
                _direct = await NoTargetRowsInAsync(Table, connection, low, high, cancellationToken).ConfigureAwait(false);
                if (_direct)
                {
                    return;
                }

                await StageCoreAsync(connection, cancellationToken).ConfigureAwait(false);
            }

            var written = Table.Written;
            var select = new List<string> { "t.rowid AS _rid", "s._d", "s._p", "s._s", "s._c" };
            for (var j = 0; j < Table.Columns.Count; j++)
            {
                var name = Quote(Table.Columns[j].Name);
                // A row reached by a key change keeps the values of its old key's target row; when the target lacks
                // that row, those of its own (a resumed snapshot can have copied the row under its new key already).
                var keep = _fills ? $"CASE WHEN o.rowid IS NOT NULL THEN o.{name} ELSE t.{name} END" : $"t.{name}";
                var i = Table.WrittenIndexOf(Table.Columns[j].Name);
                var value = i < 0
                    ? keep
                    : _flagOf[i] < 0
                        ? written[i].TargetValue($"s.c{i}")
                        : $"CASE WHEN (s._u{_flagOf[i] / FlagsPerMask} & {1L << (_flagOf[i] % FlagsPerMask)}) <> 0 THEN {keep} ELSE {written[i].TargetValue($"s.c{i}")} END";
                select.Add($"{value} AS v{j}");
            }

            // Keys are matched null-safely when a staged key is NULL (REPLICA IDENTITY FULL makes every column a key,
            // nullable ones included). Otherwise plain equality gives the same rows and is several times faster: DuckDB
            // hash-joins on it, but not on IS NOT DISTINCT FROM (about 15 ms against 90 ms for 12,000 rows).
            var equals = _nullKeys ? "IS NOT DISTINCT FROM" : "=";
            var match = string.Join(
                " AND ",
                Table.KeyIndexes.Select(i => $"t.{Quote(written[i].TargetName)} {equals} {written[i].TargetValue($"s.c{i}")}"));
            var fill = _fills
                ? "LEFT JOIN " + Table.QualifiedName + " o ON s._o AND " + string.Join(
                    " AND ",
                    Table.KeyIndexes.Select((i, k) => $"o.{Quote(written[i].TargetName)} {equals} {written[i].TargetValue($"s.o{k}")}"))
                : string.Empty;
            await ExecuteAsync(
                connection,
                $"""
                CREATE TEMP TABLE {_final} AS
                SELECT {string.Join(", ", select)}
                FROM temp.main.{_stage} s
                LEFT JOIN {Table.QualifiedName} t ON {match}
                {fill}
                WHERE (t.rowid IS NULL AND NOT s._d) OR (t.rowid IS NOT NULL AND {OlderThan("t.", "s._p", "s._s")})
                """,
                cancellationToken).ConfigureAwait(false);
        }

        public async Task WriteAsync(DuckDBConnection connection, DateTimeOffset syncedAt, CancellationToken cancellationToken)
        {
            if (_folded.Rows.Count == 0)
            {
                return;
            }

            if (_direct)
            {
                AppendToTarget(connection, syncedAt);
                return;
            }

            await ExecuteAsync(
                connection,
                $"DELETE FROM {Table.QualifiedName} AS t USING temp.main.{_final} f WHERE t.rowid = f._rid",
                cancellationToken).ConfigureAwait(false);

            var names = Table.Columns.Select(c => Quote(c.Name));
            var values = Table.Columns.Select((_, j) => $"v{j}");
            var deleted = _soft ? "_d, CASE WHEN _d THEN _c END" : "false, NULL";
            var rows = _soft ? "NOT _d OR _rid IS NOT NULL" : "NOT _d";
            await ExecuteAsync(
                connection,
                $"""
                INSERT INTO {Table.QualifiedName} ({string.Join(", ", names.Append(MetadataList))})
                SELECT {string.Join(", ", values.Append($"_p, _s, _c, $1, {deleted}"))} FROM temp.main.{_final} WHERE {rows}
                """,
                [syncedAt],
                cancellationToken).ConfigureAwait(false);
        }

        private static string OlderThan(string alias, string position, string sequence) =>
            $"(coalesce({alias}{MetadataColumns.Position}, -1), coalesce({alias}{MetadataColumns.Sequence}, -1)) < ({position}, {sequence})";

        /// <summary>
        /// The direct path: when no target row has a key in the batch's range, every upsert of the batch is a new row and
        /// every delete a no-op (soft deletes of absent rows included), so the rows can be appended to the target as they
        /// are, skipping the staging table, the join and the delete. That is the common case of new rows with increasing
        /// keys. It applies to batches whose first key column is an integer (its range is exact in C# and in DuckDB),
        /// whose rows carry every value (no unchanged TOAST values, no key changes to fill from) and whose every written
        /// column can be appended in its target type. Returns the range to check, or null.
        /// </summary>
        private (long Low, long High)? DirectRange()
        {
            var written = Table.Written;
            if (_folded.Rows.Count == 0 || _masks > 0 || _fills || _nullKeys || Table.KeyIndexes.Count == 0)
            {
                return null;
            }

            var first = written[Table.KeyIndexes[0]];
            if (first.SourceType is not { IsArray: false, Kind: ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64 }
                || !Table.AppendsDirectly)
            {
                return null;
            }

            var timestamps = written
                .Select((c, i) => (c, i))
                .Where(x => x.c.SourceType.Kind is ValueKind.Timestamp or ValueKind.TimestampTz)
                .Select(x => x.i)
                .ToArray();
            var low = long.MaxValue;
            var high = long.MinValue;
            var keyIndex = Table.KeyIndexes[0];
            foreach (var row in _folded.Rows)
            {
                foreach (var t in timestamps)
                {
                    if (!row.Delete && DuckDbTypes.IsInfinity(row.Values[t]))
                    {
                        return null;
                    }
                }

                var key = row.Values[keyIndex] switch
                {
                    long value => value,
                    int value => value,
                    short value => value,
                    var other => Convert.ToInt64(other, CultureInfo.InvariantCulture),
                };
                low = Math.Min(low, key);
                high = Math.Max(high, key);
            }

            return (low, high);
        }

        /// <summary>
        /// Whether the target holds no row keyed in [low, high], and still has the columns the direct path appends (a column
        /// someone added by hand sends the batch down the staged path, which names its columns).
        /// </summary>
        internal static async Task<bool> NoTargetRowsInAsync(TargetTable table, DuckDBConnection connection, long low, long high, CancellationToken cancellationToken)
        {
            var key = Quote(table.Written[table.KeyIndexes[0]].TargetName);
            var (rows, columns) = await ReadAsync(
                connection,
                $"""
                SELECT
                    (SELECT count(*) FROM {table.QualifiedName} WHERE {key} BETWEEN $1 AND $2),
                    (SELECT string_agg(column_name, chr(31) ORDER BY column_index) FROM duckdb_columns()
                     WHERE database_name = current_database() AND schema_name = 'main' AND lower(table_name) = lower($3))
                """,
                [low, high, table.Name],
                reader =>
                {
                    reader.Read();
                    return (reader.GetInt64(0), reader.IsDBNull(1) ? null : reader.GetString(1));
                },
                cancellationToken).ConfigureAwait(false);
            return rows == 0 && string.Equals(columns, string.Join((char)31, table.PhysicalColumns), StringComparison.Ordinal);
        }

        private void AppendToTarget(DuckDBConnection connection, DateTimeOffset syncedAt)
        {
            var physical = PhysicalSources(Table);
            var identity = Enumerable.Range(0, Table.Written.Count).ToArray();
            // NoTargetRowsInAsync saw the registered columns, whose types AppendsDirectly checked.
            using var chunks = ChunkAppender.TryOpen(connection, Table.Name, physical.Length)
                ?? throw new InvalidOperationException($"The DuckDB table {Table.Name} changed while a batch was written to it.");
            foreach (var folded in _folded.Rows)
            {
                // A delete of a key the target does not hold changes nothing, in either delete mode.
                if (!folded.Delete)
                {
                    AppendDirect(chunks, physical, identity, folded.Values, new DirectMetadata(folded.Position, folded.Sequence, folded.CommittedAt, syncedAt));
                }
            }

            chunks.Close();
        }

        private static void Append(IDuckDBAppenderRow row, WrittenColumn column, object? value)
        {
            if (value is null or UnchangedValue)
            {
                row.AppendNullValue();
            }
            else
            {
                column.Write(row, value);
            }
        }

        /// <summary>Whether the row's value for written column <paramref name="i"/> is the target row's current one.</summary>
        private bool KeepsTarget(FoldedRow row, int i) =>
            row.Delete ? _soft : ReferenceEquals(row.Values[i], UnchangedValue.Instance);
    }
}
