using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using System.Text.Json;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// A consistent read of the selected tables. A fresh snapshot creates the slot with an exported snapshot and imports it
/// into several REPEATABLE READ transactions (one per parallel chunk reader) before the slot is ever streamed, so the
/// copy and the stream meet exactly at the slot's consistent point.
/// A resumed snapshot (after a crash, when the exported snapshot died with its connection) reads the remaining chunks
/// from fresh snapshots: their rows are stamped with the original consistent point, so every change after it is
/// replayed onto them by the stream and the result converges to the source exactly (chunks are key ranges, so a row
/// can never move from a pending chunk into a finished one).
/// </summary>
internal sealed partial class PgSnapshotSession : ISnapshotSession
{
    private readonly ConcurrentBag<NpgsqlConnection> _idle = [];
    private readonly List<NpgsqlConnection> _connections = [];
    private readonly SemaphoreSlim _available;
    private readonly SnapshotPlan _plan;

    private PgSnapshotSession(SnapshotPlan plan, List<NpgsqlConnection> connections, string? resumePosition = null)
    {
        _plan = plan;
        ResumePosition = resumePosition ?? plan.ResumePosition;
        _connections = connections;
        foreach (var connection in connections)
        {
            _idle.Add(connection);
        }

        _available = new SemaphoreSlim(connections.Count, connections.Count);
        Plan = JsonSerializer.Serialize(plan, PlanJson.Default.SnapshotPlan);
        ChunkCounts = plan.Tables.ToDictionary(t => new TableId(t.Schema, t.Name), t => t.Chunks.Count);
    }

    public string Plan { get; }

    public long Position => _plan.Position;

    public DateTimeOffset TakenAt => _plan.TakenAt;

    public string ResumePosition { get; }

    public IReadOnlyDictionary<TableId, int> ChunkCounts { get; }

