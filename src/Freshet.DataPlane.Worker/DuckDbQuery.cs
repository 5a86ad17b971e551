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

        await using var connection = await DuckDbFile.OpenReadOnlyAsync(Path.GetFullPath(args[0]), TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
#pragma warning disable CA2100 // running the operator's own query is the purpose of this read-only command
        command.CommandText = args[1];
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
