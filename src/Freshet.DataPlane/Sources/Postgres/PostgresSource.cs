using System.Globalization;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// Reads a PostgreSQL database through logical replication (pgoutput protocol v2, binary values, streaming of large
/// in-progress transactions) from one slot and one publication per pipeline.
/// </summary>
internal sealed partial class PostgresSource : IChangeSource
{
    /// <summary>Marks publications this service created, so deleting a pipeline never drops one a DBA made.</summary>
    private const string OwnedPublicationComment = "freshet:";

    private readonly PipelineSpec _spec;
    private readonly PostgresSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly NpgsqlConnectionStringBuilder _connectionString;
    private readonly NpgsqlDataSource _dataSource;
    private readonly PgCatalog _catalog;
    private readonly long? _walDiskBudgetBytes;
    private readonly Dictionary<TableId, TableSchema> _tables = [];
    private LogicalReplicationConnection? _replication;
    private SourceStatus _status = SourceStatus.Unknown;
    private long _lastMessageTicks;

    public PostgresSource(PipelineSpec spec, PostgresSourceOptions options, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _spec = spec;
        _options = options;
        _time = time;
        _logger = loggerFactory.CreateLogger<PostgresSource>();
        _connectionString = PostgresEndpoint.ConnectionString(spec.Source, "freshet-worker");
        _dataSource = NpgsqlDataSource.Create(_connectionString);
        _catalog = new PgCatalog(_dataSource);
        _walDiskBudgetBytes = WalRetentionLimit.BudgetBytes(spec.Source.Settings);
        var id = spec.PipelineId.ToString("N");
        SlotName = spec.Source.Settings.TryGetValue("slot_name", out var slot) ? slot : $"freshet_{id}";
        PublicationName = spec.Source.Settings.TryGetValue("publication_name", out var publication) ? publication : $"freshet_{id}";
    }

    public string SlotName { get; }

    public string PublicationName { get; }

    public SourceStatus Status => _status;

    public async Task<IReadOnlyList<SourceTable>> PrepareAsync(CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        await using (var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false))
        {
            var walLevel = await ScalarAsync<string>(connection, "SHOW wal_level", cancellationToken).ConfigureAwait(false);
            if (walLevel != "logical")
            {
                problems.Add($"wal_level is '{walLevel}' but must be 'logical': set wal_level = logical in postgresql.conf (or ALTER SYSTEM SET wal_level = logical) and restart the server.");
            }

            if (!await ScalarAsync<bool>(connection, "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user", cancellationToken).ConfigureAwait(false))
            {
                problems.Add($"the login '{_connectionString.Username}' lacks the REPLICATION attribute: ALTER ROLE {_connectionString.Username} WITH REPLICATION.");
            }

            var slotExists = await ScalarAsync<bool>(connection, $"SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = {Literal(SlotName)})", cancellationToken).ConfigureAwait(false);
            var freeSlots = await ScalarAsync<int>(connection, "SELECT current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots)::int", cancellationToken).ConfigureAwait(false);
            if (!slotExists && freeSlots <= 0)
            {
                problems.Add("no replication slot is free (max_replication_slots is reached): raise max_replication_slots and restart, or drop unused slots (SELECT slot_name, active FROM pg_replication_slots).");
            }
        }

        if (problems.Count > 0)
        {
            throw new SourcePrerequisiteException(problems);
        }

        var tables = await _catalog.DescribeAsync(_spec.Tables, cancellationToken).ConfigureAwait(false);
        foreach (var table in tables.Where(t => t.Schema is not null))
        {
            _tables[table.Id] = table.Schema!;
        }

