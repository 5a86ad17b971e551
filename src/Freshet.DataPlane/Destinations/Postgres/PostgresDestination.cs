using System.Collections.Concurrent;
using System.Text.Json;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations.Folding;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.DataPlane.Destinations.Postgres;

/// <summary>
/// Applies a pipeline's changes to tables in one schema of a PostgreSQL database. Each write is one transaction that
/// first locks the pipeline's checkpoint row and checks its epoch, so a fenced worker can never commit after a newer
/// one has claimed the pipeline: the claim's update waits for that lock, and every later write sees the new epoch.
/// </summary>
/// <remarks>
/// Target tables keep the source's built-in column types (enums become text) and have a primary key on the source
/// key. Batches are folded to one change per key, copied into temporary staging tables with binary COPY and merged
/// with set-based statements guarded by each row's (position, sequence). Endpoint settings: host, port, database,
/// username, ssl_mode (libpq names), schema (default public); secret: password. <see cref="ClaimAsync"/> must run
/// before anything else: it creates the state tables, and every other write checks the epoch it recorded (table setup
/// included, so a fenced worker cannot alter target tables either).
/// </remarks>
internal sealed partial class PostgresDestination(DestinationContext context, ILoggerFactory loggerFactory) : IDestination
{
    private readonly string _schema = PostgresDestinationSettings.Schema(context.Endpoint);
    private readonly NpgsqlDataSource _dataSource = PostgresDestinationSettings.DataSource(context.Endpoint, context.PipelineId, context.Epoch, loggerFactory);
    private readonly ILogger _logger = loggerFactory.CreateLogger<PostgresDestination>();
    private readonly ConcurrentDictionary<TableId, TargetTable> _tables = new();

    private string Checkpoints => $"{Sql.Quote(_schema)}.{Sql.Quote(MetadataColumns.CheckpointTable)}";

    private string Chunks => $"{Sql.Quote(_schema)}.{Sql.Quote(MetadataColumns.SnapshotChunkTable)}";

    private string Resnapshots => $"{Sql.Quote(_schema)}.{Sql.Quote(MetadataColumns.ResnapshotTable)}";

