using System.Globalization;
using Freshet.DataPlane.Destinations.DuckDb;

namespace Freshet.DataPlane.Worker;

/// <summary>Runs one read-only query against a DuckDB file (waiting politely for a writing pipeline) and prints tab-separated rows.</summary>
internal static class DuckDbQuery
{
    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length != 2)
        {
            throw new ArgumentException("duckdb-query needs FILE and SQL.");
        }

        var path = Path.GetFullPath(args[0]);
        if (!File.Exists(path))
        {
            await Console.Error.WriteLineAsync($"duckdb-query: no DuckDB file at {path}");
            return 1;
        }

        try
        {
            return await QueryAsync(path, args[1]);
        }
        catch (DuckDB.NET.Data.DuckDBException e)
        {
            // The operator's typo or a file that is not DuckDB's: DuckDB's message says which, a stack trace would not.
            await Console.Error.WriteLineAsync($"duckdb-query: {e.Message}");
            return 1;
        }
    }

    private static async Task<int> QueryAsync(string path, string sql)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
#pragma warning disable CA2100 // running the operator's own query is the purpose of this read-only command
        command.CommandText = sql;
#pragma warning restore CA2100
        await using var reader = await command.ExecuteReaderAsync();
        Console.WriteLine(string.Join('\t', Enumerable.Range(0, reader.FieldCount).Select(reader.GetName)));
        while (await reader.ReadAsync())
        {
            Console.WriteLine(string.Join('\t', Enumerable.Range(0, reader.FieldCount)
                .Select(i => reader.IsDBNull(i) ? "NULL" : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture))));
        }

        return 0;
    }
}
