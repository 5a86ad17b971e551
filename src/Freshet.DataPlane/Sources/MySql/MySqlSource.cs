using System.Globalization;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging;
using MySqlConnector;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Reads a MariaDB (and, where noted, MySQL) database: a consistent snapshot through MySqlConnector, then the binlog
/// through our own replication client (<see cref="BinlogStream"/>) from the snapshot's position. Nothing is created on
/// the server: the binlog is kept by the server's retention, not by this reader, so there is nothing to acknowledge or
/// drop. The spec's table schema is the MySQL database.
/// </summary>
internal sealed partial class MySqlSource : IChangeSource
{
    private readonly PipelineSpec _spec;
    private readonly MySqlSourceOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _connectionString;
    private readonly MySqlEndpoint _endpoint;
    private readonly uint _serverId;
    private readonly Dictionary<TableId, TableSchema> _tables = [];
    private SourceStatus _status = SourceStatus.Unknown;

    public MySqlSource(PipelineSpec spec, MySqlSourceOptions options, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _spec = spec;
        _options = options;
        _time = time;
        _logger = loggerFactory.CreateLogger<MySqlSource>();
        var settings = spec.Source.Settings;
        var host = Required(settings, "host");
        var port = settings.TryGetValue("port", out var portText) ? int.Parse(portText, CultureInfo.InvariantCulture) : 3306;
        var user = Required(settings, "username");
        var password = spec.Source.Secrets.GetValueOrDefault("password") ?? "";
        var tls = MySqlTlsOptions.FromSettings(settings.GetValueOrDefault("ssl_mode"), settings.GetValueOrDefault("ssl_ca"));

        _connectionString = new MySqlConnectionStringBuilder
        {
            Server = host,
            Port = (uint)port,
            Database = Required(settings, "database"),
            UserID = user,
            Password = password,
            // The snapshot and query connections follow the same ssl_mode and CA as the replication client.
            SslMode = tls.Mode switch
            {
                MySqlTlsMode.Disabled => MySqlSslMode.None,
                MySqlTlsMode.Required => MySqlSslMode.Required,
                MySqlTlsMode.VerifyCa => MySqlSslMode.VerifyCA,
                MySqlTlsMode.VerifyIdentity => MySqlSslMode.VerifyFull,
                _ => MySqlSslMode.Preferred,
            },
            SslCa = tls.CaCertificateFile() ?? "",
            // Values in the binlog's representations: TINYINT(1) is a number and BINARY(16)/CHAR(36) are not GUIDs.
            TreatTinyAsBoolean = false,
            GuidFormat = MySqlGuidFormat.None,
            ConnectionTimeout = 15,
            DefaultCommandTimeout = 0,
            Keepalive = 30,
            ApplicationName = "freshet-worker",
        }.ConnectionString;
        _endpoint = new MySqlEndpoint(host, port, user, password, tls);
        // A stable id per pipeline: a predecessor still dumping under the same id is disconnected by the server, as a
        // PostgreSQL slot is taken over. High range, so it does not collide with the small ids servers usually have.
        _serverId = settings.TryGetValue("server_id", out var id)
            ? uint.Parse(id, CultureInfo.InvariantCulture)
            : 0x8000_0000u | (uint)(BitConverter.ToUInt32(spec.PipelineId.ToByteArray(), 0) & 0x7FFF_FFFF);
    }

    public SourceStatus Status => _status;

    public async Task<IReadOnlyList<SourceTable>> PrepareAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var variables = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        await using (var command = new MySqlCommand(
            MySqlPrerequisites.VariablesSql, connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                variables[reader.GetString(0)] = reader.GetString(1);
            }
        }

        var user = await ScalarAsync(connection, "SELECT CURRENT_USER()", cancellationToken).ConfigureAwait(false) ?? "";
        var privileges = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        await using (var command = new MySqlCommand(
            // USER_PRIVILEGES lists each of the login's global privileges; GRANTEE is quoted as 'user'@'host'.
            "SELECT PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')",
            connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                privileges.Add(reader.GetString(0));
            }
        }

        var problems = MySqlPrerequisites.Problems(variables, privileges, user, connection.ServerVersion).ToList();
        if (problems.Count > 0)
        {
            throw new SourcePrerequisiteException(problems);
        }

        var tables = await MySqlCatalog.DescribeAsync(connection, _spec.Tables, cancellationToken).ConfigureAwait(false);
        foreach (var table in tables.Where(t => t.Schema is not null))
        {
            _tables[table.Id] = table.Schema!;
        }

