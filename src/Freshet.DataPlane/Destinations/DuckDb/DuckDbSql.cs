using System.Data.Common;
using DuckDB.NET.Data;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>Running SQL on a DuckDB connection: identifiers quoted by <see cref="Quote"/>, values always as parameters.</summary>
internal static class DuckDbSql
{
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public static Task<int> ExecuteAsync(DuckDBConnection connection, string sql, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, sql, [], cancellationToken);

    public static async Task<int> ExecuteAsync(DuckDBConnection connection, string sql, object?[] parameters, CancellationToken cancellationToken)
    {
        await using var command = Command(connection, sql, parameters);
        await using var interrupt = cancellationToken.Register(command.Cancel);
        try
        {
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (DuckDBException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    public static async Task<T> ReadAsync<T>(
        DuckDBConnection connection,
        string sql,
        object?[] parameters,
        Func<DbDataReader, T> read,
        CancellationToken cancellationToken)
    {
        await using var command = Command(connection, sql, parameters);
        await using var interrupt = cancellationToken.Register(command.Cancel);
        try
        {
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            return read(reader);
        }
        catch (DuckDBException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
    }

    private static DuckDBCommand Command(DuckDBConnection connection, string sql, object?[] parameters)
    {
        var command = connection.CreateCommand();
#pragma warning disable CA2100 // identifiers are quoted by Quote, type names come from DuckDbTypes or DuckDB's catalog, values are parameters
        command.CommandText = sql;
#pragma warning restore CA2100
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new DuckDBParameter(parameter ?? DBNull.Value));
        }

        return command;
    }
}
