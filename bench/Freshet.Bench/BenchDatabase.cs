using Npgsql;
using NpgsqlTypes;

namespace Freshet.Bench;

/// <summary>A database of the benchmark cluster, created fresh for one run and dropped (with its slots) afterwards.</summary>
internal sealed class BenchDatabase : IAsyncDisposable
{
    private readonly BenchSettings _settings;

    private BenchDatabase(BenchSettings settings, string name)
    {
        _settings = settings;
        Name = name;
        ConnectionString = settings.ConnectionString(name);
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public static async Task<BenchDatabase> CreateAsync(BenchSettings settings, string name, CancellationToken cancellationToken)
    {
        var database = new BenchDatabase(settings, name);
        await database.DropAsync(cancellationToken);
        await ExecuteAsync(settings.ConnectionString("postgres"), $"CREATE DATABASE \"{name}\"", cancellationToken);
        return database;
    }

    public Task ExecuteAsync(string sql, CancellationToken cancellationToken) => ExecuteAsync(ConnectionString, sql, cancellationToken);

    public async Task<T> ScalarAsync<T>(string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    public async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync(cancellationToken);
        return connection;
    }

    public Task<NpgsqlLogSequenceNumber> CurrentLsnAsync(CancellationToken cancellationToken) =>
        ScalarAsync<NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()", cancellationToken);

    /// <summary>The process id of the backend that holds a slot right now (its walsender), if any.</summary>
    public async Task<int?> SlotHolderAsync(string slot, CancellationToken cancellationToken)
    {
        var pid = await ScalarAsync<object?>($"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{slot}'", cancellationToken);
        return pid is int value ? value : null;
    }

    /// <summary>The client backends (not walsenders) that serve connections with this application name, cluster-wide.</summary>
    public async Task<IReadOnlyList<int>> BackendsAsync(string applicationName, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            $"SELECT pid FROM pg_stat_activity WHERE application_name = '{applicationName}' AND backend_type = 'client backend'", connection);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var pids = new List<int>();
        while (await reader.ReadAsync(cancellationToken))
        {
            pids.Add(reader.GetInt32(0));
        }

        return pids;
    }

    /// <summary>
    /// How many snapshot sessions of the worker are open right now, cluster-wide: connections of the worker that are
    /// inside the REPEATABLE READ transaction a snapshot opens, between chunks or copying one.
    /// </summary>
    public async Task<long> OpenSnapshotSessionsAsync(CancellationToken cancellationToken) =>
        await ScalarAsync<long>(
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE application_name = 'freshet-worker' AND backend_type = 'client backend' AND xact_start IS NOT NULL
              AND (query LIKE 'BEGIN ISOLATION LEVEL REPEATABLE READ%' OR query LIKE 'COPY (SELECT%')
            """,
            cancellationToken);

    public async Task<NpgsqlLogSequenceNumber?> ConfirmedFlushAsync(string slot, CancellationToken cancellationToken) =>
        await ScalarAsync<object?>($"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'", cancellationToken)
            is NpgsqlLogSequenceNumber lsn ? lsn : null;

    public async ValueTask DisposeAsync()
    {
        try
        {
            await DropAsync(CancellationToken.None);
        }
        catch (NpgsqlException e)
        {
            await Console.Error.WriteLineAsync($"could not drop database {Name}: {e.Message}");
        }
    }

    private async Task DropAsync(CancellationToken cancellationToken)
    {
        var admin = _settings.ConnectionString("postgres");
        // A database cannot be dropped while logical slots refer to it: stop their readers, then drop the slots.
        await ExecuteAsync(admin, $"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = '{Name}' AND active_pid IS NOT NULL", cancellationToken);
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                await ExecuteAsync(admin, $"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = '{Name}'", cancellationToken);
                break;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.ObjectInUse && attempt < 50)
            {
                await Task.Delay(200, cancellationToken);
            }
        }

        await ExecuteAsync(admin, $"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", cancellationToken);
    }

    private static async Task ExecuteAsync(string connectionString, string sql, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