    public static async Task<PgSnapshotSession> StartAsync(
        NpgsqlConnectionStringBuilder connectionString,
        string slotName,
        IReadOnlyList<TableSchema> tables,
        PostgresSourceOptions options,
        TimeProvider time,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        await using var replication = new LogicalReplicationConnection(connectionString.ConnectionString);
        await replication.Open(cancellationToken).ConfigureAwait(false);
        var slot = await replication.CreatePgOutputReplicationSlot(slotName, temporarySlot: false,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: cancellationToken).ConfigureAwait(false);
        LogSlotCreated(logger, slotName, slot.ConsistentPoint.ToString());
        var connections = await OpenTransactionsAsync(connectionString, options.SnapshotParallelism, slot.SnapshotName, cancellationToken).ConfigureAwait(false);
        try
        {
            await LockTablesAsync(connections, tables.Select(t => t.Source), logger, cancellationToken).ConfigureAwait(false);
            var planned = new List<TablePlan>();
            foreach (var table in tables)
            {
                planned.Add(await PlanTableAsync(connections[0], table, options.SnapshotChunkRows, cancellationToken).ConfigureAwait(false));
            }

            var plan = new SnapshotPlan(Lsn.ToPosition(slot.ConsistentPoint), Lsn.ToText(slot.ConsistentPoint), time.GetUtcNow(), planned);
            return new PgSnapshotSession(plan, connections);
        }
        catch
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    public static async Task<PgSnapshotSession> ResumeAsync(
        NpgsqlConnectionStringBuilder connectionString,
        string planJson,
        IReadOnlyList<TableSchema> tables,
        PostgresSourceOptions options,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        var plan = JsonSerializer.Deserialize(planJson, PlanJson.Default.SnapshotPlan)
            ?? throw new SnapshotLostException("the stored snapshot plan is empty");
        LogResuming(logger, plan.ResumePosition);
        var start = Lsn.Parse(plan.ResumePosition);
        var (connections, fillUntil) = await OpenLaterSnapshotsAsync(connectionString, options, cancellationToken).ConfigureAwait(false);
        try
        {
            await LockTablesAsync(connections, plan.Tables.Select(t => new TableId(t.Schema, t.Name)), logger, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        return new PgSnapshotSession(plan, connections, StreamStart.Format(start, fillUntil > start ? fillUntil : null));
    }

    /// <summary>Plans and opens the snapshot of tables added to a pipeline that streams from <paramref name="streamPosition"/>.</summary>
    public static async Task<PgSnapshotSession> AddTablesAsync(
        NpgsqlConnectionStringBuilder connectionString,
        IReadOnlyList<TableSchema> tables,
        string streamPosition,
        PostgresSourceOptions options,
        TimeProvider time,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        var (start, earlierFill) = StreamStart.Parse(streamPosition);
        LogAddingTables(logger, tables.Count, start.ToString());
        var (connections, fillUntil) = await OpenLaterSnapshotsAsync(connectionString, options, cancellationToken).ConfigureAwait(false);
        try
        {
            await LockTablesAsync(connections, tables.Select(t => t.Source), logger, cancellationToken).ConfigureAwait(false);
            var planned = new List<TablePlan>();
            foreach (var table in tables)
            {
                planned.Add(await PlanTableAsync(connections[0], table, options.SnapshotChunkRows, cancellationToken).ConfigureAwait(false));
            }

            var plan = new SnapshotPlan(Lsn.ToPosition(start), start.ToString(), time.GetUtcNow(), planned);
            var until = earlierFill is { } earlier && earlier > fillUntil ? earlier : fillUntil;
            return new PgSnapshotSession(plan, connections, StreamStart.Format(start, until));
        }
        catch
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>
    /// Opens the chunk readers' transactions on snapshots later than the stream position their rows are stamped with.
    /// A row whose key changed in between can move from a pending chunk into a finished one (or out of a table's copy)
    /// and be in neither; the stream replays that key change, but an unchanged TOASTed value in it has no row to be kept
    /// from. Until the stream passes the newest of these snapshots (the returned LSN), such values are therefore read
    /// from the source (see PgOutputDecoder).
    /// </summary>
    private static async Task<(List<NpgsqlConnection> Connections, NpgsqlTypes.NpgsqlLogSequenceNumber FillUntil)> OpenLaterSnapshotsAsync(
        NpgsqlConnectionStringBuilder connectionString, PostgresSourceOptions options, CancellationToken cancellationToken)
    {
        var connections = await OpenTransactionsAsync(connectionString, options.SnapshotParallelism, exportedSnapshot: null, cancellationToken).ConfigureAwait(false);
        var fillUntil = default(NpgsqlTypes.NpgsqlLogSequenceNumber);
        foreach (var connection in connections)
        {
            // The first statement takes the transaction's snapshot; the LSN it reads is no older than that snapshot.
            await using var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()", connection);
            var lsn = (NpgsqlTypes.NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
            fillUntil = lsn > fillUntil ? lsn : fillUntil;
        }

        return (connections, fillUntil);
    }

    public IAsyncEnumerable<object?[]> ReadChunkAsync(TableSchema table, int chunk, CancellationToken cancellationToken) =>
        new ChunkRows(this, table, chunk, cancellationToken);

    /// <summary>A chunk's rows, as objects or (see <see cref="ITypedRowSource"/>) typed straight from the COPY's bytes.</summary>
    private sealed class ChunkRows(PgSnapshotSession session, TableSchema table, int chunk, CancellationToken cancellationToken)
        : IAsyncEnumerable<object?[]>, ITypedRowSource
    {
        public bool CanReadTyped { get; } = PgCopyRows.Reads(table);

        public IAsyncEnumerator<object?[]> GetAsyncEnumerator(CancellationToken token = default) =>
            session.ReadObjectsAsync(table, chunk, cancellationToken).GetAsyncEnumerator(token);

        public async ValueTask<ITypedRows> OpenTypedAsync(CancellationToken token)
        {
            var sql = session.CopySqlOf(table, chunk);
            await session._available.WaitAsync(token).ConfigureAwait(false);
            session._idle.TryTake(out var connection);
            void Release()
            {
                session._idle.Add(connection!);
                session._available.Release();
            }

            try
            {
                var stream = await connection!.BeginRawBinaryCopyAsync(sql, token).ConfigureAwait(false);
                return new PgCopyRows(stream, table, Release, token);
            }
            catch
            {
                Release();
                throw;
            }
        }
    }

    private string CopySqlOf(TableSchema table, int chunk)
    {
        var tablePlan = _plan.Tables.Single(t => t.Schema == table.Source.Schema && t.Name == table.Source.Name);
        return CopySql(table, tablePlan.Chunks[chunk]);
    }

    private async IAsyncEnumerable<object?[]> ReadObjectsAsync(TableSchema table, int chunk, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var sql = CopySqlOf(table, chunk);
        await _available.WaitAsync(cancellationToken).ConfigureAwait(false);
        _idle.TryTake(out var connection);
        try
        {
            await using var export = await connection!.BeginBinaryExportAsync(sql, cancellationToken).ConfigureAwait(false);
            var columns = table.Columns;
            // Synchronous reads per row and value: the COPY stream is buffered, and an async call per value costs more
            // than the copy itself (the read blocks this chunk's thread only while the socket has no data).
            while (export.StartRow() >= 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var values = new object?[columns.Count];
                for (var i = 0; i < values.Length; i++)
                {
                    values[i] = PgValueReader.Read(export, columns[i].Type);
                }

                yield return values;
            }
        }
        finally
        {
            _idle.Add(connection!);
            _available.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var connection in _connections)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _available.Dispose();
    }

    internal static string SelectList(TableSchema table) => string.Join(", ", table.Columns.Select(c =>
    {
        var name = PostgresSource.Identifier(c.Name);
        // Read as text what Npgsql cannot hand over exactly in binary: enum labels and numerics wider than decimal.
        return c.Type.Kind is ValueKind.Enum or ValueKind.NumericText ? $"{name}::text{(c.Type.IsArray ? "[]" : "")}" : name;
    }));

    private static string CopySql(TableSchema table, ChunkBounds bounds)
    {
        var keys = table.KeyIndexes.Select(i => table.Columns[i]).ToList();
        var keyRow = "(" + string.Join(", ", keys.Select(k => PostgresSource.Identifier(k.Name))) + ")";
        string Row(IReadOnlyList<string> values) =>
            "(" + string.Join(", ", values.Select((v, i) => $"{PostgresSource.Literal(v)}::{keys[i].Type.SourceTypeName}")) + ")";
        var conditions = new List<string>();
        if (bounds.Lower is { } lower)
        {
            conditions.Add($"{keyRow} >= {Row(lower)}");
        }

        if (bounds.Upper is { } upper)
        {
            conditions.Add($"{keyRow} < {Row(upper)}");
        }

        var where = conditions.Count == 0 ? "" : " WHERE " + string.Join(" AND ", conditions);
        return $"COPY (SELECT {SelectList(table)} FROM ONLY {PostgresSource.Identifier(table.Source)}{where}) TO STDOUT (FORMAT BINARY)";
    }

    private static async Task<List<NpgsqlConnection>> OpenTransactionsAsync(
        NpgsqlConnectionStringBuilder connectionString, int count, string? exportedSnapshot, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString.ConnectionString) { Pooling = false };
        var connections = new List<NpgsqlConnection>();
        try
        {
            for (var i = 0; i < Math.Max(1, count); i++)
            {
                var connection = new NpgsqlConnection(builder.ConnectionString);
                connections.Add(connection);
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                var begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
                    + (exportedSnapshot is null ? "" : $"; SET TRANSACTION SNAPSHOT {PostgresSource.Literal(exportedSnapshot)}");
#pragma warning disable CA2100 // the snapshot name is a quoted literal
                await using var command = new NpgsqlCommand(begin, connection);
#pragma warning restore CA2100
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            return connections;
        }
        catch
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <summary>
    /// Takes ACCESS SHARE on every table to copy in every chunk reader's transaction before any chunk is read. A reader
    /// touching a table for the first time mid-snapshot would queue behind a waiting TRUNCATE or ALTER TABLE of it, which
    /// itself waits for the locks the other readers keep until the snapshot ends: a deadlock the server cannot see (those
    /// readers are idle, waiting for us), so the chunk stalled until that statement gave up. The first reader waits for
    /// its locks (no reader holds any yet); every other one takes them without waiting, and is closed when it cannot (an
    /// exclusive lock was asked for in between): the snapshot then goes on with fewer readers rather than deadlocking.
    /// </summary>
    private static async Task LockTablesAsync(List<NpgsqlConnection> connections, IEnumerable<TableId> tables, ILogger logger, CancellationToken cancellationToken)
    {
        var list = string.Join(", ", tables.Select(t => "ONLY " + PostgresSource.Identifier(t)));
        if (list.Length == 0)
        {
            return;
        }

        for (var i = 0; i < connections.Count; i++)
        {
#pragma warning disable CA2100 // quoted identifiers only
            await using var command = new NpgsqlCommand($"LOCK TABLE {list} IN ACCESS SHARE MODE{(i == 0 ? "" : " NOWAIT")}", connections[i]);
#pragma warning restore CA2100
            try
            {
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException exception) when (i > 0 && exception.SqlState == PostgresErrorCodes.LockNotAvailable)
            {
                await connections[i].DisposeAsync().ConfigureAwait(false);
                connections.RemoveAt(i--);
                LogReaderDropped(logger, connections.Count);
            }
        }
    }

    /// <summary>Splits a table into key ranges of about <paramref name="chunkRows"/> rows, inside the snapshot.</summary>
    private static async Task<TablePlan> PlanTableAsync(NpgsqlConnection connection, TableSchema table, int chunkRows, CancellationToken cancellationToken)
    {
        var name = PostgresSource.Identifier(table.Source);
        // The planner's estimate scaled to the table's current size (reltuples can be stale or unset)...
        var estimate = await ScalarAsync(connection, $"""
            SELECT CASE WHEN relpages > 0 AND reltuples >= 0
                        THEN (reltuples / relpages * (pg_relation_size(oid) / current_setting('block_size')::int))::bigint
                        ELSE -1 END
            FROM pg_class WHERE oid = {PostgresSource.Literal(name)}::regclass
            """, cancellationToken).ConfigureAwait(false) as long? ?? -1;
        if (estimate <= chunkRows)
        {
            // ...and where it says "small", a count that stops as soon as it proves otherwise.
            estimate = (long)(await ScalarAsync(connection, $"SELECT count(*) FROM (SELECT 1 FROM ONLY {name} LIMIT {chunkRows + 1}) s", cancellationToken).ConfigureAwait(false))!;
            if (estimate > chunkRows)
            {
                estimate = (long)(await ScalarAsync(connection, $"SELECT count(*) FROM ONLY {name}", cancellationToken).ConfigureAwait(false))!;
            }
        }

        var plan = new TablePlan(table.Source.Schema, table.Source.Name, []);
        if (estimate <= chunkRows)
        {
            plan.Chunks.Add(new ChunkBounds(null, null));
            return plan;
        }

        var keys = table.KeyIndexes.Select(i => table.Columns[i]).ToList();
        var boundaries = new List<string[]>();
        if (keys is [{ Type: { IsArray: false, Kind: ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64 } } key])
        {
            // Integer keys split arithmetically from min/max: no scan of the keys needed.
            await using var command = new NpgsqlCommand($"SELECT min({PostgresSource.Identifier(key.Name)})::bigint, max({PostgresSource.Identifier(key.Name)})::bigint FROM ONLY {name}", connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            if (!reader.IsDBNull(0))
            {
                var min = reader.GetInt64(0);
                var max = reader.GetInt64(1);
                var chunks = (int)Math.Clamp((estimate + chunkRows - 1) / chunkRows, 1, 10_000);
                var step = (long)Math.Ceiling(((double)max - min + 1) / chunks);
                for (var i = 1; i < chunks; i++)
                {
                    var boundary = min + (i * step);
                    if (boundary > max)
                    {
                        break;
                    }

                    boundaries.Add([boundary.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
                }
            }
        }
        else
        {
            var keyList = string.Join(", ", keys.Select(k => PostgresSource.Identifier(k.Name)));
            var keyText = string.Join(", ", keys.Select(k => PostgresSource.Identifier(k.Name) + "::text"));
#pragma warning disable CA2100 // quoted identifiers only
            await using var command = new NpgsqlCommand(
                $"SELECT {keyText} FROM (SELECT {keyList}, row_number() OVER (ORDER BY {keyList}) AS freshet_rn FROM ONLY {name}) s WHERE freshet_rn % {chunkRows} = 0 ORDER BY freshet_rn", connection);
#pragma warning restore CA2100
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                boundaries.Add([.. Enumerable.Range(0, keys.Count).Select(reader.GetString)]);
            }
        }

        string[]? lower = null;
        foreach (var boundary in boundaries)
        {
            plan.Chunks.Add(new ChunkBounds(lower, boundary));
            lower = boundary;
        }

        plan.Chunks.Add(new ChunkBounds(lower, null));
        return plan;
    }

    private static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
#pragma warning disable CA2100 // quoted identifiers and literals only
        await using var command = new NpgsqlCommand(sql, connection);
#pragma warning restore CA2100
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Created slot {Slot} at consistent point {Position} with an exported snapshot")]
    private static partial void LogSlotCreated(ILogger logger, string slot, string position);

    [LoggerMessage(Level = LogLevel.Information, Message = "Snapshot of {Tables} table(s) added to a pipeline streaming from {Position}")]
    private static partial void LogAddingTables(ILogger logger, int tables, string position);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A snapshot reader could not lock the tables without waiting (an exclusive lock is asked for); the snapshot goes on with {Readers} reader(s)")]
    private static partial void LogReaderDropped(ILogger logger, int readers);

    [LoggerMessage(Level = LogLevel.Information, Message = "Resuming an interrupted snapshot taken at {Position}")]
    private static partial void LogResuming(ILogger logger, string position);
}

/// <summary>What a snapshot covers, stored in the destination checkpoint so a crash can resume it chunk by chunk.</summary>
internal sealed record SnapshotPlan(long Position, string ResumePosition, DateTimeOffset TakenAt, List<TablePlan> Tables);

internal sealed record TablePlan(string Schema, string Name, List<ChunkBounds> Chunks);

/// <summary>A key range: lower bound inclusive, upper exclusive, as key values in text (null = unbounded).</summary>
internal sealed record ChunkBounds(string[]? Lower, string[]? Upper);

[System.Text.Json.Serialization.JsonSerializable(typeof(SnapshotPlan))]
internal sealed partial class PlanJson : System.Text.Json.Serialization.JsonSerializerContext;
