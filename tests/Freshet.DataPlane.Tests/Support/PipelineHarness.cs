using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Runtime;
using Freshet.Testing;
using Npgsql;

namespace Freshet.DataPlane.Tests.Support;

/// <summary>Which destination a test runs against.</summary>
public enum Target
{
    DuckDb,
    Postgres,

    /// <summary>A Snowflake destination: the test passes the emulator's endpoint to <see cref="PipelineHarness.Spec"/>.</summary>
    Snowflake,

    /// <summary>A BigQuery destination: the test passes the emulator's endpoints to <see cref="PipelineHarness.Spec"/>.</summary>
    BigQuery,
}

/// <summary>
/// A source database in the shared test cluster (with a small logical_decoding_work_mem, so big transactions are
/// streamed in progress), a destination of the chosen kind, and the pipeline spec that connects them.
/// </summary>
internal sealed class PipelineHarness : IAsyncDisposable
{
    private readonly PostgresServer _server;
    private readonly string _folder;

    private PipelineHarness(PostgresServer server, Target target, string sourceDatabase, string? destinationDatabase, string folder)
    {
        _server = server;
        Target = target;
        SourceDatabase = sourceDatabase;
        DestinationDatabase = destinationDatabase;
        _folder = folder;
        DuckDbPath = Path.Combine(folder, "destination.duckdb");
    }

    public Guid PipelineId { get; } = Guid.NewGuid();

    public Target Target { get; }

    public string SourceDatabase { get; }

    public string? DestinationDatabase { get; }

    public string DuckDbPath { get; }

    public string SlotName => $"freshet_{PipelineId:N}";

    public string SourceConnectionString => _server.ConnectionString(SourceDatabase);

    public string DestinationConnectionString => _server.ConnectionString(DestinationDatabase!);

    public static async Task<PipelineHarness> CreateAsync(Target target, string prefix)
    {
        var server = await PostgresServer.SharedAsync();
        var source = await server.CreateDatabaseAsync(prefix + "_src");
        await using (var connection = new NpgsqlConnection(server.ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"ALTER DATABASE \"{source}\" SET logical_decoding_work_mem = '64kB'", connection);
            await command.ExecuteNonQueryAsync();
        }

        var destination = target == Target.Postgres ? await server.CreateDatabaseAsync(prefix + "_dst") : null;
        var folder = Path.Combine(PostgresServer.Root, "pipelines", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        return new PipelineHarness(server, target, source, destination, folder);
    }

    public PipelineSpec Spec(
        long epoch = 1,
        IReadOnlyList<TableSpec>? tables = null,
        DeliverySpec? delivery = null,
        SchemaChangePolicy policy = SchemaChangePolicy.Propagate,
        DeleteMode deleteMode = DeleteMode.Hard,
        string? username = null,
        EndpointSpec? destination = null)
    {
        var source = new EndpointSpec(ConnectionType.Postgres, new Dictionary<string, string>
        {
            ["host"] = "127.0.0.1",
            ["port"] = _server.Port.ToString(CultureInfo.InvariantCulture),
            ["database"] = SourceDatabase,
            ["username"] = username ?? "postgres",
            ["ssl_mode"] = "disable",
        }, new Dictionary<string, string>());
        destination ??= Target is Target.Snowflake or Target.BigQuery
            ? throw new ArgumentException($"A {Target} pipeline needs the emulator's endpoint.", nameof(destination))
            : Target == Target.DuckDb
            ? new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string> { ["path"] = DuckDbPath }, new Dictionary<string, string>())
            : new EndpointSpec(ConnectionType.Postgres, new Dictionary<string, string>
            {
                ["host"] = "127.0.0.1",
                ["port"] = _server.Port.ToString(CultureInfo.InvariantCulture),
                ["database"] = DestinationDatabase!,
                ["username"] = "postgres",
                ["ssl_mode"] = "disable",
                ["schema"] = "analytics",
            }, new Dictionary<string, string>());
        return new PipelineSpec(PipelineId, Guid.NewGuid(), "test pipeline", 1, epoch, source, destination,
            tables ?? [new TableSpec("public", "items"), new TableSpec("public", "order_lines"), new TableSpec("public", "events")],
            deleteMode, policy, delivery ?? new DeliverySpec(MaxBatchDelayMilliseconds: 100, SnapshotChunkRows: 500));
    }

    public async Task<string> WriteSpecAsync(PipelineSpec spec, string name = "pipeline")
    {
        var path = Path.Combine(_folder, name + ".json");
        await SpecFileFeed.WriteAsync(path, spec, CancellationToken.None);
        return path;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(SourceConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql, string? connectionString = null)
    {
        await using var connection = new NpgsqlConnection(connectionString ?? SourceConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// Waits until the slot has been acknowledged past the source's current WAL position: the worker acknowledges only
    /// after the destination committed, so every change made before this call is then in the destination.
    /// </summary>
    public async Task WaitForCatchUpAsync(TimeSpan timeout, WorkerProcess? worker = null)
    {
        var target = await ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var confirmed = await ScalarAsync<object>($"SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{SlotName}'");
            if (confirmed is NpgsqlTypes.NpgsqlLogSequenceNumber lsn && lsn >= target)
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"The pipeline did not catch up with {target} within {timeout}.{(worker is null ? "" : "\nWorker output:\n" + worker.Output)}");
    }

    /// <summary>The source table and its destination table, read as canonical rows.</summary>
    public async Task<(TableContents Source, TableContents Destination)> ReadBothAsync(
        string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys, string? destinationTable = null)
    {
        var source = await TableContents.FromPostgresAsync(SourceConnectionString, table, columns, keys, TestShop.TextColumns, TestShop.JsonColumns);
        var destination = Target == Target.DuckDb
            ? await TableContents.FromDuckDbAsync(DuckDbPath, destinationTable ?? table, columns, keys, TestShop.JsonColumns)
            : await TableContents.FromPostgresAsync(DestinationConnectionString, $"analytics.\"{destinationTable ?? table}\"", columns, keys, TestShop.TextColumns, TestShop.JsonColumns);
        return (source, destination);
    }

    public async Task<string> DifferencesAsync(string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys)
    {
        var (source, destination) = await ReadBothAsync(table, columns, keys);
        return destination.DifferencesFrom(source);
    }

    /// <summary>Every difference between the test shop's source tables and the destination; empty when equal.</summary>
    public async Task<string> ShopDifferencesAsync() =>
        await DifferencesAsync("items", TestShop.ItemColumns, ["id"])
        + await DifferencesAsync("order_lines", TestShop.LineColumns, ["order_id", "line"])
        + await DifferencesAsync("events", TestShop.EventColumns, ["id"]);

    public async ValueTask DisposeAsync()
    {
        try
        {
            await ExecuteAsync($"SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = '{SlotName}' AND active_pid IS NOT NULL");
            await Task.Delay(100);
            await ExecuteAsync($"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '{SlotName}'");
        }
        catch (PostgresException)
        {
        }

        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