        await EnsurePublicationAsync(tables.Where(t => t.Schema is not null).Select(t => t.Id).ToList(), cancellationToken).ConfigureAwait(false);
        return tables;
    }

    public async Task<ISnapshotSession> OpenSnapshotAsync(IReadOnlyList<TableSchema> tables, string? resumePlan, CancellationToken cancellationToken)
    {
        if (resumePlan is null)
        {
            await DropSlotAsync(cancellationToken).ConfigureAwait(false);
            return await PgSnapshotSession.StartAsync(_connectionString, SlotName, tables, _options, _time, _logger, cancellationToken).ConfigureAwait(false);
        }

        if (!await SlotExistsAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new SnapshotLostException($"replication slot {SlotName} no longer exists, so the interrupted snapshot cannot be resumed");
        }

        return await PgSnapshotSession.ResumeAsync(_connectionString, resumePlan, tables, _options, _logger, cancellationToken).ConfigureAwait(false);
    }

    public async Task<ISnapshotSession> OpenAddedTablesSnapshotAsync(IReadOnlyList<TableSchema> tables, string streamPosition, CancellationToken cancellationToken) =>
        await PgSnapshotSession.AddTablesAsync(_connectionString, tables, streamPosition, _options, _time, _logger, cancellationToken).ConfigureAwait(false);

    public async Task StreamAsync(string resumePosition, ChannelWriter<SourceEvent> output, CancellationToken cancellationToken)
    {
        if (!await SlotExistsAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Replication slot {SlotName} is gone (dropped, or invalidated by max_slot_wal_keep_size); the pipeline needs a new snapshot.");
        }

        await TakeOverSlotAsync(cancellationToken).ConfigureAwait(false);
        var replication = new LogicalReplicationConnection(_connectionString.ConnectionString)
        {
            WalReceiverStatusInterval = TimeSpan.FromSeconds(5),
        };
        await replication.Open(cancellationToken).ConfigureAwait(false);
        _replication = replication;
        using var heartbeatStop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var heartbeat = HeartbeatAsync(heartbeatStop.Token);
        try
        {
            var (start, fillUntil) = StreamStart.Parse(resumePosition);
            var decoder = new PgOutputDecoder(_catalog, _tables, _spec.Tables, output, _options.StreamBufferLimitBytes, _options.SpillDirectory, _logger)
            {
                FillUntil = fillUntil,
                ReadCurrentRow = ReadCurrentRowAsync,
            };
            var options = new PgOutputReplicationOptions([PublicationName], PgOutputProtocolVersion.V2, binary: true, streamingMode: PgOutputStreamingMode.On, messages: true);
            LogStreaming(_logger, SlotName, start.ToString());
            await foreach (var message in replication.StartReplication(new PgOutputReplicationSlot(SlotName), options, cancellationToken, start).ConfigureAwait(false))
            {
                Interlocked.Exchange(ref _lastMessageTicks, _time.GetTimestamp());
                await decoder.HandleAsync(message, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            await heartbeatStop.CancelAsync().ConfigureAwait(false);
            try
            {
                await heartbeat.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            _replication = null;
            await replication.DisposeAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask AcknowledgeAsync(ulong acknowledgePosition, CancellationToken cancellationToken)
    {
        var replication = _replication;
        if (replication is null)
        {
            return;
        }

        var lsn = new NpgsqlLogSequenceNumber(acknowledgePosition);
        replication.SetReplicationStatus(lsn);
        await replication.SendStatusUpdate(cancellationToken).ConfigureAwait(false);
    }

    public async Task<SourceStatus> MeasureAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await MeasureAsync(connection, cancellationToken).ConfigureAwait(false);
    }

    public async Task DropAsync(CancellationToken cancellationToken)
    {
        await DropSlotAsync(cancellationToken).ConfigureAwait(false);
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var comment = await ScalarAsync<string?>(connection,
            $"SELECT obj_description(oid, 'pg_publication') FROM pg_publication WHERE pubname = {Literal(PublicationName)}", cancellationToken).ConfigureAwait(false);
        if (comment == OwnedPublicationComment + _spec.PipelineId)
        {
            await ExecuteAsync(connection, $"DROP PUBLICATION IF EXISTS {Identifier(PublicationName)}", cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_replication is not null)
        {
            await _replication.DisposeAsync().ConfigureAwait(false);
        }

        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The row as the source holds it now, for values a change left out (see <see cref="CurrentRow"/>).</summary>
    private async ValueTask<CurrentRow> ReadCurrentRowAsync(TableSchema table, object?[] values, CancellationToken cancellationToken)
    {
        var keys = table.KeyIndexes;
        var where = string.Join(" AND ", keys.Select((k, n) => $"{Identifier(table.Columns[k].Name)} = ${n + 1}::{table.Columns[k].Type.SourceTypeName}"));
        await using var command = _dataSource.CreateCommand($"SELECT {PgSnapshotSession.SelectList(table)} FROM ONLY {Identifier(table.Source)} WHERE {where}");
        foreach (var k in keys)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = values[k] ?? DBNull.Value });
        }

        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var row = new object?[table.Columns.Count];
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] = PgValueReader.Read(reader, i, table.Columns[i].Type);
                }

                return new CurrentRow(row, default);
            }
        }

        // Read after the row was found gone, so past the commit of the change that removed it.
        await using var position = _dataSource.CreateCommand("SELECT pg_current_wal_lsn()");
        var lsn = (NpgsqlLogSequenceNumber)(await position.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        return new CurrentRow(null, lsn);
    }

    internal static string Identifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    internal static string Identifier(TableId table) => Identifier(table.Schema) + "." + Identifier(table.Name);

    internal static string Literal(string value) => "'" + value.Replace("'", "''", StringComparison.Ordinal) + "'";

    private async Task EnsurePublicationAsync(IReadOnlyList<TableId> tables, CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        var exists = await ScalarAsync<bool>(connection, $"SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = {Literal(PublicationName)})", cancellationToken).ConfigureAwait(false);
        var tableList = string.Join(", ", tables.Select(Identifier));
        try
        {
            if (!exists)
            {
                if (tables.Count == 0)
                {
                    return;
                }

                await ExecuteAsync(connection, $"CREATE PUBLICATION {Identifier(PublicationName)} FOR TABLE {tableList}; "
                    + $"COMMENT ON PUBLICATION {Identifier(PublicationName)} IS {Literal(OwnedPublicationComment + _spec.PipelineId)}", cancellationToken).ConfigureAwait(false);
                return;
            }

            var published = new HashSet<TableId>();
            await using (var command = new NpgsqlCommand($"SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = {Literal(PublicationName)}", connection))
            await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    published.Add(new TableId(reader.GetString(0), reader.GetString(1)));
                }
            }

            var missing = tables.Where(t => !published.Contains(t)).ToList();
            if (missing.Count > 0)
            {
                await using var command = new NpgsqlCommand(
                    $"ALTER PUBLICATION {Identifier(PublicationName)} ADD TABLE {string.Join(", ", missing.Select(Identifier))}; SELECT pg_current_xact_id()::text", connection);
                var addedBy = (string)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
                await WaitForTransactionsOlderThanAsync(connection, addedBy, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InsufficientPrivilege)
        {
            throw new SourcePrerequisiteException([
                $"the login may not create or change publication {PublicationName} ({e.MessageText}): ask the tables' owner or a superuser to run "
                + $"CREATE PUBLICATION {Identifier(PublicationName)} FOR TABLE {tableList}; the pipeline adopts an existing publication of that name."]);
        }
    }

    /// <summary>
    /// Waits until every transaction that was running when a table joined the publication has ended. Their changes to
    /// that table made before it joined are not published (decoding sees the catalog as of each change), so the table's
    /// snapshot must be taken after they commit to contain them.
    /// </summary>
    private async Task WaitForTransactionsOlderThanAsync(NpgsqlConnection connection, string xid, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        while (!await ScalarAsync<bool>(connection, $"SELECT pg_snapshot_xmin(pg_current_snapshot()) > {Literal(xid)}::xid8", cancellationToken).ConfigureAwait(false))
        {
            if (_time.GetElapsedTime(started) > TimeSpan.FromSeconds(10))
            {
                LogWaitingForTransactions(_logger, PublicationName);
                started = _time.GetTimestamp();
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Ends another connection that still holds the slot. By the time a run streams, it has claimed the destination under
    /// its epoch, so whoever else reads the slot is a predecessor that lost its placement: a worker that was frozen or cut
    /// off (its TCP connection stays open until <c>wal_sender_timeout</c>, a minute by default, and would hold the slot
    /// that long) or one that has not yet noticed it was moved. The destination's epoch fence already stops it from
    /// committing; this stops it from delaying the failover.
    /// </summary>
    private async Task TakeOverSlotAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var holder = await ScalarAsync<int?>(connection, $"SELECT active_pid FROM pg_replication_slots WHERE slot_name = {Literal(SlotName)} AND active", cancellationToken).ConfigureAwait(false);
            if (holder is not { } pid)
            {
                return;
            }

            if (attempt == 0)
            {
                LogSlotTakenOver(_logger, SlotName, pid);
            }

            await ExecuteAsync(connection, $"SELECT pg_terminate_backend({pid.ToString(System.Globalization.CultureInfo.InvariantCulture)})", cancellationToken).ConfigureAwait(false);
            await Task.Delay(TimeSpan.FromMilliseconds(100), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<bool> SlotExistsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        return await ScalarAsync<bool>(connection, $"SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = {Literal(SlotName)})", cancellationToken).ConfigureAwait(false);
    }

    private async Task DropSlotAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        // A slot still held by a walsender of a process that just died is released within moments; wait for that.
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await ExecuteAsync(connection, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = {Literal(SlotName)}", cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 50)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Keeps an idle slot moving: when nothing arrived for a heartbeat interval, a tiny logical message is written to the
    /// source's WAL; it comes back through the slot as an empty transaction whose commit the engine checkpoints and
    /// acknowledges, so confirmed_flush_lsn advances and the server can recycle WAL written by other databases.
    /// Also samples the head position and the slot's retained WAL for progress reports.
    /// </summary>
    private async Task HeartbeatAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            await Task.Delay(_options.HeartbeatInterval, _time, cancellationToken).ConfigureAwait(false);
            try
            {
                await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
                if (_time.GetElapsedTime(Interlocked.Read(ref _lastMessageTicks)) >= _options.HeartbeatInterval)
                {
                    await ExecuteAsync(connection, "SELECT pg_logical_emit_message(true, 'freshet_heartbeat', '')", cancellationToken).ConfigureAwait(false);
                }

                _status = await MeasureAsync(connection, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
            {
                LogHeartbeatFailed(_logger, e.Message);
            }
        }
    }

    /// <summary>
    /// The server's WAL head, how much WAL the slot holds back (from its restart point), and how much it may hold: before
    /// the server invalidates it, what it holds plus <c>safe_wal_size</c> (null when <c>max_slot_wal_keep_size</c> is
    /// unlimited), or the WAL disk budget configured on the connection when that is smaller (the disk is the limit the
    /// server does not know about; only the operator does).
    /// </summary>
    private async Task<SourceStatus> MeasureAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT pg_current_wal_lsn(), s.retained, s.retained + s.safe_wal_size FROM (SELECT 1) AS one "
            + "LEFT JOIN (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint AS retained, safe_wal_size "
            + $"FROM pg_replication_slots WHERE slot_name = {Literal(SlotName)}) AS s ON true",
            connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var (limit, limitKind) = WalRetentionLimit.Effective(reader.IsDBNull(2) ? null : reader.GetInt64(2), _walDiskBudgetBytes);
        return new SourceStatus(
            Lsn.ToPosition(reader.GetFieldValue<NpgsqlLogSequenceNumber>(0)),
            reader.IsDBNull(1) ? null : reader.GetInt64(1),
            _time.GetUtcNow(),
            limit,
            limitKind);
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
#pragma warning disable CA2100 // built only from constants, quoted identifiers and quoted literals
        await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull or null ? default! : (T)Convert.ChangeType(value, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
#pragma warning disable CA2100 // built only from constants, quoted identifiers and quoted literals
        await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Replication slot {Slot} was still held by backend {Pid} (a previous placement); ending that connection")]
    private static partial void LogSlotTakenOver(ILogger logger, string slot, int pid);

    [LoggerMessage(Level = LogLevel.Information, Message = "Streaming from slot {Slot} at {Position}")]
    private static partial void LogStreaming(ILogger logger, string slot, string position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Publication {Publication} gained tables; still waiting for transactions older than that to end before copying them")]
    private static partial void LogWaitingForTransactions(ILogger logger, string publication);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Source heartbeat failed: {Reason}")]
    private static partial void LogHeartbeatFailed(ILogger logger, string reason);
}

/// <summary>Tunables of the PostgreSQL source.</summary>
/// <param name="HeartbeatInterval">Idle time after which a heartbeat message is written to the source.</param>
/// <param name="StreamBufferLimitBytes">Memory for in-progress streamed transactions before they spill to disk.</param>
/// <param name="SnapshotChunkRows">Target rows per snapshot chunk.</param>
/// <param name="SnapshotParallelism">Snapshot connections (chunks copied at once).</param>
/// <param name="SpillDirectory">Where streamed transactions spill; the temp folder when null.</param>
internal sealed record PostgresSourceOptions(
    TimeSpan HeartbeatInterval,
    long StreamBufferLimitBytes,
    int SnapshotChunkRows,
    int SnapshotParallelism,
    string? SpillDirectory = null);
