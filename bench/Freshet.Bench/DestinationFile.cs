using System.Globalization;
using System.Numerics;
using Freshet.DataPlane.Destinations.DuckDb;

namespace Freshet.Bench;

/// <summary>Reads a DuckDB destination file after the worker wrote it.</summary>
internal static class DestinationFile
{
    /// <summary>One row of a query of numbers (see <see cref="Seconds"/> for timestamps), NaN for NULL.</summary>
    public static async Task<double[]> RowAsync(string path, string sql, CancellationToken cancellationToken)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(60), cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        if (!await reader.ReadAsync(cancellationToken))
        {
            throw new BenchException($"no row from the destination: {sql}");
        }

        var values = new double[reader.FieldCount];
        for (var i = 0; i < values.Length; i++)
        {
            values[i] = reader.IsDBNull(i) ? double.NaN : reader.GetValue(i) switch
            {
                BigInteger huge => (double)huge, // DuckDB's HUGEINT, e.g. sum() of BIGINT
                var value => Convert.ToDouble(value, CultureInfo.InvariantCulture),
            };
        }

        return values;
    }

    /// <summary>A DuckDB expression for a timestamp column as seconds since the Unix epoch (double).</summary>
    public static string Seconds(string column) => $"(epoch_us({column}) / 1000000.0)";

    /// <summary>Deletes a DuckDB file with its write-ahead log.</summary>
    public static void Delete(string path)
    {
        File.Delete(path);
        File.Delete(path + ".wal");
    }
}
