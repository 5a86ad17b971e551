using System.Globalization;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>Where a binlog stream starts and how it behaves.</summary>
/// <param name="ServerId">This reader's server id: unique among the server's replicas (a second reader with the same id disconnects the first).</param>
/// <param name="GtidState">Resume after these GTIDs — MariaDB's (<c>0-1-7,…</c>) or a MySQL GTID set (<c>uuid:1-7,…</c>); takes precedence over the file position.</param>
/// <param name="File">Binlog file to start in (with <paramref name="Position"/>), when no GTID state is given.</param>
/// <param name="Position">Offset in <paramref name="File"/>; 4 is the first event.</param>
/// <param name="HeartbeatPeriod">How long the server may stay silent before it sends a heartbeat event.</param>
/// <param name="NonBlocking">Whether the server ends the stream (EOF) at the end of its log instead of waiting for more.</param>
internal sealed record BinlogStreamOptions(
    uint ServerId,
    string? GtidState = null,
    string File = "",
    uint Position = 4,
    TimeSpan? HeartbeatPeriod = null,
    bool NonBlocking = false);

/// <summary>
/// A binlog dump from a MySQL or MariaDB server, decoded event by event. Opening it signs in, makes sure every event
/// will carry a CRC32 (and verifies each), declares the reader's capabilities, registers as a replica and starts the
/// dump — from a file and position, or (MariaDB) after a GTID state. The pre-dump statements are those a real replica
/// sends (MariaDB KB "5-Slave registration"). On MySQL a GTID set resumes through COM_BINLOG_DUMP_GTID.
/// </summary>
internal sealed class BinlogStream : IAsyncDisposable
{
    // MARIA_SLAVE_CAPABILITY_GTID: the server then sends GTID events rather than turning them into BEGIN queries.
    private const int MariaDbCapabilityGtid = 4;

    private readonly MySqlProtocolConnection _connection;
    private readonly BinlogEventDecoder _decoder = new(checksumsBeforeFormatDescription: true);
    private readonly Queue<BinlogEvent> _unpacked = new();

    private BinlogStream(MySqlProtocolConnection connection, string file)
    {
        _connection = connection;
        CurrentFile = file;
    }

    public string ServerVersion => _connection.ServerVersion;

    /// <summary>The binlog file the events come from (follows ROTATE events).</summary>
    public string CurrentFile { get; private set; }