    public async Task<DestinationCheckpoint> ClaimAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await TryClaimAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.LockNotAvailable && attempt < 20)
            {
                // A predecessor's transaction holds the checkpoint row: a worker that was frozen or cut off in the middle
                // of a batch, whose connection stays open until TCP notices (minutes). It can never commit under its lower
                // epoch, so end its connections rather than wait for them.
                var ended = await EndPredecessorsAsync(cancellationToken).ConfigureAwait(false);
                LogPredecessorsEnded(_logger, context.PipelineId, context.Epoch, ended);
            }
        }
    }

    private async Task<int> EndPredecessorsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Sql.Command(
            """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE starts_with(application_name, $1) AND pid <> pg_backend_pid()
              AND split_part(application_name, '/', 3) ~ '^[0-9]{1,18}$' AND split_part(application_name, '/', 3)::bigint < $2
            """,
            connection,
            null,
            PostgresDestinationSettings.RunApplicationPrefix(context.PipelineId),
            context.Epoch);
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
    }

    private async Task<DestinationCheckpoint> TryClaimAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var timeout = Sql.Command("SET LOCAL lock_timeout = '2s'", connection, transaction))
        {
            await timeout.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await CreateStateTablesAsync(connection, transaction, cancellationToken).ConfigureAwait(false);

        // The update waits for any write transaction holding the row, and from its commit on every write sees the new epoch.
        var claim = $"""
            INSERT INTO {Checkpoints} AS c (pipeline_id, epoch) VALUES ($1, $2)
            ON CONFLICT (pipeline_id) DO UPDATE SET epoch = excluded.epoch WHERE c.epoch <= excluded.epoch
            RETURNING epoch, position, applied_position, applied_sequence, snapshot, quarantined::text, updated_at
            """;
        DestinationCheckpoint? checkpoint = null;
        await using (var command = Sql.Command(claim, connection, transaction, context.PipelineId, context.Epoch))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                checkpoint = new DestinationCheckpoint(
                    reader.GetInt64(0),
                    reader.IsDBNull(1) ? null : reader.GetString(1),
                    reader.GetInt64(2),
                    reader.GetInt64(3),
                    reader.IsDBNull(4) ? null : reader.GetString(4),
                    ParseQuarantine(reader.GetString(5)),
                    reader.IsDBNull(6) ? null : reader.GetFieldValue<DateTimeOffset>(6));
            }
        }

        if (checkpoint is null)
        {
            await using var owner = Sql.Command($"SELECT epoch FROM {Checkpoints} WHERE pipeline_id = $1", connection, transaction, context.PipelineId);
            var ownerEpoch = (long)(await owner.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            throw Fenced(ownerEpoch);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        LogClaimed(_logger, context.PipelineId, context.Epoch, _schema);
        return checkpoint;
    }

    public async Task<TableSetup> EnsureTableAsync(TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await LockCheckpointAsync(connection, transaction, shared: false, cancellationToken).ConfigureAwait(false);
        var (setup, target) = await TargetTableSync.EnsureAsync(connection, transaction, _schema, table, policy, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        if (target is null)
        {
            _tables.TryRemove(table.Source, out _);
            LogTableRefused(_logger, table.DestinationName, table.Source.ToString(), setup.QuarantineReason!);
        }
        else
        {
            _tables[table.Source] = target;
            if (setup.Changed || setup.Ignored.Count > 0)
            {
                LogTableEnsured(_logger, table.DestinationName, table.Source.ToString(), setup.Created, setup.Added.Count, setup.Dropped.Count, setup.Retyped.Count, setup.Ignored.Count);
            }
        }

        return setup;
    }

    public async Task ApplyAsync(ChangeBatch batch, CancellationToken cancellationToken)
    {
        var started = context.TimeProvider.GetTimestamp();
        var folded = ChangeFolder.Fold(batch.Changes, Table, context.DeleteMode);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await LockCheckpointAsync(connection, transaction, shared: false, cancellationToken).ConfigureAwait(false);

        var applies = folded.Select((table, i) => new StagedApply(table, $"pg_temp._freshet_stage_{i}", context.DeleteMode)).ToList();
        foreach (var apply in applies)
        {
            await ForTableAsync(apply.Folded.Table.Source, () => apply.StageAsync(connection, transaction, cancellationToken)).ConfigureAwait(false);
        }

        // Taken after the copies, just before the statements that write the rows: it measures how late rows land.
        var syncedAt = context.TimeProvider.GetUtcNow().UtcDateTime;
        foreach (var apply in applies)
        {
            await ForTableAsync(apply.Folded.Table.Source, () => ExecuteAsync(connection, transaction, apply.Statements(syncedAt), cancellationToken)).ConfigureAwait(false);
        }

        var checkpoint = $"UPDATE {Checkpoints} SET position = $2, applied_position = $3, applied_sequence = $4, updated_at = $5 WHERE pipeline_id = $1";
        await using (var command = Sql.Command(checkpoint, connection, transaction,
            context.PipelineId, batch.ResumePosition, batch.AppliedThrough.Position, batch.AppliedThrough.Sequence, syncedAt))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        LogApplied(_logger, batch.Changes.Count, folded.Count, batch.AppliedThrough.Position, batch.AppliedThrough.Sequence,
            (long)context.TimeProvider.GetElapsedTime(started).TotalMilliseconds);
    }

    public Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, CancellationToken cancellationToken) =>
        BeginSnapshotAsync(tables, plan, [], cancellationToken);

    public async Task BeginSnapshotAsync(IReadOnlyList<TableSchema> tables, string plan, IReadOnlyCollection<Guid> resnapshots, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await LockCheckpointAsync(connection, transaction, shared: false, cancellationToken).ConfigureAwait(false);

        var targets = tables.Select(t => $"{Sql.Quote(_schema)}.{Sql.Quote(t.DestinationName)}").Distinct(StringComparer.Ordinal).ToArray();
        var existing = new List<string>();
        await using (var command = Sql.Command("SELECT name FROM unnest($1::text[]) AS name WHERE to_regclass(name) IS NOT NULL", connection, transaction, [targets]))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                existing.Add(reader.GetString(0));
            }
        }

        var statements = new List<(string, object?[])>();
        if (existing.Count > 0)
        {
            statements.Add(($"TRUNCATE {string.Join(", ", existing)}", []));
        }

        statements.Add(($"DELETE FROM {Chunks} WHERE pipeline_id = $1 AND source_table = ANY ($2)", [context.PipelineId, tables.Select(t => Sql.Name(t.Source)).ToArray()]));
        statements.Add(($"UPDATE {Checkpoints} SET snapshot = $2, updated_at = $3 WHERE pipeline_id = $1", [context.PipelineId, plan, Now()]));
        if (resnapshots.Count > 0)
        {
            statements.Add(($"INSERT INTO {Resnapshots} (pipeline_id, request_id, handled_at) SELECT $1, unnest($2::uuid[]), $3 ON CONFLICT DO NOTHING",
                [context.PipelineId, resnapshots.ToArray(), Now()]));
        }

        await ExecuteAsync(connection, transaction, statements, cancellationToken).ConfigureAwait(false);
        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        LogSnapshotStarted(_logger, tables.Count);
    }

    public async Task<IReadOnlySet<Guid>> ReadHandledResnapshotsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Sql.Command($"SELECT request_id FROM {Resnapshots} WHERE pipeline_id = $1", connection, null, context.PipelineId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var handled = new HashSet<Guid>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            handled.Add(reader.GetGuid(0));
        }

        return handled;
    }

    public async Task<IReadOnlySet<(TableId Table, int Chunk)>> ReadCompletedChunksAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = Sql.Command($"SELECT source_table, chunk FROM {Chunks} WHERE pipeline_id = $1", connection, null, context.PipelineId);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var chunks = new HashSet<(TableId, int)>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            chunks.Add((Sql.ParseName(reader.GetString(0)), reader.GetInt32(1)));
        }

        return chunks;
    }

    public async Task<long> CopySnapshotChunkAsync(TableSchema table, SnapshotChunk chunk, IAsyncEnumerable<object?[]> rows, CancellationToken cancellationToken)
    {
        var target = Table(table.Source);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        // Shared: chunks copy in parallel, and all of them hold off a new claim until they commit.
        await LockCheckpointAsync(connection, transaction, shared: true, cancellationToken).ConfigureAwait(false);
        var syncedAt = Now();
        var count = await ForTableAsync(table.Source, () => CopyChunkAsync(connection, transaction, target, table, chunk, rows, syncedAt, cancellationToken)).ConfigureAwait(false);

        var record = $"""
            INSERT INTO {Chunks} (pipeline_id, source_table, chunk, row_count, done_at) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (pipeline_id, source_table, chunk) DO UPDATE SET row_count = excluded.row_count, done_at = excluded.done_at
            """;
        await using (var command = Sql.Command(record, connection, transaction, context.PipelineId, Sql.Name(table.Source), chunk.Number, count, syncedAt))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        LogChunkCopied(_logger, table.Source.ToString(), chunk.Number, count);
        return count;
    }

    public Task FinishSnapshotAsync(string resumePosition, CancellationToken cancellationToken) =>
        FinishSnapshotAsync(resumePosition, restartsStream: false, cancellationToken);

    public async Task FinishSnapshotAsync(string resumePosition, bool restartsStream, CancellationToken cancellationToken)
    {
        await UpdateCheckpointAsync(
            restartsStream ? "snapshot = NULL, position = $2, applied_position = 0, applied_sequence = 0" : "snapshot = NULL, position = $2",
            resumePosition,
            cancellationToken).ConfigureAwait(false);
        LogSnapshotFinished(_logger);
    }

    public Task SaveQuarantineAsync(IReadOnlyDictionary<TableId, string> quarantined, CancellationToken cancellationToken) =>
        UpdateCheckpointAsync("quarantined = $2::jsonb", JsonSerializer.Serialize(quarantined.ToDictionary(q => Sql.Name(q.Key), q => q.Value)), cancellationToken);

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private static IReadOnlyDictionary<TableId, string> ParseQuarantine(string json) =>
        (JsonSerializer.Deserialize<Dictionary<string, string>>(json) ?? []).ToDictionary(q => Sql.ParseName(q.Key), q => q.Value);

    /// <summary>Whether an exception is about one table's rows or types (so the others may still apply), not the connection or the server.</summary>
    private static bool IsTableError(Exception e) => e switch
    {
        // Besides data and type errors: 0A (feature not supported for these values) and 54 (a row or key over a limit).
        PostgresException postgres => TargetTableSync.IsDataError(postgres)
            || postgres.SqlState.StartsWith("0A", StringComparison.Ordinal)
            || postgres.SqlState.StartsWith("54", StringComparison.Ordinal),
        // Npgsql refuses a value that does not fit the column's type before sending it.
        InvalidCastException or ArgumentException or FormatException or OverflowException or NotSupportedException => true,
        _ => false,
    };

    private DateTime Now() => context.TimeProvider.GetUtcNow().UtcDateTime;

    private TargetTable Table(TableId source) =>
        _tables.TryGetValue(source, out var table)
            ? table
            : throw new TableApplyException(source, new InvalidOperationException($"Table {source} has no target table set up (EnsureTableAsync was not called or refused it)."));

    private async Task CreateStateTablesAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        // Pipelines sharing a destination may claim at once; CREATE … IF NOT EXISTS alone races on the catalog.
        await using (var command = Sql.Command("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", connection, transaction, $"freshet:{_schema}"))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        bool schemaExists, checkpointsExist, chunksExist, resnapshotsExist;
        await using (var command = Sql.Command(
            "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL, to_regclass($3) IS NOT NULL, to_regclass($4) IS NOT NULL",
            connection, transaction, _schema, Checkpoints, Chunks, Resnapshots))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            (schemaExists, checkpointsExist, chunksExist, resnapshotsExist) = (reader.GetBoolean(0), reader.GetBoolean(1), reader.GetBoolean(2), reader.GetBoolean(3));
        }

        // Checked first because CREATE … IF NOT EXISTS still needs the CREATE privilege, which a destination user may lack.
        var statements = new List<(string, object?[])>();
        if (!schemaExists)
        {
            statements.Add(($"CREATE SCHEMA {Sql.Quote(_schema)}", []));
        }

        if (!checkpointsExist)
        {
            statements.Add(($$"""
                CREATE TABLE {{Checkpoints}} (
                    pipeline_id uuid PRIMARY KEY,
                    epoch bigint NOT NULL,
                    position text,
                    applied_position bigint NOT NULL DEFAULT 0,
                    applied_sequence bigint NOT NULL DEFAULT 0,
                    snapshot text,
                    quarantined jsonb NOT NULL DEFAULT '{}',
                    updated_at timestamptz)
                """, []));
        }

        if (!chunksExist)
        {
            statements.Add(($"""
                CREATE TABLE {Chunks} (
                    pipeline_id uuid,
                    source_table text,
                    chunk int,
                    row_count bigint,
                    done_at timestamptz,
                    PRIMARY KEY (pipeline_id, source_table, chunk))
                """, []));
        }

        if (!resnapshotsExist)
        {
            statements.Add(($"""
                CREATE TABLE {Resnapshots} (
                    pipeline_id uuid,
                    request_id uuid,
                    handled_at timestamptz NOT NULL,
                    PRIMARY KEY (pipeline_id, request_id))
                """, []));
        }

        await ExecuteAsync(connection, transaction, statements, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Locks the checkpoint row and throws <see cref="PipelineFencedException"/> when a higher epoch owns it.</summary>
    private async Task LockCheckpointAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, bool shared, CancellationToken cancellationToken)
    {
        var sql = $"SELECT epoch FROM {Checkpoints} WHERE pipeline_id = $1 FOR {(shared ? "SHARE" : "UPDATE")}";
        await using var command = Sql.Command(sql, connection, transaction, context.PipelineId);
        var epoch = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as long?
            ?? throw new InvalidOperationException($"Pipeline {context.PipelineId} has no checkpoint in the destination: ClaimAsync must run first.");
        if (epoch > context.Epoch)
        {
            throw Fenced(epoch);
        }
    }

    private PipelineFencedException Fenced(long ownerEpoch)
    {
        LogFenced(_logger, context.PipelineId, context.Epoch, ownerEpoch);
        return new PipelineFencedException(context.PipelineId, context.Epoch, ownerEpoch);
    }

    private async Task UpdateCheckpointAsync(string assignments, string value, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await LockCheckpointAsync(connection, transaction, shared: false, cancellationToken).ConfigureAwait(false);
        await using (var command = Sql.Command($"UPDATE {Checkpoints} SET {assignments}, updated_at = $3 WHERE pipeline_id = $1", connection, transaction, context.PipelineId, value, Now()))
        {
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<long> CopyChunkAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, TargetTable target, TableSchema table, SnapshotChunk chunk, IAsyncEnumerable<object?[]> rows,
        DateTime syncedAt, CancellationToken cancellationToken)
    {
        var indexes = target.SourceIndexes(table);
        var columns = target.Columns.Select(c => Sql.Quote(c.Name)).ToList();
        var metadata = string.Join(", ", new[] { MetadataColumns.Position, MetadataColumns.Sequence, MetadataColumns.CommittedAt, MetadataColumns.SyncedAt, MetadataColumns.Deleted }
            .Select(Sql.Quote));
        var takenAt = chunk.TakenAt.UtcDateTime;

        // Binary COPY needs each value in the column's exact type; when some column needs a server-side cast, rows go
        // through a staging table first.
        var copyInto = target.NeedsCast ? "pg_temp._freshet_chunk" : target.QualifiedName;
        if (target.NeedsCast)
        {
            var staging = string.Join(", ", target.Columns.Select((c, i) => $"c{i} {c.WireType}"));
            await using var create = Sql.Command($"CREATE TEMP TABLE {copyInto} ({staging}) ON COMMIT DROP", connection, transaction);
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var copyColumns = target.NeedsCast
            ? string.Join(", ", target.Columns.Select((_, i) => $"c{i}"))
            : $"{string.Join(", ", columns)}, {metadata}";
        long count = 0;
        var importer = await connection.BeginBinaryImportAsync($"COPY {copyInto} ({copyColumns}) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false);
        await using (importer.ConfigureAwait(false))
        {
            await foreach (var row in rows.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                await importer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                for (var c = 0; c < indexes.Length; c++)
                {
                    await StagedApply.WriteValueAsync(importer, indexes[c] < 0 ? null : row[indexes[c]], target.Columns[c].WireDbType, cancellationToken).ConfigureAwait(false);
                }

                if (!target.NeedsCast)
                {
                    await importer.WriteAsync(chunk.Position, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                    await importer.WriteAsync(0L, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                    await importer.WriteAsync(takenAt, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
                    await importer.WriteAsync(syncedAt, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
                    await importer.WriteAsync(false, NpgsqlDbType.Boolean, cancellationToken).ConfigureAwait(false);
                }

                count++;
            }

            await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        if (target.NeedsCast)
        {
            var values = string.Join(", ", target.Columns.Select((c, i) => Sql.Value($"c{i}", c)));
            var insert = $"INSERT INTO {target.QualifiedName} ({string.Join(", ", columns)}, {metadata}) SELECT {values}, $1, 0, $2, $3, false FROM {copyInto}";
            await using var command = Sql.Command(insert, connection, transaction, chunk.Position, takenAt, syncedAt);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return count;
    }

    private async Task ForTableAsync(TableId table, Func<Task> action) =>
        await ForTableAsync(table, async () =>
        {
            await action().ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false);

    /// <summary>Runs one table's part of a transaction; a failure caused by its rows or types names the table.</summary>
    private async Task<T> ForTableAsync<T>(TableId table, Func<Task<T>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception e) when (IsTableError(e))
        {
            LogTableFailed(_logger, table.ToString(), e is PostgresException postgres ? $"SQLSTATE {postgres.SqlState}" : e.GetType().Name);
            throw new TableApplyException(table, e);
        }
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, IEnumerable<(string Sql, object?[] Parameters)> statements, CancellationToken cancellationToken)
    {
        await using var batch = Sql.Batch(connection, transaction, statements);
        if (batch.BatchCommands.Count > 0)
        {
            await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId}: the checkpoint row was held by an earlier placement; ended {Count} of its connections before claiming with epoch {Epoch}")]
    private static partial void LogPredecessorsEnded(ILogger logger, Guid pipelineId, long epoch, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} claimed with epoch {Epoch} in schema {Schema}")]
    private static partial void LogClaimed(ILogger logger, Guid pipelineId, long epoch, string schema);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} is fenced: epoch {OwnerEpoch} owns it, this worker runs epoch {Epoch}")]
    private static partial void LogFenced(ILogger logger, Guid pipelineId, long epoch, long ownerEpoch);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Target table {Table} for {Source}: created {Created}, added {Added}, dropped {Dropped}, retyped {Retyped}, ignored {Ignored}")]
    private static partial void LogTableEnsured(ILogger logger, string table, string source, bool created, int added, int dropped, int retyped, int ignored);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Target table {Table} for {Source} refused a schema change: {Reason}")]
    private static partial void LogTableRefused(ILogger logger, string table, string source, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Applied {Changes} changes to {Tables} tables through ({Position}, {Sequence}) in {ElapsedMs} ms")]
    private static partial void LogApplied(ILogger logger, int changes, int tables, long position, long sequence, long elapsedMs);

    // Server messages can quote the failing value, so only the SQLSTATE is logged.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Applying to table {Source} failed ({Error}); the batch was rolled back")]
    private static partial void LogTableFailed(ILogger logger, string source, string error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot of {Tables} tables started")]
    private static partial void LogSnapshotStarted(ILogger logger, int tables);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Snapshot chunk {Chunk} of {Source}: {Rows} rows")]
    private static partial void LogChunkCopied(ILogger logger, string source, int chunk, long rows);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot finished")]
    private static partial void LogSnapshotFinished(ILogger logger);
}
