using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Tests.Sources.MySql;
using Freshet.Testing;
using MySqlConnector;

namespace Freshet.DataPlane.Tests.Support;

/// <summary>
/// A MariaDB source database (with the replication user a pipeline needs) and a DuckDB destination (or a PostgreSQL
/// one: a database of its own on the shared test server, schema <c>analytics</c>), two tables — one
/// keyed by a single column, one by two — and a random workload of inserts, updates (key changes among them), deletes
/// and rolled-back transactions.
/// </summary>
internal sealed class MariaDbShop : IAsyncDisposable
{
    public static readonly string[] ItemColumns = ["id", "name", "qty", "big", "price", "ratio", "day", "at", "at_tz", "flag", "state", "doc", "blob_data", "note"];

    public static readonly string[] LineColumns = ["order_id", "line", "sku", "amount"];

    /// <summary>Columns of a PostgreSQL destination read as text for the comparison (JSON as the source wrote it).</summary>
    private static readonly HashSet<string> PostgresAsText = ["doc"];

    private readonly string _folder;
    private int _nextItem;

    private MariaDbShop(MariaDbSource source, string folder, PostgresServer? postgres, string? postgresDatabase)
    {
        Source = source;
        _folder = folder;
        DuckDbPath = Path.Combine(folder, "destination.duckdb");
        _postgres = postgres;
        _postgresDatabase = postgresDatabase;
    }

    private readonly PostgresServer? _postgres;
    private readonly string? _postgresDatabase;

    public MariaDbSource Source { get; }

    /// <summary>Where the pipeline writes.</summary>
    public Target Target => _postgres is null ? Target.DuckDb : Target.Postgres;

    /// <summary>The PostgreSQL destination database (Target Postgres only).</summary>
    public string PostgresConnectionString => _postgres!.ConnectionString(_postgresDatabase!);

    public Guid PipelineId { get; } = Guid.NewGuid();

    public string DuckDbPath { get; }

    public string ConnectionString => Source.Server.ConnectionString(Source.Database);

    /// <summary>A shop on the shared server started with <paramref name="options"/> (TLS required, compressed binlog).</summary>
    public static async Task<MariaDbShop> CreateAsync(string prefix, MariaDbServerOptions options, Target target = Target.DuckDb) =>
        await CreateAsync(prefix, await MariaDbServer.SharedAsync(options), target);

