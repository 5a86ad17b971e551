using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>Where and as whom a replication connection signs in.</summary>
internal sealed record MySqlEndpoint(string Host, int Port, string User, string Password, MySqlTlsOptions? TlsOptions = null)
{
    /// <summary>The TLS options; preferred (TLS when offered, unchecked) when none were given, as MySQL's client does.</summary>
    public MySqlTlsOptions Tls => TlsOptions ?? MySqlTlsOptions.Preferred;

    public override string ToString() => $"{User}@{Host}:{Port}";
}

/// <summary>
/// A connection speaking the MySQL client/server protocol itself, for what MySqlConnector cannot send: the replication
/// commands. It signs in (handshake v10, mysql_native_password or caching_sha2_password), runs simple statements and
/// queries (text protocol), registers as a replica and reads a binlog dump. Not thread-safe; one command at a time.
/// TLS follows the endpoint's ssl_mode (<see cref="MySqlTlsUpgrade"/>): the socket is upgraded after the greeting.
/// </summary>
internal sealed class MySqlProtocolConnection : IAsyncDisposable
{
    private const byte ComQuery = 0x03;
    private const byte ComBinlogDump = 0x12;
    private const byte ComRegisterSlave = 0x15;
    private const byte ComBinlogDumpGtid = 0x1E;

    // COM_BINLOG_DUMP_GTID flags: end with EOF at the end of the log; the GTID set below says where to start.
    private const ushort DumpNonBlocking = 0x01;
    private const ushort DumpThroughGtid = 0x04;
    private const uint MaxPacketSize = 0x40000000;

    // utf8mb4_general_ci: every id MariaDB and MySQL both know; statement text and names are sent as UTF-8.
    private const byte Utf8Mb4GeneralCi = 45;

    private readonly Socket _socket;
    private readonly NetworkStream _network;
    private readonly MySqlPacketStream _packets;
    private SslStream? _tls;

    private MySqlProtocolConnection(Socket socket, ServerHandshake handshake)
    {
        _socket = socket;
        _network = new NetworkStream(socket, ownsSocket: false);
        _packets = new MySqlPacketStream(_network);
        Handshake = handshake;
    }

    public ServerHandshake Handshake { get; private set; }

    public string ServerVersion => Handshake.ServerVersion;

    public bool IsMariaDb => Handshake.IsMariaDb;

    /// <summary>Whether the connection runs inside TLS.</summary>
    public bool IsEncrypted => _tls is not null;

    /// <summary>The TLS protocol negotiated, when encrypted (e.g. Tls13).</summary>
    public System.Security.Authentication.SslProtocols? TlsProtocol => _tls?.SslProtocol;

    /// <summary>The auth plugin the sign-in finished with.</summary>
    public string AuthPlugin { get; private set; } = "";

