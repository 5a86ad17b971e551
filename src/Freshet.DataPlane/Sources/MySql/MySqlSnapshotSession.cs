using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Freshet.DataPlane.Schema;
using MySqlConnector;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// A consistent read of the selected tables on one connection: <c>START TRANSACTION WITH CONSISTENT SNAPSHOT</c>, then
/// the binlog position of exactly that snapshot from MariaDB's <c>binlog_snapshot_file</c> / <c>binlog_snapshot_position</c>
/// status (MariaDB KB "Enhancements for START TRANSACTION WITH CONSISTENT SNAPSHOT": they give the binlog position
/// that corresponds to the transaction's snapshot, without FLUSH TABLES WITH READ LOCK, so no RELOAD privilege and
/// no stall of the server's writers), and the GTID state at that position from <c>BINLOG_GTID_POS(file, pos)</c>.
/// MySQL has no such status: there the position is read under <c>FLUSH TABLES WITH READ LOCK</c>, held only while the
/// transaction starts and the binlog head and <c>Executed_Gtid_Set</c> are read (the RELOAD privilege; writers wait for
/// those milliseconds), as MySQL's own mysqldump --single-transaction --source-data does.
/// MariaDB cannot share one snapshot between connections, so chunks are read one after another on this connection.
/// A resumed snapshot (after a crash) reads the remaining chunks from a fresh snapshot: their rows keep the original
/// position, and the binlog replayed from there (full row images) converges them, as with PostgreSQL.
/// </summary>
internal sealed class MySqlSnapshotSession : ISnapshotSession
{
    private readonly MySqlConnection _connection;
    private readonly SemaphoreSlim _turn = new(1, 1);
    private readonly MySqlSnapshotPlan _plan;

    private MySqlSnapshotSession(MySqlConnection connection, MySqlSnapshotPlan plan, long position)
    {
        _connection = connection;
        _plan = plan;
        Position = position;
        Plan = JsonSerializer.Serialize(plan, MySqlPlanJson.Default.MySqlSnapshotPlan);
        ChunkCounts = plan.Tables.ToDictionary(t => new TableId(t.Schema, t.Name), t => t.Boundaries.Count + 1);
    }

    public string Plan { get; }

    public long Position { get; }

    public DateTimeOffset TakenAt => _plan.TakenAt;

    public string ResumePosition => _plan.ResumePosition;

    public IReadOnlyDictionary<TableId, int> ChunkCounts { get; }

