using System.Diagnostics;
using Npgsql;

namespace Freshet.Testing;

/// <summary>
/// A throwaway PostgreSQL cluster from the machine's own packages, one per test process, on a free loopback port,
/// stopped and deleted when the process exits. Each test class takes a database of its own with
/// <see cref="CreateDatabaseAsync"/>, so tests never see each other's rows.
/// </summary>
public sealed class PostgresServer
{
    private static readonly SemaphoreSlim StartLock = new(1, 1);
    private static PostgresServer? _shared;

    private readonly string _binDirectory;
    private readonly string _dataDirectory;
    private readonly bool _runAsPostgresUser;

    private PostgresServer(string binDirectory, string dataDirectory, int port, bool runAsPostgresUser)
    {
        _binDirectory = binDirectory;
        _dataDirectory = dataDirectory;
        Port = port;
        _runAsPostgresUser = runAsPostgresUser;
    }

    public static string Root => Path.Combine(Path.GetTempPath(), "freshet-tests");

    public int Port { get; }

    public string BinDirectory => _binDirectory;

    public static async Task<PostgresServer> SharedAsync()
    {
        await StartLock.WaitAsync();
        try
        {
            return _shared ??= await StartAsync();
        }
        finally
        {
            StartLock.Release();
        }
    }

    public string ConnectionString(string database, string username = "postgres", string? password = null) =>
        new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Database = database,
            Username = username,
            Password = password,
            Pooling = true,
            MaxPoolSize = 40,
            Timeout = 15,
        }.ConnectionString;

    /// <summary>Creates an empty database with a unique name built from <paramref name="prefix"/>.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..Math.Min(prefix.Length + 33, 63)].ToLowerInvariant();
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
        await command.ExecuteNonQueryAsync();
        return name;
    }

    private static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinDirectory();
        RemoveStaleClusters();
        var data = Path.Combine(Root, $"pg-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..12]}");
        Directory.CreateDirectory(data);
        var asPostgres = Environment.UserName == "root";
        if (asPostgres)
        {
            // initdb refuses to run as root: the cluster belongs to the postgres user. Only its own (new, empty) folder:
            // a recursive chown of the shared root raced other tests' files coming and going ("No such file").
            await LocalMachine.RunToEndAsync("chown", $"postgres:postgres {data}");
            await LocalMachine.RunToEndAsync("chmod", $"755 {Root}");
        }

        await RunPgAsync(bin, asPostgres, "initdb", $"-D {data} -A trust -U postgres --no-sync -E UTF8 --locale=C.UTF-8");
        var port = LocalMachine.FreePort();
        var options = string.Join(' ', [
            $"-p {port}",
            "-c listen_addresses=127.0.0.1",
            $"-c unix_socket_directories={data}",
            "-c wal_level=logical",
            "-c max_replication_slots=20",
            "-c max_wal_senders=20",
            "-c max_connections=300",
            "-c fsync=off",
            "-c full_page_writes=off",
        ]);
        await RunPgAsync(bin, asPostgres, "pg_ctl", $"-D {data} -o \"{options}\" -l {data}/server.log -w -t 60 start");
        var server = new PostgresServer(bin, data, port, asPostgres);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => server.Stop();
        return server;
    }

    private void Stop()
    {
        try
        {
            RunPgAsync(_binDirectory, _runAsPostgresUser, "pg_ctl", $"-D {_dataDirectory} -m immediate -w stop").GetAwaiter().GetResult();
        }
        catch (InvalidOperationException)
        {
            // Already stopped.
        }

        try
        {
            Directory.Delete(_dataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Clusters of test processes that died without cleaning up (a killed test run).</summary>
    private static void RemoveStaleClusters()
    {
        if (!Directory.Exists(Root))
        {
            return;
        }

        foreach (var directory in Directory.GetDirectories(Root, "pg-*"))
        {
            var parts = Path.GetFileName(directory).Split('-');
            if (parts.Length > 1 && int.TryParse(parts[1], out var pid) && !LocalMachine.ProcessExists(pid))
            {
                var postmaster = Path.Combine(directory, "postmaster.pid");
                if (File.Exists(postmaster) && int.TryParse(File.ReadLines(postmaster).FirstOrDefault(), out var serverPid) && LocalMachine.ProcessExists(serverPid))
                {
                    try
                    {
                        Process.GetProcessById(serverPid).Kill();
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

    private static string FindBinDirectory()
    {
        const string root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(d => (Dir: d, Version: int.TryParse(Path.GetFileName(d), out var v) ? v : 0))
                .Where(d => d.Version >= 15 && File.Exists(Path.Combine(d.Dir, "bin", "initdb")))
                .OrderByDescending(d => d.Version)
                .Select(d => Path.Combine(d.Dir, "bin"))
                .FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException(
            "PostgreSQL 15 or later is not installed (looked in /usr/lib/postgresql/*/bin). Run ./infra/test.sh, which installs it, or `apt-get install -y postgresql`.");
    }

    private static Task RunPgAsync(string bin, bool asPostgres, string tool, string arguments) =>
        asPostgres
            ? LocalMachine.RunToEndAsync("runuser", $"-u postgres -- {Path.Combine(bin, tool)} {arguments}")
            : LocalMachine.RunToEndAsync(Path.Combine(bin, tool), arguments);
}
