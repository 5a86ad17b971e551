using Freshet.DataPlane.Schema;
using Npgsql;

namespace Freshet.DataPlane.Destinations.Postgres;

internal static class Sql
{
    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    /// <summary>The expression that turns a staged value into the target column's type.</summary>
    public static string Value(string expression, TargetColumn column) =>
        column.NeedsCast ? $"CAST({expression} AS {column.TargetType})" : expression;

    /// <summary>Creates a command; every caller builds its text from quoted identifiers and catalog type names only.</summary>
    public static NpgsqlCommand Command(string text, NpgsqlConnection connection, NpgsqlTransaction? transaction, params object?[] parameters)
    {
#pragma warning disable CA2100 // Identifiers are quoted with Quote and types come from the catalog or PostgresTypes; every value is a parameter.
        var command = new NpgsqlCommand(text, connection, transaction);
#pragma warning restore CA2100
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter ?? DBNull.Value });
        }

        return command;
    }

    /// <summary>Statements sent in one round trip; same rules for their text as <see cref="Command"/>.</summary>
    public static NpgsqlBatch Batch(NpgsqlConnection connection, NpgsqlTransaction? transaction, IEnumerable<(string Text, object?[] Parameters)> statements)
    {
        var batch = new NpgsqlBatch(connection, transaction);
        foreach (var (text, parameters) in statements)
        {
#pragma warning disable CA2100 // As in Command: quoted identifiers and catalog type names only; values are parameters.
            var command = new NpgsqlBatchCommand(text);
#pragma warning restore CA2100
            foreach (var parameter in parameters)
            {
                command.Parameters.Add(new NpgsqlParameter { Value = parameter ?? DBNull.Value });
            }

            batch.BatchCommands.Add(command);
        }

        return batch;
    }

    /// <summary>"schema.table", the form checkpoint state stores table names in.</summary>
    public static string Name(TableId table) => $"{table.Schema}.{table.Name}";

    public static TableId ParseName(string name)
    {
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? new TableId("", name) : new TableId(name[..dot], name[(dot + 1)..]);
    }
}