        return tables;
    }

    public async Task<ISnapshotSession> OpenSnapshotAsync(IReadOnlyList<TableSchema> tables, string? resumePlan, CancellationToken cancellationToken)
    {
        if (resumePlan is null)
        {
            var session = await MySqlSnapshotSession.StartAsync(_connectionString, tables, _options.SnapshotChunkRows, null, _time, cancellationToken).ConfigureAwait(false);
            LogSnapshot(_logger, _spec.PipelineId, session.ResumePosition);
            return session;
        }

        var resumed = await MySqlSnapshotSession.ResumeAsync(_connectionString, resumePlan, cancellationToken).ConfigureAwait(false);
        if (await FindPositionLossAsync(BinlogPosition.Parse(resumed.ResumePosition), cancellationToken).ConfigureAwait(false) is { } loss)
        {
            await resumed.DisposeAsync().ConfigureAwait(false);
            throw new SnapshotLostException($"the interrupted snapshot's stream cannot start: {loss}");
        }

        return resumed;
    }

    public async Task<ISnapshotSession> OpenAddedTablesSnapshotAsync(IReadOnlyList<TableSchema> tables, string streamPosition, CancellationToken cancellationToken) =>
        await MySqlSnapshotSession.StartAsync(_connectionString, tables, _options.SnapshotChunkRows, streamPosition, _time, cancellationToken).ConfigureAwait(false);

    public async Task StreamAsync(string resumePosition, ChannelWriter<SourceEvent> output, CancellationToken cancellationToken)
    {
        var start = BinlogPosition.Parse(resumePosition);
        // Checked before every dump: the server would answer a purged position with error 1236, but a renumbered binlog
        // (RESET MASTER, a restored server) can still have a file of that name, and reading it would be a silent loss.
        var (loss, offsetVerified) = await CheckPositionAsync(start, cancellationToken).ConfigureAwait(false);
        if (loss is not null)
        {
            throw new SourcePositionLostException(BinlogPositionLoss.Message(loss));
        }

        var options = new BinlogStreamOptions(_serverId, HeartbeatPeriod: _options.HeartbeatInterval);
        // GTIDs when there are any (they name transactions, not bytes of one file), unless the check above has just seen
        // the position's GTIDs at its file and offset on this server (MariaDB's BINLOG_GTID_POS): then the dump starts
        // at that offset, the same place. MariaDB 10.11 has no GTID index, so a dump from GTIDs makes the server read
        // the file from its start to find them again, after BINLOG_GTID_POS already did: at 57 MB a million rows, that
        // read delayed a backlog's first rows by ~0.01 s per million rows before the position, seconds in a 1 GB file.
        // A server that has written no GTID yet has an empty state, from which MariaDB would send its whole binlog, so
        // the file and offset are used then too.
        options = start.GtidState.Length > 0 && !offsetVerified
            ? options with { GtidState = start.GtidState }
            : options with { File = start.File, Position = start.Offset };
        BinlogStream stream;
        try
        {
            stream = await BinlogStream.OpenAsync(_endpoint, options, cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlServerException e) when (e.ErrorCode == MySqlServerException.FatalErrorReadingBinlog)
        {
            throw await PositionLostAsync(start, e, cancellationToken).ConfigureAwait(false);
        }

        await using var dump = stream;
        LogStreaming(_logger, _spec.PipelineId, resumePosition, options.GtidState is null ? "file and offset" : "GTIDs", _serverId);
        using var measuring = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var measure = MeasureLoopAsync(measuring.Token);
        var decoder = new BinlogChangeDecoder(_tables, _spec.Tables, start, output);
        try
        {
            while (true)
            {
                var next = await stream.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (next is null)
                {
                    // RESET MASTER ends every dump thread, often before the server has an error to send: tell a reset
                    // apart from a plain disconnect here, or the run fails with a transient-looking reason first.
                    if (await FindPositionLossAsync(decoder.Position, cancellationToken).ConfigureAwait(false) is { } lost)
                    {
                        throw new SourcePositionLostException(BinlogPositionLoss.Message(lost));
                    }

                    throw new InvalidOperationException("The binlog dump ended.");
                }

                await decoder.HandleAsync(next, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (MySqlServerException e) when (e.ErrorCode == MySqlServerException.FatalErrorReadingBinlog)
        {
            // The dump's errors arrive mid-stream too (e.g. the binlog reset under a connected reader).
            throw await PositionLostAsync(decoder.Position, e, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await measuring.CancelAsync().ConfigureAwait(false);
            try
            {
                await measure.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    /// <summary>Nothing to tell the server: it keeps binlogs by its own retention, whatever a reader has read.</summary>
    public ValueTask AcknowledgeAsync(ulong acknowledgePosition, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>
    /// The binlog head as a numeric position (file index and offset, comparable with the changes' positions) and the
    /// binlog the server keeps in total; the pipeline holds none back (the server's retention decides).
    /// </summary>
    public async Task<SourceStatus> MeasureAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        long? head = await MySqlSnapshotSession.BinlogHeadAsync(connection, cancellationToken).ConfigureAwait(false) is var (file, offset, _)
            ? BinlogPosition.ToNumeric(file, offset)
            : null;

        _status = new SourceStatus(head, null, _time.GetUtcNow());
        return _status;
    }

    /// <summary>Nothing was created on the server.</summary>
    public Task DropAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private async Task MeasureLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await MeasureAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is MySqlException or InvalidOperationException or IOException && !cancellationToken.IsCancellationRequested)
            {
                LogMeasureFailed(_logger, e.Message);
            }

            await Task.Delay(_options.HeartbeatInterval, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Why the binlog cannot be read from <paramref name="position"/> any more (purged, reset), or null when it can.</summary>
    private async Task<string?> FindPositionLossAsync(BinlogPosition position, CancellationToken cancellationToken) =>
        (await CheckPositionAsync(position, cancellationToken).ConfigureAwait(false)).Loss;

    /// <summary>
    /// Why the binlog cannot be read from <paramref name="position"/> any more (purged, reset), or null when it can; and
    /// whether the server showed the position's GTIDs at its file and offset (MariaDB: then either names the same place).
    /// </summary>
    private async Task<(string? Loss, bool OffsetVerified)> CheckPositionAsync(BinlogPosition position, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var files = new List<(string Name, long Size)>();
        await using (var command = new MySqlCommand("SHOW BINARY LOGS", connection))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                files.Add((reader.GetString(0), Convert.ToInt64(reader.GetValue(1), CultureInfo.InvariantCulture)));
            }
        }

        var mariaDb = connection.ServerVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);
        if (!mariaDb)
        {
            return (BinlogPositionLoss.Explain(position, files, null), false);
        }

        var gtidState = await ScalarAsync(connection, "SELECT @@global.gtid_binlog_state", cancellationToken).ConfigureAwait(false) ?? "";
        string? atPosition = null;
        if (files.Any(f => string.Equals(f.Name, position.File, StringComparison.Ordinal)))
        {
            await using var command = new MySqlCommand("SELECT BINLOG_GTID_POS(@file, @offset)", connection);
            command.Parameters.AddWithValue("@file", position.File);
            command.Parameters.AddWithValue("@offset", position.Offset);
            atPosition = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is { } value and not DBNull
                ? Convert.ToString(value, CultureInfo.InvariantCulture)
                : null;
        }

        // Explain finds no loss with GTIDs only when every one of them is in the state at the file and offset.
        var loss = BinlogPositionLoss.Explain(position, files, gtidState, atPosition);
        return (loss, loss is null && atPosition is not null && position.GtidState.Length > 0);
    }

    /// <summary>
    /// The failure for a dump the server ended with error 1236: a lost position when the binlog shows it is (or the
    /// server says so), else the server's error as it is (1236 also covers e.g. an event over max_allowed_packet).
    /// </summary>
    private async Task<Exception> PositionLostAsync(BinlogPosition position, MySqlServerException error, CancellationToken cancellationToken)
    {
        if (await FindPositionLossAsync(position, cancellationToken).ConfigureAwait(false) is { } loss)
        {
            return new SourcePositionLostException(BinlogPositionLoss.Message(loss));
        }

        var said = error.ServerMessage;
        return said.Contains("purged", StringComparison.OrdinalIgnoreCase) || said.Contains("not in the master's binlog", StringComparison.OrdinalIgnoreCase)
            || said.Contains("Could not find first log file", StringComparison.OrdinalIgnoreCase)
            ? new SourcePositionLostException(BinlogPositionLoss.Message($"the server cannot send the binlog from the pipeline's position ({position}): {said}"))
            : error;
    }

    private async Task<MySqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new MySqlConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static async Task<string?> ScalarAsync(MySqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new MySqlCommand(sql, connection);
        return Convert.ToString(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    private static string Required(IReadOnlyDictionary<string, string> settings, string name) =>
        settings.TryGetValue(name, out var value) && !string.IsNullOrEmpty(value)
            ? value
            : throw new ArgumentException($"The MySQL connection needs the '{name}' setting.", nameof(settings));

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: MySQL snapshot taken at {Position}")]
    private static partial void LogSnapshot(ILogger logger, Guid pipelineId, string position);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: streaming the binlog from {Position} (by {StartedBy}) as replica {ServerId}")]
    private static partial void LogStreaming(ILogger logger, Guid pipelineId, string position, string startedBy, uint serverId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Measuring the MySQL source failed: {Reason}")]
    private static partial void LogMeasureFailed(ILogger logger, string reason);
}

/// <summary>Tunables of the MySQL source.</summary>
/// <param name="HeartbeatInterval">How often the server sends a heartbeat when idle, and the head position is measured.</param>
/// <param name="SnapshotChunkRows">Target rows per snapshot chunk.</param>
internal sealed record MySqlSourceOptions(TimeSpan HeartbeatInterval, int SnapshotChunkRows);