    public static async Task<BinlogStream> OpenAsync(MySqlEndpoint endpoint, BinlogStreamOptions options, CancellationToken cancellationToken)
    {
        // Parsed before anything is sent: a MariaDB state goes into a statement, and only digits, dashes and commas may.
        // A MySQL GTID set (UUIDs and colons) goes into COM_BINLOG_DUMP_GTID instead.
        var mySqlGtids = options.GtidState is { } text && MySqlGtidSet.IsMySqlForm(text) ? MySqlGtidSet.Parse(text) : null;
        var gtidState = options.GtidState is null || mySqlGtids is not null ? null : MariaDbGtidState.Parse(options.GtidState).ToString();
        var connection = await MySqlProtocolConnection.OpenAsync(endpoint, cancellationToken).ConfigureAwait(false);
        try
        {
            var checksum = (await connection.QueryAsync("SELECT @@global.binlog_checksum", cancellationToken).ConfigureAwait(false))[0][0];
            if (!string.Equals(checksum, "CRC32", StringComparison.OrdinalIgnoreCase))
            {
                throw new BinlogUnsupportedException(
                    $"The server's binlog_checksum is {checksum ?? "NULL"}; set binlog_checksum=CRC32 so that every event read can be verified.");
            }

            // Declares that this reader understands checksums; without it the server refuses to send checksummed events.
            await connection.ExecuteAsync("SET @master_binlog_checksum = @@global.binlog_checksum", cancellationToken).ConfigureAwait(false);
            if (options.HeartbeatPeriod is { } period)
            {
                var nanoseconds = (long)(period.TotalMilliseconds * 1_000_000);
                await connection.ExecuteAsync(string.Create(CultureInfo.InvariantCulture, $"SET @master_heartbeat_period = {nanoseconds}"), cancellationToken).ConfigureAwait(false);
            }

            if (connection.IsMariaDb)
            {
                await connection.ExecuteAsync(string.Create(CultureInfo.InvariantCulture, $"SET @mariadb_slave_capability = {MariaDbCapabilityGtid}"), cancellationToken).ConfigureAwait(false);
            }

            if (mySqlGtids is not null)
            {
                if (connection.IsMariaDb)
                {
                    throw new BinlogUnsupportedException(
                        $"The position's GTIDs '{options.GtidState}' are a MySQL GTID set, but {connection.ServerVersion} is MariaDB, whose GTIDs are domain-server-sequence: the position belongs to another server.");
                }

                await connection.RegisterReplicaAsync(options.ServerId, "freshet", cancellationToken).ConfigureAwait(false);
                await connection.StartBinlogDumpGtidAsync(mySqlGtids, options.ServerId, options.NonBlocking, cancellationToken).ConfigureAwait(false);
                return new BinlogStream(connection, "");
            }

            if (gtidState is not null)
            {
                if (!connection.IsMariaDb)
                {
                    throw new BinlogUnsupportedException(
                        $"The position's GTIDs '{gtidState}' are MariaDB's (domain-server-sequence), but {connection.ServerVersion} is MySQL, whose GTIDs are UUID sets: the position belongs to another server.");
                }

                await connection.ExecuteAsync($"SET @slave_connect_state = '{gtidState}'", cancellationToken).ConfigureAwait(false);
                await connection.ExecuteAsync("SET @slave_gtid_strict_mode = 1", cancellationToken).ConfigureAwait(false);
                await connection.ExecuteAsync("SET @slave_gtid_ignore_duplicates = 0", cancellationToken).ConfigureAwait(false);
            }

            await connection.RegisterReplicaAsync(options.ServerId, "freshet", cancellationToken).ConfigureAwait(false);
            // With a GTID state MariaDB ignores the file and position; a real replica sends an empty name and 4.
            var file = gtidState is null ? options.File : "";
            await connection.StartBinlogDumpAsync(file, gtidState is null ? options.Position : 4, options.ServerId, options.NonBlocking, cancellationToken).ConfigureAwait(false);
            return new BinlogStream(connection, file);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>The next event, or null when a non-blocking dump reached the end of the log.</summary>
    public async ValueTask<BinlogEvent?> ReadAsync(CancellationToken cancellationToken)
    {
        // A MySQL TRANSACTION_PAYLOAD's events are handed out one by one, as if the server had sent them plainly.
        if (_unpacked.TryDequeue(out var unpacked))
        {
            return unpacked;
        }

        var packet = await ReadRawAsync(cancellationToken).ConfigureAwait(false);
        if (packet.IsEmpty)
        {
            return null;
        }

        var decoded = _decoder.Decode(packet.Span);
        if (decoded is TransactionPayloadEvent payload)
        {
            foreach (var inner in payload.Events)
            {
                _unpacked.Enqueue(inner);
            }

            return _unpacked.TryDequeue(out var first) ? first : await ReadAsync(cancellationToken).ConfigureAwait(false);
        }

        if (decoded is RotateEvent rotate)
        {
            CurrentFile = rotate.NextFile;
        }

        return decoded;
    }

    /// <summary>
    /// The next event's raw bytes (header to checksum), undecoded and unverified; valid until the next read; empty at EOF.
    /// For capturing events: the decoder of <see cref="ReadAsync"/> does not see them, so do not mix the two on one stream.
    /// </summary>
    public ValueTask<ReadOnlyMemory<byte>> ReadRawAsync(CancellationToken cancellationToken) => _connection.ReadBinlogPacketAsync(cancellationToken);

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
