using System.Globalization;
using Freshet.DataPlane.Destinations.DuckDb;
using Npgsql;

namespace Freshet.Testing.Pool;

/// <summary>
/// Steady changes to several source tables (inserts, updates of earlier rows, deletes), one small transaction per table
/// per tick, until stopped. Every committed change must reach the destination exactly once.
/// </summary>
public sealed class SourceLoad : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _task;
    private long _transactions;

    private SourceLoad(string connectionString, IReadOnlyList<string> tables, TimeSpan tick)
    {
        _task = Task.Run(() => RunAsync(connectionString, tables, tick, _stop.Token));
    }

    /// <summary>Source transactions committed so far.</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    public static SourceLoad Start(string connectionString, IReadOnlyList<string> tables, TimeSpan tick) => new(connectionString, tables, tick);

    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _task;
        }
        catch (OperationCanceledException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
    }

    /// <summary>
    /// Compares a source table with its DuckDB destination: rows missing from the destination, rows it has that the
    /// source does not (or in several copies), and rows whose values differ.
    /// </summary>
    public static async Task<TableComparison> CompareAsync(string sourceConnectionString, string table, string duckDbFile)
    {
        var source = new Dictionary<long, (string V, int N)>();
        await using (var connection = new NpgsqlConnection(sourceConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand($"SELECT id, v, n FROM \"{table}\"", connection);
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                source[reader.GetInt64(0)] = (reader.GetString(1), reader.GetInt32(2));
            }
        }

        var destination = new List<(long Id, string V, int N)>();
        await using (var connection = await DuckDbFile.OpenReadOnlyAsync(duckDbFile, TimeSpan.FromSeconds(30), CancellationToken.None))
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT id, v, n FROM \"{table}\"";
            await using var reader = await command.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                destination.Add((reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2)));
            }
        }

        return Compare(table, source.Select(p => (p.Key, p.Value.V, p.Value.N)).ToList(), destination);
    }

    private static async Task<List<(long Id, string V, int N)>> ReadPostgresAsync(string connectionString, string sql)
    {
        var rows = new List<(long Id, string V, int N)>();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows.Add((reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2)));
        }

        return rows;
    }

    private static TableComparison Compare(string table, List<(long Id, string V, int N)> sourceRows, List<(long Id, string V, int N)> destination)
    {
        var source = sourceRows.ToDictionary(r => r.Id, r => (r.V, r.N));
        var duplicated = destination.Count - destination.Select(r => r.Id).Distinct().Count();
        var byId = destination.GroupBy(r => r.Id).ToDictionary(g => g.Key, g => g.First());
        var missing = source.Keys.Count(id => !byId.ContainsKey(id));
        var extra = byId.Keys.Count(id => !source.ContainsKey(id));
        var differing = source.Count(s => byId.TryGetValue(s.Key, out var d) && (d.V, d.N) != s.Value);
        return new TableComparison(table, source.Count, destination.Count, missing, extra, duplicated, differing);
    }

    /// <summary>Compares a source table with its PostgreSQL destination (schema <c>freshet</c>).</summary>
    public static async Task<TableComparison> CompareWithPostgresAsync(string sourceConnectionString, string destinationConnectionString, string table)
    {
        var source = await ReadPostgresAsync(sourceConnectionString, $"SELECT id, v, n FROM \"{table}\"");
        var destination = await ReadPostgresAsync(destinationConnectionString, $"SELECT id, v, n FROM freshet.\"{table}\"");
        return Compare(table, source, destination);
    }

    /// <summary>Waits until a PostgreSQL destination equals the source, or gives the last comparison.</summary>
    public static async Task<TableComparison> WaitForEqualInPostgresAsync(string sourceConnectionString, string destinationConnectionString, string table, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        TableComparison? last = null;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                last = await CompareWithPostgresAsync(sourceConnectionString, destinationConnectionString, table);
                if (last.Equal)
                {
                    return last;
                }
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
            {
            }

            await Task.Delay(500);
        }

        return last ?? new TableComparison(table, -1, -1, -1, -1, -1, -1);
    }

    /// <summary>Waits until the destination equals the source (it keeps catching up after the load stopped), or gives the last comparison.</summary>
    public static async Task<TableComparison> WaitForEqualAsync(string sourceConnectionString, string table, Func<string?> duckDbFile, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        TableComparison? last = null;
        while (DateTime.UtcNow < deadline)
        {
            if (duckDbFile() is { } file && File.Exists(file))
            {
                try
                {
                    last = await CompareAsync(sourceConnectionString, table, file);
                    if (last.Equal)
                    {
                        return last;
                    }
                }
                catch (Exception e) when (e is DuckDB.NET.Data.DuckDBException or TimeoutException)
                {
                    // The target table may not exist yet, or the writer kept the file a while.
                }
            }

            await Task.Delay(500);
        }

        return last ?? new TableComparison(table, -1, -1, -1, -1, -1, -1);
    }

    private async Task RunAsync(string connectionString, IReadOnlyList<string> tables, TimeSpan tick, CancellationToken cancellationToken)
    {
        var random = new Random(4711);
        var next = new long[tables.Count];
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        while (!cancellationToken.IsCancellationRequested)
        {
            for (var t = 0; t < tables.Count; t++)
            {
                var table = tables[t];
                var id = ++next[t];
                var sql = $"INSERT INTO \"{table}\" (id, v) VALUES ({id}, 'row {id}')";
                if (id > 10 && random.Next(3) == 0)
                {
                    sql += $"; UPDATE \"{table}\" SET n = n + 1, v = 'updated {id}' WHERE id = {random.NextInt64(1, id).ToString(CultureInfo.InvariantCulture)}";
                }

                if (id > 10 && random.Next(10) == 0)
                {
                    sql += $"; DELETE FROM \"{table}\" WHERE id = {random.NextInt64(1, id).ToString(CultureInfo.InvariantCulture)}";
                }

                await using var command = new NpgsqlCommand("BEGIN; " + sql + "; COMMIT;", connection);
                await command.ExecuteNonQueryAsync(cancellationToken);
                Interlocked.Increment(ref _transactions);
            }

            await Task.Delay(tick, cancellationToken);
        }
    }
}

/// <summary>How a destination table compares with its source.</summary>
public sealed record TableComparison(string Table, int SourceRows, int DestinationRows, int Missing, int Extra, int Duplicated, int Differing)
{
    public bool Equal => SourceRows >= 0 && Missing == 0 && Extra == 0 && Duplicated == 0 && Differing == 0;
}
