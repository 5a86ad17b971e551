using System.Diagnostics;
using System.Globalization;
using MySqlConnector;

namespace Freshet.Testing;

/// <summary>
/// A throwaway MariaDB server from the machine's own package (Debian 12 has no MySQL server), one per test process, on a
/// free loopback port, with the binlog a MySQL/MariaDB source needs (row format, full row image and row metadata,
/// CRC32 checksums, strict GTIDs). Stopped and deleted when the process exits, or by a watcher when the process is
/// killed. Each test takes a database of its own with <see cref="CreateDatabaseAsync"/>; the binlog is shared, so
/// tests that read it pick their own database's events. Servers with other settings (<see cref="MariaDbServerOptions"/>:
/// TLS required, compressed binlog events) are separate instances, shared the same way.
/// </summary>
public sealed class MariaDbServer
{
    /// <summary>The administrator reachable over TCP (the installer's root is bound to the socket and localhost).</summary>
    public const string AdminUser = "freshet_admin";

    public const string AdminPassword = "freshet-admin-pw";

    private static readonly SemaphoreSlim StartLock = new(1, 1);
    private static readonly Dictionary<MariaDbServerOptions, MariaDbServer> Shared = [];

    private readonly string _directory;
    private readonly Process _process;

    private MariaDbServer(string directory, int port, Process process, string version, MariaDbServerOptions options)
    {
        _directory = directory;
        Port = port;
        _process = process;
        Version = version;
        Options = options;
    }

    public MariaDbServerOptions Options { get; }

    /// <summary>With <see cref="MariaDbServerOptions.RequireTls"/>: the PEM of the CA that signed the server's certificate.</summary>
    public string? CaCertificatePem => Options.RequireTls ? File.ReadAllText(Path.Combine(_directory, "tls", "ca.pem")) : null;

    /// <summary>With <see cref="MariaDbServerOptions.RequireTls"/>: the PEM of a second CA that signed nothing the server has.</summary>
    public string? UnrelatedCaCertificatePem => Options.RequireTls ? File.ReadAllText(Path.Combine(_directory, "tls", "other-ca.pem")) : null;

    public int Port { get; }

    /// <summary>The server's version string, e.g. <c>10.11.19-MariaDB-0+deb12u1-log</c>.</summary>
    public string Version { get; }

    /// <summary>The server with these options that this test process shares, started on first use.</summary>
    public static async Task<MariaDbServer> SharedAsync(MariaDbServerOptions? options = null)
    {
        options ??= MariaDbServerOptions.Default;
        await StartLock.WaitAsync();
        try
        {
            if (!Shared.TryGetValue(options, out var server))
            {
                server = await StartAsync(options, TimeSpan.FromSeconds(90));
                Shared[options] = server;
            }

            return server;
        }
        finally
        {
            StartLock.Release();
        }
    }

    /// <summary>
    /// A server of the caller's own, for tests that change the binlog itself (PURGE BINARY LOGS, RESET MASTER) and so
    /// must not share one with tests that read it; <see cref="Dispose"/> stops it.
    /// </summary>
    public static Task<MariaDbServer> StartPrivateAsync() => StartAsync(new MariaDbServerOptions(), TimeSpan.FromSeconds(90));

    /// <summary>Stops a server from <see cref="StartPrivateAsync"/> and deletes its folder.</summary>
    public void Dispose() => Stop();

    public string ConnectionString(string? database = null, string user = AdminUser, string password = AdminPassword) =>
        new MySqlConnectionStringBuilder
        {
            Server = "127.0.0.1",
            Port = (uint)Port,
            Database = database ?? "",
            UserID = user,
            Password = password,
            Pooling = true,
            ConnectionTimeout = 15,
        }.ConnectionString;