    public static async Task<MariaDbShop> CreateAsync(string prefix, MariaDbServer? server = null, Target target = Target.DuckDb)
    {
        var source = await MariaDbSource.CreateAsync(prefix, server);
        await source.ExecuteAsync(
            """
            CREATE TABLE items (
                id BIGINT PRIMARY KEY, name VARCHAR(64) NOT NULL, qty INT, big BIGINT UNSIGNED, price DECIMAL(12,2), ratio DOUBLE,
                day DATE, at DATETIME(6), at_tz TIMESTAMP(6) NULL, flag TINYINT, state ENUM('new','paid','shipped'), doc JSON,
                blob_data VARBINARY(32), note TEXT)
            """,
            "CREATE TABLE order_lines (order_id INT NOT NULL, line SMALLINT NOT NULL, sku VARCHAR(20) NOT NULL, amount DECIMAL(10,3), PRIMARY KEY (order_id, line))");
        var folder = Path.Combine(PostgresServer.Root, "pipelines", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        if (target == Target.Postgres)
        {
            var postgres = await PostgresServer.SharedAsync();
            return new MariaDbShop(source, folder, postgres, await postgres.CreateDatabaseAsync(prefix + "_dst"));
        }

        return new MariaDbShop(source, folder, null, null);
    }

    /// <summary>The pipeline; on a server that requires TLS, the source verifies its certificate (verify_identity, ssl_ca).</summary>
    public PipelineSpec Spec(DeliverySpec? delivery = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["host"] = Source.Endpoint.Host,
            ["port"] = Source.Endpoint.Port.ToString(CultureInfo.InvariantCulture),
            ["database"] = Source.Database,
            ["username"] = Source.Endpoint.User,
            ["ssl_mode"] = "disabled",
        };
        if (Source.Server.Options.RequireTls)
        {
            settings["ssl_mode"] = "verify_identity";
            settings["ssl_ca"] = Source.Server.CaCertificatePem!;
        }

        return new(PipelineId, Guid.NewGuid(), "mariadb test pipeline", 1, 1,
            new EndpointSpec(ConnectionType.Mysql, settings, new Dictionary<string, string> { ["password"] = Source.Endpoint.Password }),
            _postgres is null
                ? new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string> { ["path"] = DuckDbPath }, new Dictionary<string, string>())
                : new EndpointSpec(ConnectionType.Postgres, new Dictionary<string, string>
                {
                    ["host"] = "127.0.0.1",
                    ["port"] = _postgres.Port.ToString(CultureInfo.InvariantCulture),
                    ["database"] = _postgresDatabase!,
                    ["username"] = "postgres",
                    ["ssl_mode"] = "disable",
                    ["schema"] = "analytics",
                }, new Dictionary<string, string>()),
            [new TableSpec(Source.Database, "items"), new TableSpec(Source.Database, "order_lines")],
            DeleteMode.Hard, SchemaChangePolicy.Propagate, delivery ?? new DeliverySpec(MaxBatchDelayMilliseconds: 100, SnapshotChunkRows: 500));
    }

    public async Task<string> WriteSpecAsync(PipelineSpec spec)
    {
        var path = Path.Combine(_folder, "pipeline.json");
        await Freshet.DataPlane.Runtime.SpecFileFeed.WriteAsync(path, spec, CancellationToken.None);
        return path;
    }

    /// <summary>Inserts <paramref name="items"/> items and <paramref name="lines"/> order lines in batches.</summary>
    public async Task LoadAsync(int items, int lines, int seed)
    {
        var random = new Random(seed);
        await using var connection = await OpenAsync();
        for (var start = 0; start < items; start += 500)
        {
            var values = Enumerable.Range(start, Math.Min(500, items - start)).Select(_ => ItemValues(random, ++_nextItem));
            await ExecuteAsync(connection, $"INSERT INTO items VALUES {string.Join(", ", values)}");
        }

        for (var start = 0; start < lines; start += 500)
        {
            var values = Enumerable.Range(start, Math.Min(500, lines - start)).Select(i => $"({i / 4}, {i % 4}, 'sku-{random.Next(1000)}', {random.Next(100000)}.{random.Next(1000):000})");
            await ExecuteAsync(connection, $"INSERT IGNORE INTO order_lines (order_id, line, sku, amount) VALUES {string.Join(", ", values)}");
        }
    }

    /// <summary>Random transactions until cancelled; returns how many committed.</summary>
    public async Task<int> RunUntilAsync(int seed, CancellationToken stop, int? transactions = null)
    {
        var random = new Random(seed);
        var committed = 0;
        await using var connection = await OpenAsync();
        for (var n = 0; !stop.IsCancellationRequested && (transactions is null || n < transactions); n++)
        {
            await ExecuteAsync(connection, "START TRANSACTION");
            for (var statement = random.Next(1, 6); statement > 0; statement--)
            {
                var id = random.Next(1, Math.Max(2, _nextItem + 1));
                var sql = random.Next(10) switch
                {
                    0 or 1 or 2 => $"INSERT INTO items VALUES {ItemValues(random, ++_nextItem)}",
                    3 or 4 => $"UPDATE items SET qty = qty + 1, name = 'renamed {random.Next()}', note = {(random.Next(3) == 0 ? "NULL" : "'n ✓'")}, price = {random.Next(-99999, 99999)}.{random.Next(100):00} WHERE id = {id}",
                    5 => $"DELETE FROM items WHERE id = {id}",
                    // A key change: the destination must drop the old key.
                    6 => $"UPDATE items SET id = {++_nextItem + 1_000_000} WHERE id = {id}",
                    7 => $"UPDATE items SET at = NOW(6), at_tz = NOW(6), day = CURDATE(), flag = {random.Next(-128, 128)} WHERE id BETWEEN {id} AND {id + 20}",
                    8 => $"INSERT INTO order_lines (order_id, line, sku, amount) VALUES ({random.Next(2000)}, {random.Next(8)}, 'sku-{random.Next(1000)}', {random.Next(1000)}.5) "
                        + "ON DUPLICATE KEY UPDATE amount = amount + 1, sku = CONCAT(sku, '+')",
                    _ => $"DELETE FROM order_lines WHERE order_id = {random.Next(2000)} AND line < {random.Next(4)}",
                };
                await ExecuteAsync(connection, sql);
            }

            if (random.Next(10) == 0)
            {
                await ExecuteAsync(connection, "ROLLBACK");
            }
            else
            {
                await ExecuteAsync(connection, "COMMIT");
                committed++;
            }
        }

        return committed;
    }

    /// <summary>Every difference between the source tables and the destination; empty when equal.</summary>
    public async Task<string> DifferencesAsync()
    {
        var items = await TableContents.FromMariaDbAsync(ConnectionString, "items", ItemColumns, ["id"]);
        var lines = await TableContents.FromMariaDbAsync(ConnectionString, "order_lines", LineColumns, ["order_id", "line"]);
        if (_postgres is not null)
        {
            try
            {
                return (await TableContents.FromPostgresAsync(PostgresConnectionString, "analytics.items", ItemColumns, ["id"], PostgresAsText)).DifferencesFrom(items)
                    + (await TableContents.FromPostgresAsync(PostgresConnectionString, "analytics.order_lines", LineColumns, ["order_id", "line"])).DifferencesFrom(lines);
            }
            catch (Npgsql.PostgresException e) when (e.SqlState is "42P01" or "3F000")
            {
                return e.MessageText;
            }
        }

        if (!File.Exists(DuckDbPath))
        {
            return "the DuckDB destination does not exist yet";
        }

        try
        {
            return (await TableContents.FromDuckDbAsync(DuckDbPath, "items", ItemColumns, ["id"])).DifferencesFrom(items)
                + (await TableContents.FromDuckDbAsync(DuckDbPath, "order_lines", LineColumns, ["order_id", "line"])).DifferencesFrom(lines);
        }
        catch (DuckDB.NET.Data.DuckDBException e) when (e.Message.Contains("does not exist", StringComparison.Ordinal))
        {
            return e.Message;
        }
    }

    /// <summary>Waits until the destination equals the source (the source no longer changing); the last differences otherwise.</summary>
    public async Task<string> WaitForEqualAsync(TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var differences = await DifferencesAsync();
        while (differences.Length > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(500);
            differences = await DifferencesAsync();
        }

        return differences;
    }

    public ValueTask DisposeAsync()
    {
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }

        return ValueTask.CompletedTask;
    }

    private static string ItemValues(Random random, int id)
    {
        var states = new[] { "'new'", "'paid'", "'shipped'", "NULL" };
        return string.Create(CultureInfo.InvariantCulture,
            $"({id}, 'item {id} ü', {random.Next(-1000, 1000)}, {(ulong)random.NextInt64() * 2 + 1}, {random.Next(-99999, 99999)}.{random.Next(100):00}, {random.NextDouble() * 1000:R}, "
            + $"'20{random.Next(10, 30)}-0{random.Next(1, 10)}-1{random.Next(0, 10)}', '2026-12-0{random.Next(1, 10)} 1{random.Next(0, 10)}:2{random.Next(0, 10)}:00.{random.Next(1_000_000):000000}', "
            + $"{(random.Next(5) == 0 ? "NULL" : "'2001-02-03 04:05:06.000007'")}, {random.Next(-128, 128)}, {states[random.Next(4)]}, "
            + $"{(random.Next(4) == 0 ? "NULL" : $"'{{\"k\": {random.Next(100)}}}'")}, {(random.Next(3) == 0 ? "NULL" : $"0x{random.Next():X8}00")}, {(random.Next(2) == 0 ? "NULL" : "'note'")})");
    }

    private async Task<MySqlConnection> OpenAsync()
    {
        var connection = new MySqlConnection(ConnectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task ExecuteAsync(MySqlConnection connection, string sql)
    {
        await using var command = new MySqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