    public static async Task<MySqlProtocolConnection> OpenAsync(MySqlEndpoint endpoint, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        MySqlProtocolConnection? connection = null;
        try
        {
            await socket.ConnectAsync(endpoint.Host, endpoint.Port, cancellationToken).ConfigureAwait(false);
            connection = new MySqlProtocolConnection(socket, null!);
            await connection.SignInAsync(endpoint, cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    /// <summary>Runs a statement that returns no rows (e.g. <c>SET @var = …</c>).</summary>
    public async Task ExecuteAsync(string sql, CancellationToken cancellationToken)
    {
        await SendCommandAsync(new PayloadWriter().Byte(ComQuery).Bytes(Encoding.UTF8.GetBytes(sql)), cancellationToken).ConfigureAwait(false);
        var payload = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        ExpectOk(payload.Span, sql);
    }

    /// <summary>Runs a query over the text protocol and returns its rows as text (null for NULL).</summary>
    public async Task<IReadOnlyList<string?[]>> QueryAsync(string sql, CancellationToken cancellationToken)
    {
        await SendCommandAsync(new PayloadWriter().Byte(ComQuery).Bytes(Encoding.UTF8.GetBytes(sql)), cancellationToken).ConfigureAwait(false);
        var first = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        if (first.Span[0] is 0x00 or 0xFF)
        {
            ExpectOk(first.Span, sql);
            return [];
        }

        var columns = (int)new PayloadReader(first.Span).ReadLengthEncoded();
        // Column definitions, then an EOF packet: CLIENT_DEPRECATE_EOF is not asked for.
        for (var i = 0; i < columns; i++)
        {
            await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        }

        var eof = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        if (!IsEof(eof.Span))
        {
            throw new MySqlProtocolException($"Expected EOF after the column definitions of '{sql}'.");
        }

        var rows = new List<string?[]>();
        while (true)
        {
            var payload = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
            var span = payload.Span;
            if (IsEof(span))
            {
                return rows;
            }

            if (span[0] == 0xFF)
            {
                throw MySqlServerException.FromErrorPacket(span, sql);
            }

            var reader = new PayloadReader(span);
            var row = new string?[columns];
            for (var i = 0; i < columns; i++)
            {
                if (reader.Rest[0] == 0xFB)
                {
                    reader.Skip(1);
                }
                else
                {
                    row[i] = reader.ReadLengthEncodedString();
                }
            }

            rows.Add(row);
        }
    }

    /// <summary>
    /// COM_REGISTER_SLAVE ("5-Slave registration", MariaDB KB): server_id(4), hostname, user and password (each with a
    /// one-byte length), port(2), replication rank(4), master id(4). It makes this reader visible in SHOW SLAVE HOSTS.
    /// </summary>
    public async Task RegisterReplicaAsync(uint serverId, string hostname, CancellationToken cancellationToken)
    {
        var command = new PayloadWriter()
            .Byte(ComRegisterSlave)
            .UInt32(serverId)
            .ShortLengthPrefixed(Encoding.UTF8.GetBytes(hostname))
            .ShortLengthPrefixed([])
            .ShortLengthPrefixed([])
            .UInt16(0)
            .UInt32(0)
            .UInt32(0);
        await SendCommandAsync(command, cancellationToken).ConfigureAwait(false);
        var payload = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        ExpectOk(payload.Span, "COM_REGISTER_SLAVE");
    }

    /// <summary>
    /// COM_BINLOG_DUMP: position(4), flags(2), server_id(4), file name (rest of the packet). MariaDB resumes from
    /// <c>@slave_connect_state</c> instead when that is set before; the file name is then empty. After this the server
    /// sends events until the connection closes (or, with <paramref name="nonBlocking"/>, an EOF at the end of the log).
    /// </summary>
    public async Task StartBinlogDumpAsync(string fileName, uint position, uint serverId, bool nonBlocking, CancellationToken cancellationToken)
    {
        var command = new PayloadWriter()
            .Byte(ComBinlogDump)
            .UInt32(position)
            .UInt16(nonBlocking ? (ushort)1 : (ushort)0)
            .UInt32(serverId)
            .Bytes(Encoding.UTF8.GetBytes(fileName));
        await SendCommandAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>MySQL: streams every transaction not in <paramref name="executed"/> (<see cref="BinlogDumpGtidCommand"/>).</summary>
    public ValueTask StartBinlogDumpGtidAsync(MySqlGtidSet executed, uint serverId, bool nonBlocking, CancellationToken cancellationToken) =>
        SendCommandAsync(BinlogDumpGtidCommand(executed, serverId, nonBlocking), cancellationToken);

    /// <summary>
    /// COM_BINLOG_DUMP_GTID (MySQL): flags(2), server_id(4), binlog name length(4), binlog name, position(8), and
    /// with BINLOG_THROUGH_GTID the encoded GTID set's length(4) and bytes. The name is empty and the position 4, as a
    /// MySQL replica sends them: the server finds the first transaction missing from the set itself.
    /// </summary>
    public static PayloadWriter BinlogDumpGtidCommand(MySqlGtidSet executed, uint serverId, bool nonBlocking)
    {
        var encoded = executed.Encode();
        return new PayloadWriter()
            .Byte(ComBinlogDumpGtid)
            .UInt16((ushort)(DumpThroughGtid | (nonBlocking ? DumpNonBlocking : 0)))
            .UInt32(serverId)
            .UInt32(0)
            .UInt32(4).UInt32(0)
            .UInt32((uint)encoded.Length)
            .Bytes(encoded);
    }

    /// <summary>
    /// Reads the next packet of a binlog dump: an event (the OK marker 0x00 stripped; valid until the next read), or
    /// empty at the end of the log in non-blocking mode. An ERR packet (e.g. a purged file or unknown GTID) throws.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadBinlogPacketAsync(CancellationToken cancellationToken)
    {
        var payload = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        var span = payload.Span;
        return span[0] switch
        {
            0x00 => payload[1..],
            0xFE when span.Length < 9 => ReadOnlyMemory<byte>.Empty,
            0xFF => throw MySqlServerException.FromErrorPacket(span, "Reading the binlog"),
            _ => throw new MySqlProtocolException($"Unexpected binlog packet marker 0x{span[0]:X2}."),
        };
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _socket.Shutdown(SocketShutdown.Both);
        }
        catch (SocketException)
        {
        }
        catch (ObjectDisposedException)
        {
        }

        if (_tls is not null)
        {
            await _tls.DisposeAsync().ConfigureAwait(false);
        }

        await _network.DisposeAsync().ConfigureAwait(false);
        _socket.Dispose();
        _packets.Dispose();
    }

    private async Task SignInAsync(MySqlEndpoint endpoint, CancellationToken cancellationToken)
    {
        _packets.ResetSequence();
        var greeting = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
        Handshake = ServerHandshake.Parse(greeting.Span);
        if ((Handshake.Capabilities & MySqlCapabilities.Protocol41) == 0)
        {
            throw new MySqlProtocolException($"The server {Handshake.ServerVersion} does not speak protocol 4.1.");
        }

        var plugin = MySqlAuthentication.IsSupported(Handshake.AuthPluginName) ? Handshake.AuthPluginName : MySqlAuthentication.NativePassword;
        var scramble = Handshake.Scramble;
        var wanted = MySqlCapabilities.LongPassword | MySqlCapabilities.LongFlag | MySqlCapabilities.Protocol41 | MySqlCapabilities.Transactions
            | MySqlCapabilities.SecureConnection | MySqlCapabilities.PluginAuth | MySqlCapabilities.PluginAuthLengthEncodedData;
        var capabilities = wanted & Handshake.Capabilities;
        var tls = endpoint.Tls;
        var serverOffersTls = (Handshake.Capabilities & MySqlCapabilities.Ssl) != 0;
        if (tls.Mode != MySqlTlsMode.Disabled && serverOffersTls)
        {
            // SSLRequest: the handshake response's first 32 bytes with CLIENT_SSL; then TLS, then the full response.
            capabilities |= MySqlCapabilities.Ssl;
            var sslRequest = new PayloadWriter().UInt32(capabilities).UInt32(MaxPacketSize).Byte(Utf8Mb4GeneralCi).Zeros(23);
            await _packets.WritePayloadAsync(sslRequest.Written, cancellationToken).ConfigureAwait(false);
            _tls = await MySqlTlsUpgrade.AuthenticateAsync(_network, endpoint, cancellationToken).ConfigureAwait(false);
            _packets.SwitchTo(_tls);
        }
        else if (tls.Mode >= MySqlTlsMode.Required)
        {
            throw new MySqlTlsException(
                $"ssl_mode is {MySqlTlsUpgrade.ModeName(tls.Mode)}, but the server {Handshake.ServerVersion} at {endpoint.Host}:{endpoint.Port} does not offer TLS: " +
                "configure ssl_cert and ssl_key on the server, or lower ssl_mode.");
        }

        var authResponse = MySqlAuthentication.Scramble(plugin, endpoint.Password, scramble);

        // HandshakeResponse41: capabilities(4), max packet(4), charset(1), 23 zero bytes, user NUL, auth response,
        // auth plugin name NUL.
        var response = new PayloadWriter()
            .UInt32(capabilities)
            .UInt32(MaxPacketSize)
            .Byte(Utf8Mb4GeneralCi)
            .Zeros(23)
            .NullTerminated(endpoint.User);
        if ((capabilities & MySqlCapabilities.PluginAuthLengthEncodedData) != 0)
        {
            response.LengthEncodedBytes(authResponse);
        }
        else
        {
            response.ShortLengthPrefixed(authResponse);
        }

        if ((capabilities & MySqlCapabilities.PluginAuth) != 0)
        {
            response.NullTerminated(plugin);
        }

        await _packets.WritePayloadAsync(response.Written, cancellationToken).ConfigureAwait(false);
        var context = $"Signing in to {endpoint}";
        if (_tls is null && serverOffersTls)
        {
            // MariaDB answers a plain login under require_secure_transport=ON with "Access denied"; say what else it may mean.
            context += " without TLS (ssl_mode disabled, though the server offers TLS; a server that requires secure transport refuses such logins)";
        }

        while (true)
        {
            var reply = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
            var span = reply.Span;
            switch (span[0])
            {
                case 0x00:
                    AuthPlugin = plugin;
                    return;
                case 0xFF:
                    throw MySqlServerException.FromErrorPacket(span, context);
                case 0xFE:
                    // AuthSwitchRequest: plugin name NUL, then that plugin's scramble (NUL-terminated).
                    var reader = new PayloadReader(span[1..]);
                    plugin = reader.ReadNullTerminatedString();
                    var data = reader.Rest;
                    scramble = (data.Length > 0 && data[^1] == 0 ? data[..^1] : data).ToArray();
                    await _packets.WritePayloadAsync(MySqlAuthentication.Scramble(plugin, endpoint.Password, scramble), cancellationToken).ConfigureAwait(false);
                    break;
                case 0x01 when plugin == MySqlAuthentication.CachingSha2Password:
                    await ContinueCachingSha2Async(span[1..].ToArray(), endpoint.Password, scramble, cancellationToken).ConfigureAwait(false);
                    break;
                default:
                    throw new MySqlProtocolException($"{context}: unexpected reply 0x{span[0]:X2} during authentication with {plugin}.");
            }
        }
    }

    /// <summary>
    /// caching_sha2_password after the scramble: 3 means the server's cache accepted it (an OK follows); 4 means full
    /// authentication: inside TLS the password is sent as it is; otherwise the client asks for the server's RSA public key
    /// and sends the password encrypted with it. Checked only against an in-test peer that speaks the documented server
    /// side (MySqlAuthenticationTests), not a MySQL 8 server: MariaDB cannot serve this plugin and no MySQL runs here.
    /// </summary>
    private async Task ContinueCachingSha2Async(byte[] data, string password, byte[] scramble, CancellationToken cancellationToken)
    {
        if (data.Length == 1 && data[0] == MySqlAuthentication.FastAuthSuccess)
        {
            return;
        }

        if (data.Length == 1 && data[0] == MySqlAuthentication.PerformFullAuthentication && _tls is not null)
        {
            // Inside TLS the password itself is sent, NUL-terminated: the channel protects it.
            await _packets.WritePayloadAsync(Encoding.UTF8.GetBytes(password + "\0"), cancellationToken).ConfigureAwait(false);
            return;
        }

        if (data.Length == 1 && data[0] == MySqlAuthentication.PerformFullAuthentication)
        {
            await _packets.WritePayloadAsync(new[] { MySqlAuthentication.RequestPublicKey }, cancellationToken).ConfigureAwait(false);
            var key = await _packets.ReadPayloadAsync(cancellationToken).ConfigureAwait(false);
            if (key.Span[0] == 0xFF)
            {
                throw MySqlServerException.FromErrorPacket(key.Span, "Requesting the server's RSA public key");
            }

            if (key.Span[0] != 0x01)
            {
                throw new MySqlProtocolException($"Requesting the server's RSA public key: expected AuthMoreData (0x01), got a packet starting 0x{key.Span[0]:X2}.");
            }

            var pem = Encoding.ASCII.GetString(key.Span[1..]);
            await _packets.WritePayloadAsync(MySqlAuthentication.RsaEncryptPassword(password, scramble, pem), cancellationToken).ConfigureAwait(false);
            return;
        }

        throw new MySqlProtocolException($"Unexpected caching_sha2_password data of {data.Length} bytes.");
    }

    private ValueTask SendCommandAsync(PayloadWriter command, CancellationToken cancellationToken)
    {
        _packets.ResetSequence();
        return _packets.WritePayloadAsync(command.Written, cancellationToken);
    }

    private static void ExpectOk(ReadOnlySpan<byte> payload, string context)
    {
        if (payload[0] == 0xFF)
        {
            throw MySqlServerException.FromErrorPacket(payload, context);
        }

        if (payload[0] != 0x00)
        {
            throw new MySqlProtocolException($"{context}: expected OK, got a packet starting 0x{payload[0]:X2}.");
        }
    }

    private static bool IsEof(ReadOnlySpan<byte> payload) => payload[0] == 0xFE && payload.Length < 9;
}