    /// <summary>Creates an empty database with a unique name built from <paramref name="prefix"/>.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 64)].ToLowerInvariant();
        await ExecuteAsync($"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci");
        return name;
    }

    /// <summary>
    /// Creates a user that may read the binlog and the tables, authenticating with <c>mysql_native_password</c>
    /// (the grants a pipeline's source user needs).
    /// </summary>
    public async Task CreateReplicationUserAsync(string user, string password)
    {
        await ExecuteAsync(
            $"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('{password}')",
            $"GRANT REPLICATION SLAVE, REPLICATION CLIENT, BINLOG MONITOR, SELECT ON *.* TO '{user}'@'127.0.0.1'");
    }

    /// <summary>Runs statements in order on one admin connection (the server's time zone is UTC).</summary>
    public async Task ExecuteAsync(params string[] statements)
    {
        await using var connection = new MySqlConnection(ConnectionString());
        await connection.OpenAsync();
        foreach (var sql in statements)
        {
            await using var command = new MySqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
    }

    /// <summary>Runs one query that returns a single value.</summary>
    public async Task<string?> ScalarAsync(string sql)
    {
        await using var connection = new MySqlConnection(ConnectionString());
        await connection.OpenAsync();
        await using var command = new MySqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync();
        return value is null or DBNull ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
    }

    private static async Task<MariaDbServer> StartAsync(MariaDbServerOptions options, TimeSpan patience)
    {
        const string server = "/usr/sbin/mariadbd";
        const string installer = "/usr/bin/mariadb-install-db";
        if (!File.Exists(server) || !File.Exists(installer))
        {
            throw new InvalidOperationException(
                "MariaDB is not installed (no /usr/sbin/mariadbd). Run ./infra/test.sh, which installs it, or `apt-get install -y mariadb-server`.");
        }

        RemoveStaleServers();
        var directory = Path.Combine(PostgresServer.Root, $"mariadb-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}");
        var data = Path.Combine(directory, "data");
        Directory.CreateDirectory(data);
        var asRoot = Environment.UserName == "root";
        var port = LocalMachine.FreePort();
        var config = Path.Combine(directory, "my.cnf");
        var initFile = Path.Combine(directory, "init.sql");
        await File.WriteAllTextAsync(initFile, $"""
            CREATE USER IF NOT EXISTS '{AdminUser}'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('{AdminPassword}');
            GRANT ALL PRIVILEGES ON *.* TO '{AdminUser}'@'127.0.0.1' WITH GRANT OPTION;
            """);
        var extra = new List<string>();
        if (options.RequireTls)
        {
            var tls = await CreateCertificatesAsync(directory);
            extra.Add($"ssl_ca={tls}/ca.pem");
            extra.Add($"ssl_cert={tls}/server.pem");
            extra.Add($"ssl_key={tls}/server.key");
            extra.Add("require_secure_transport=ON");
        }

        if (options.CompressBinlog)
        {
            // Events of at least this many bytes are written compressed (QUERY_COMPRESSED, *_ROWS_COMPRESSED_V1).
            extra.Add("log_bin_compress=ON");
            extra.Add("log_bin_compress_min_len=10");
        }

        await File.WriteAllTextAsync(config, $"""
            [mariadbd]
            datadir={data}
            socket={directory}/mariadb.sock
            pid-file={directory}/mariadb.pid
            log_error={directory}/error.log
            port={port}
            bind-address=127.0.0.1
            skip-name-resolve
            {(asRoot ? "user=mysql" : "")}
            init-file={initFile}
            character-set-server=utf8mb4
            collation-server=utf8mb4_unicode_ci
            default-time-zone=+00:00
            server_id=1
            log_bin={data}/binlog
            binlog_format=ROW
            binlog_row_image=FULL
            binlog_row_metadata=FULL
            binlog_checksum=CRC32
            gtid_domain_id=0
            gtid_strict_mode=ON
            max_allowed_packet=256M
            max_connections=300
            innodb_buffer_pool_size=64M
            innodb_log_file_size=32M
            innodb_flush_log_at_trx_commit=2
            sync_binlog=0
            performance_schema=OFF
            {string.Join('\n', extra)}
            """);
        if (asRoot)
        {
            // Started as root, mariadbd switches to the mysql user, which must own the folder it writes.
            await LocalMachine.RunToEndAsync("chown", $"-R mysql:mysql {directory}");
            await LocalMachine.RunToEndAsync("chmod", $"755 {PostgresServer.Root}");
        }

        await LocalMachine.RunToEndAsync(installer, $"--no-defaults --datadir={data} {(asRoot ? "--user=mysql" : "")} --auth-root-authentication-method=normal --skip-test-db");

        var start = new ProcessStartInfo(server, $"--defaults-file={config}")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start mariadbd.");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        StartReaper(process.Id, directory);

        var deadline = DateTime.UtcNow + patience;
        Exception? last = null;
        while (DateTime.UtcNow < deadline && !process.HasExited)
        {
            try
            {
                var probe = new MariaDbServer(directory, port, process, "", options);
                var version = await probe.ScalarAsync("SELECT VERSION()") ?? "";
                var started = new MariaDbServer(directory, port, process, version, options);
                AppDomain.CurrentDomain.ProcessExit += (_, _) => started.Stop();
                return started;
            }
            catch (MySqlException e)
            {
                last = e;
                await Task.Delay(200);
            }
        }

        var log = Path.Combine(directory, "error.log");
        var said = File.Exists(log) ? await File.ReadAllTextAsync(log) : "";
        var exited = process.HasExited ? $" (mariadbd exited with {process.ExitCode})" : "";
        new MariaDbServer(directory, port, process, "", options).Stop();
        throw new InvalidOperationException(
            $"MariaDB did not accept connections on {port} within {patience.TotalSeconds:F0} s{exited}: {last?.Message}. Log: {said[^Math.Min(said.Length, 2000)..]}");
    }

    /// <summary>
    /// A throwaway CA, a server certificate it signs (for localhost and 127.0.0.1, so that verify_identity can pass),
    /// and a second CA that signs nothing, for tests that must see a certificate refused. Returns the folder.
    /// </summary>
    private static async Task<string> CreateCertificatesAsync(string directory)
    {
        var tls = Path.Combine(directory, "tls");
        Directory.CreateDirectory(tls);
        await File.WriteAllTextAsync(Path.Combine(tls, "server.ext"), """
            basicConstraints=CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth
            subjectAltName=DNS:localhost,IP:127.0.0.1
            """);
        const string caExtensions = "-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign";
        await LocalMachine.RunToEndAsync("openssl", $"req -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=freshet-test-ca {caExtensions} -keyout {tls}/ca.key -out {tls}/ca.pem");
        await LocalMachine.RunToEndAsync("openssl", $"req -x509 -newkey rsa:2048 -nodes -days 3 -subj /CN=freshet-unrelated-ca {caExtensions} -keyout {tls}/other-ca.key -out {tls}/other-ca.pem");
        await LocalMachine.RunToEndAsync("openssl", $"req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout {tls}/server.key -out {tls}/server.csr");
        await LocalMachine.RunToEndAsync("openssl", $"x509 -req -in {tls}/server.csr -CA {tls}/ca.pem -CAkey {tls}/ca.key -CAcreateserial -days 3 -extfile {tls}/server.ext -out {tls}/server.pem");
        return tls;
    }

    /// <summary>
    /// A test host that is killed runs no exit handler: a small shell watches this process and, once it is gone, kills
    /// the server by its process id and removes its folder.
    /// </summary>
    private static void StartReaper(int serverPid, string directory)
    {
        LocalMachine.WhenThisProcessEnds($"""
            kill -9 {serverPid} 2>/dev/null
            rm -rf '{directory}'
            """);
    }

    private void Stop()
    {
        try
        {
            _process.Kill();
            _process.WaitForExit(10_000);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Servers of test processes that died without cleaning up and whose watcher did not run either.</summary>
    private static void RemoveStaleServers()
    {
        if (!Directory.Exists(PostgresServer.Root))
        {
            return;
        }

        foreach (var directory in Directory.GetDirectories(PostgresServer.Root, "mariadb-*"))
        {
            var parts = Path.GetFileName(directory).Split('-');
            if (parts.Length < 2 || !int.TryParse(parts[1], out var owner) || LocalMachine.ProcessExists(owner))
            {
                continue;
            }

            var pidFile = Path.Combine(directory, "mariadb.pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadAllText(pidFile).Trim(), out var serverPid) && LocalMachine.ProcessExists(serverPid))
            {
                try
                {
                    using var stale = Process.GetProcessById(serverPid);
                    stale.Kill();
                }
                catch (InvalidOperationException)
                {
                }
            }

            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}

/// <summary>How a test MariaDB server differs from the default one (plain TCP, uncompressed binlog).</summary>
/// <param name="RequireTls">A throwaway CA and server certificate, and <c>require_secure_transport=ON</c>: every connection must use TLS.</param>
/// <param name="CompressBinlog"><c>log_bin_compress=ON</c>: the server writes compressed query and rows events.</param>
public sealed record MariaDbServerOptions(bool RequireTls = false, bool CompressBinlog = false)
{
    public static MariaDbServerOptions Default { get; } = new();
}
