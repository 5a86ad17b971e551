using Freshet.DataPlane.Sources.MySql;
using Freshet.Testing;
using MySqlConnector;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>A test's own database and replication user on the shared MariaDB server, and ways to read the binlog.</summary>
internal sealed class MariaDbSource
{
    private static int _nextServerId = 1000;

    private MariaDbSource(MariaDbServer server, string database, MySqlEndpoint endpoint)
    {
        Server = server;
        Database = database;
        Endpoint = endpoint;
    }

    public MariaDbServer Server { get; }

    public string Database { get; }

    /// <summary>The replication user (mysql_native_password, the grants a pipeline needs).</summary>
    public MySqlEndpoint Endpoint { get; }

    /// <summary>
    /// A database and replication user on the shared server with <paramref name="options"/>. On a server that requires
    /// TLS the endpoint verifies the server's certificate against the fixture's CA (verify_identity).
    /// </summary>
    public static async Task<MariaDbSource> CreateAsync(string prefix, MariaDbServerOptions options) =>
        await CreateAsync(prefix, await MariaDbServer.SharedAsync(options));

    /// <summary>A database and user on <paramref name="server"/>, by default the server this test process shares.</summary>
    public static async Task<MariaDbSource> CreateAsync(string prefix, MariaDbServer? server = null)
    {
        server ??= await MariaDbServer.SharedAsync();
        var database = await server.CreateDatabaseAsync(prefix);
        var user = "cdc_" + Guid.NewGuid().ToString("N")[..12];
        var password = "pw-" + Guid.NewGuid().ToString("N");
        await server.CreateReplicationUserAsync(user, password);
        var tls = server.Options.RequireTls ? new MySqlTlsOptions(MySqlTlsMode.VerifyIdentity, server.CaCertificatePem) : null;
        return new MariaDbSource(server, database, new MySqlEndpoint("127.0.0.1", server.Port, user, password, tls));
    }

    /// <summary>A server id no other reader of this process uses (a second dump with the same id ends the first).</summary>
    public static uint NewServerId() => (uint)Interlocked.Increment(ref _nextServerId);

    /// <summary>Runs statements in this test's database.</summary>
    public async Task ExecuteAsync(params string[] statements)
    {
        await using var connection = new MySqlConnection(Server.ConnectionString(Database));
        await connection.OpenAsync();
        foreach (var sql in statements)
        {
            await using var command = new MySqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>The binlog file and position that the next transaction will be written at.</summary>
    public async Task<(string File, uint Position)> HeadAsync()
    {
        await using var connection = new MySqlConnection(Server.ConnectionString());
        await connection.OpenAsync();
        await using var command = new MySqlCommand("SHOW MASTER STATUS", connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "SHOW MASTER STATUS returned nothing: is log_bin on?");
        return (reader.GetString(0), Convert.ToUInt32(reader.GetValue(1), System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Every event from <paramref name="options"/>'s start to the current end of the log (a non-blocking dump).</summary>
    public async Task<List<BinlogEvent>> ReadToEndAsync(BinlogStreamOptions options)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var stream = await BinlogStream.OpenAsync(Endpoint, options with { NonBlocking = true }, timeout.Token);
        var events = new List<BinlogEvent>();
        while (await stream.ReadAsync(timeout.Token) is { } next)
        {
            events.Add(next);
        }

        return events;
    }

    /// <summary>The rows events of this test's database, in log order.</summary>
    public IEnumerable<RowsEvent> OwnRows(IEnumerable<BinlogEvent> events) =>
        events.OfType<RowsEvent>().Where(e => e.Table.Database == Database);
}
