using DuckDB.NET.Data;
using Npgsql;

namespace Freshet.DataPlane.Engine;

/// <summary>
/// Turns a failure into a reason fit for logs, reports and the quarantine record: what kind of error and which
/// constraint, column or table, never the message text of a data error, which can quote row values.
/// </summary>
internal static class FailureReason
{
    public static string Describe(Exception exception)
    {
        var cause = exception is Destinations.TableApplyException { InnerException: { } inner } ? inner : exception;
        return cause switch
        {
            PostgresException pg => Postgres(pg),
            DuckDBException duck => $"DuckDB {duck.ErrorType} error",
            // Snowflake's messages quote the value a cast refused, so only its code and SQL state are shown.
            Destinations.Snowflake.SnowflakeException snowflake when snowflake.SqlState is not null => Destinations.Snowflake.SnowflakeDestination.Describe(snowflake),
            // Row errors and query errors can quote the value BigQuery refused.
            Destinations.BigQuery.BigQueryException bigQuery => Destinations.BigQuery.BigQueryDestination.Describe(bigQuery),
            _ => cause.Message,
        };
    }

    private static string Postgres(PostgresException e)
    {
        var parts = new List<string> { $"PostgreSQL error {e.SqlState}" };
        // Integrity errors (class 23) name the constraint and relation but quote values only in Detail, which is left out.
        if (e.SqlState.StartsWith("23", StringComparison.Ordinal))
        {
            parts.Add(e.MessageText);
        }

        if (e.ConstraintName is { } constraint && !parts.Any(p => p.Contains(constraint, StringComparison.Ordinal)))
        {
            parts.Add($"constraint {constraint}");
        }

        if (e.ColumnName is { } column)
        {
            parts.Add($"column {column}");
        }

        if (e.DataTypeName is { } type)
        {
            parts.Add($"type {type}");
        }

        return string.Join(", ", parts);
    }
}