    /// <summary>
    /// A new snapshot; its rows are stamped with its own binlog position unless <paramref name="streamPosition"/> is given.
    /// With <paramref name="lockForPosition"/> true the position is read under a global read lock (as on MySQL) rather than
    /// from MariaDB's snapshot status; null decides by whether the server has that status.
    /// </summary>
    public static async Task<MySqlSnapshotSession> StartAsync(
        string connectionString, IReadOnlyList<TableSchema> tables, int chunkRows, string? streamPosition, TimeProvider time, CancellationToken cancellationToken,
        bool? lockForPosition = null)
    {
        var (connection, snapshotPosition) = await OpenSnapshotAsync(connectionString, streamPosition is null, lockForPosition, cancellationToken).ConfigureAwait(false);
        try
        {
            var position = streamPosition ?? snapshotPosition!.ToString();
            var planned = new List<MySqlTablePlan>();
            foreach (var table in tables)
            {
                planned.Add(new MySqlTablePlan(table.Source.Schema, table.Source.Name, await BoundariesAsync(connection, table, chunkRows, cancellationToken).ConfigureAwait(false)));
            }

            var plan = new MySqlSnapshotPlan(position, time.GetUtcNow(), planned);
            return new MySqlSnapshotSession(connection, plan, BinlogPosition.Parse(position).Numeric);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Reopens an interrupted snapshot's plan on a fresh snapshot (see the class remarks).</summary>
    public static async Task<MySqlSnapshotSession> ResumeAsync(string connectionString, string planJson, CancellationToken cancellationToken)
    {
        var plan = JsonSerializer.Deserialize(planJson, MySqlPlanJson.Default.MySqlSnapshotPlan)
            ?? throw new SnapshotLostException("the stored snapshot plan is empty");
        var (connection, _) = await OpenSnapshotAsync(connectionString, readPosition: false, lockForPosition: false, cancellationToken).ConfigureAwait(false);
        return new MySqlSnapshotSession(connection, plan, BinlogPosition.Parse(plan.ResumePosition).Numeric);
    }

    public async IAsyncEnumerable<object?[]> ReadChunkAsync(TableSchema table, int chunk, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var bounds = _plan.Tables.First(t => t.Schema == table.Source.Schema && t.Name == table.Source.Name).Boundaries;
        var keys = table.KeyIndexes.Select(k => table.Columns[k]).ToList();
        var keyList = string.Join(", ", keys.Select(k => MySqlCatalog.Identifier(k.Name)));
        var conditions = new List<string>();
        await _turn.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await using var command = new MySqlCommand { Connection = _connection };
            // Chunk n holds the keys above boundary n-1 up to and including boundary n.
            if (chunk > 0)
            {
                conditions.Add($"({keyList}) > ({Parameters(command, "lo", keys, bounds[chunk - 1])})");
            }

            if (chunk < bounds.Count)
            {
                conditions.Add($"({keyList}) <= ({Parameters(command, "hi", keys, bounds[chunk])})");
            }

            command.CommandText = $"SELECT {string.Join(", ", table.Columns.Select(c => MySqlCatalog.Identifier(c.Name)))} FROM {MySqlCatalog.Identifier(table.Source)}"
                + (conditions.Count > 0 ? " WHERE " + string.Join(" AND ", conditions) : "");
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                var row = new object?[table.Columns.Count];
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] = MySqlCatalog.Read(reader, i, table.Columns[i].Type);
                }

                yield return row;
            }
        }
        finally
        {
            _turn.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _connection.DisposeAsync().ConfigureAwait(false);
        _turn.Dispose();
    }

    /// <summary>The binlog position of the connection's consistent snapshot from MariaDB's status (see the class remarks).</summary>
    private static async Task<BinlogPosition> StatusPositionAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        var status = await SnapshotStatusAsync(connection, cancellationToken).ConfigureAwait(false);
        if (status is not var (file, offset))
        {
            throw new InvalidOperationException(
                "The server reports no binlog_snapshot_file/binlog_snapshot_position, so the snapshot's binlog position is unknown.");
        }

        return new BinlogPosition(await MariaDbGtidAtAsync(connection, file, offset, cancellationToken).ConfigureAwait(false), file, offset);
    }

    /// <summary>MariaDB's <c>binlog_snapshot_file</c>/<c>binlog_snapshot_position</c>; null where the server has no such status (MySQL).</summary>
    private static async Task<(string File, uint Offset)?> SnapshotStatusAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        string? file = null;
        uint? offset = null;
        await using var command = new MySqlCommand("SHOW STATUS LIKE 'binlog_snapshot_%'", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var name = reader.GetString(0);
            if (string.Equals(name, "binlog_snapshot_file", StringComparison.OrdinalIgnoreCase))
            {
                file = reader.GetString(1);
            }
            else if (string.Equals(name, "binlog_snapshot_position", StringComparison.OrdinalIgnoreCase))
            {
                offset = uint.Parse(reader.GetString(1), NumberStyles.None, CultureInfo.InvariantCulture);
            }
        }

        return string.IsNullOrEmpty(file) || offset is null ? null : (file, offset.Value);
    }

    private static async Task<string> MariaDbGtidAtAsync(MySqlConnection connection, string file, uint offset, CancellationToken cancellationToken)
    {
        await using var gtid = new MySqlCommand("SELECT BINLOG_GTID_POS(@file, @offset)", connection);
        gtid.Parameters.AddWithValue("@file", file);
        gtid.Parameters.AddWithValue("@offset", offset);
        var state = await gtid.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string ?? "";
        return MariaDbGtidState.Parse(state).ToString();
    }

    /// <summary>
    /// Where the server writes its binlog now: the file, the offset and (MySQL, with GTIDs on) the executed GTID set.
    /// MySQL 8.2 renamed SHOW MASTER STATUS to SHOW BINARY LOG STATUS and 8.4 dropped the old name; MariaDB knows only
    /// the old one.
    /// </summary>
    internal static async Task<(string File, uint Offset, string ExecutedGtidSet)?> BinlogHeadAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        try
        {
            return await HeadAsync("SHOW BINARY LOG STATUS").ConfigureAwait(false);
        }
        catch (MySqlException e) when (e.ErrorCode == MySqlErrorCode.ParseError)
        {
            return await HeadAsync("SHOW MASTER STATUS").ConfigureAwait(false);
        }

        async Task<(string, uint, string)?> HeadAsync(string sql)
        {
            await using var command = new MySqlCommand(sql, connection);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            // MySQL's fifth column; it prints the set with a line break after each comma.
            var gtids = reader.FieldCount > 4 && !reader.IsDBNull(4) ? reader.GetString(4).Replace("\n", "", StringComparison.Ordinal).Trim() : "";
            return (reader.GetString(0), Convert.ToUInt32(reader.GetValue(1), CultureInfo.InvariantCulture), gtids);
        }
    }

    /// <summary>
    /// A connection in a consistent-snapshot transaction (TIMESTAMP values read as instants in UTC, as the binlog carries
    /// them) and, when <paramref name="readPosition"/>, the binlog position of exactly that snapshot.
    /// </summary>
    private static async Task<(MySqlConnection Connection, BinlogPosition? Position)> OpenSnapshotAsync(
        string connectionString, bool readPosition, bool? lockForPosition, CancellationToken cancellationToken)
    {
        var connection = new MySqlConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, "SET time_zone = '+00:00'; SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ", cancellationToken).ConfigureAwait(false);
            const string Begin = "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY";
            if (!readPosition)
            {
                await ExecuteAsync(connection, Begin, cancellationToken).ConfigureAwait(false);
                return (connection, null);
            }

            var locked = lockForPosition ?? await SnapshotStatusAsync(connection, cancellationToken).ConfigureAwait(false) is null;
            if (!locked)
            {
                await ExecuteAsync(connection, Begin, cancellationToken).ConfigureAwait(false);
                return (connection, await StatusPositionAsync(connection, cancellationToken).ConfigureAwait(false));
            }

            // No commit can be written while the lock is held, so the snapshot and the head are of the same instant. UNLOCK
            // TABLES ends the global read lock without ending the transaction (it commits only after LOCK TABLES).
            await ExecuteAsync(connection, "FLUSH TABLES WITH READ LOCK", cancellationToken).ConfigureAwait(false);
            BinlogPosition position;
            try
            {
                await ExecuteAsync(connection, Begin, cancellationToken).ConfigureAwait(false);
                var head = await BinlogHeadAsync(connection, cancellationToken).ConfigureAwait(false)
                    ?? throw new InvalidOperationException("The server reports no binlog position (SHOW MASTER STATUS returned nothing): is log_bin on?");
                var gtids = head.ExecutedGtidSet.Length > 0 || !await IsMariaDbAsync(connection, cancellationToken).ConfigureAwait(false)
                    ? head.ExecutedGtidSet
                    : await MariaDbGtidAtAsync(connection, head.File, head.Offset, cancellationToken).ConfigureAwait(false);
                position = new BinlogPosition(gtids, head.File, head.Offset);
            }
            finally
            {
                await ExecuteAsync(connection, "UNLOCK TABLES", CancellationToken.None).ConfigureAwait(false);
            }

            return (connection, position);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<bool> IsMariaDbAsync(MySqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new MySqlCommand("SELECT VERSION()", connection);
        return (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string ?? "").Contains("MariaDB", StringComparison.OrdinalIgnoreCase);
    }

    private static async Task ExecuteAsync(MySqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every <paramref name="chunkRows"/>-th key in key order, read from the snapshot itself.</summary>
    private static async Task<List<string?[]>> BoundariesAsync(MySqlConnection connection, TableSchema table, int chunkRows, CancellationToken cancellationToken)
    {
        var keys = table.KeyIndexes.Select(k => table.Columns[k]).ToList();
        var keyList = string.Join(", ", keys.Select(k => MySqlCatalog.Identifier(k.Name)));
        await using var command = new MySqlCommand($"SELECT {keyList} FROM {MySqlCatalog.Identifier(table.Source)} ORDER BY {keyList}", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var boundaries = new List<string?[]>();
        var count = 0L;
        string?[]? last = null;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            count++;
            if (count % Math.Max(1, chunkRows) == 0)
            {
                last = new string?[keys.Count];
                for (var i = 0; i < keys.Count; i++)
                {
                    last[i] = KeyText(MySqlCatalog.Read(reader, i, keys[i].Type));
                }

                boundaries.Add(last);
            }
        }

        // A boundary on the very last row would only add an empty chunk.
        if (boundaries.Count > 0 && count % Math.Max(1, chunkRows) == 0)
        {
            boundaries.RemoveAt(boundaries.Count - 1);
        }

        return boundaries;
    }

    private static string? KeyText(object? value) => value switch
    {
        null => null,
        byte[] bytes => Convert.ToBase64String(bytes),
        DateTime at => at.ToString("yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        DateOnly day => day.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        NpgsqlTypes.NpgsqlInterval interval => TimeSpan.FromTicks(interval.Time * TimeSpan.TicksPerMicrosecond).ToString("c", CultureInfo.InvariantCulture),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    /// <summary>Binds a boundary's key values typed as their columns, so MySQL compares them as it orders the keys.</summary>
    private static string Parameters(MySqlCommand command, string prefix, List<ColumnSchema> keys, string?[] values)
    {
        var names = new List<string>();
        for (var i = 0; i < keys.Count; i++)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"@{prefix}{i}");
            var text = values[i];
            object? value = text is null ? null : keys[i].Type.Kind switch
            {
                ValueKind.Int16 or ValueKind.Int32 or ValueKind.Int64 => long.Parse(text, CultureInfo.InvariantCulture),
                ValueKind.Decimal => decimal.Parse(text, CultureInfo.InvariantCulture),
                ValueKind.Float32 or ValueKind.Float64 => double.Parse(text, CultureInfo.InvariantCulture),
                ValueKind.Bytes => Convert.FromBase64String(text),
                ValueKind.Boolean => bool.Parse(text),
                _ => text,
            };
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            names.Add(name);
        }

        return string.Join(", ", names);
    }
}

internal sealed record MySqlSnapshotPlan(string ResumePosition, DateTimeOffset TakenAt, List<MySqlTablePlan> Tables);

/// <summary>A table's chunk boundaries: the last key of each chunk but the last, as text.</summary>
internal sealed record MySqlTablePlan(string Schema, string Name, List<string?[]> Boundaries);

[JsonSerializable(typeof(MySqlSnapshotPlan))]
internal sealed partial class MySqlPlanJson : JsonSerializerContext;
