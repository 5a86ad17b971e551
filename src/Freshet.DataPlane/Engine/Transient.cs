using System.Net.Sockets;
using Npgsql;

namespace Freshet.DataPlane.Engine;

/// <summary>Which failures are worth retrying in place, as opposed to restarting the run or stopping.</summary>
internal static class Transient
{
    public static bool IsTransient(Exception exception) => exception switch
    {
        Destinations.PipelineFencedException or Destinations.TableApplyException or OperationCanceledException => false,
        NpgsqlException npgsql => npgsql.IsTransient,
        // The Snowflake client has retried these already; what is left transient (a long outage) is worth a later try.
        Destinations.Snowflake.SnowflakeException snowflake => snowflake.IsRetryable,
        // Likewise the BigQuery clients (REST and Storage Write) have retried theirs.
        Destinations.BigQuery.BigQueryException bigQuery => bigQuery.IsRetryable,
        SocketException or IOException or TimeoutException => true,
        // DuckDB reports a file held by another process as an IO error mentioning the lock; running out of memory passes
        // once the destination raised its limit, or once other pipelines on the worker have finished a large write.
        DuckDB.NET.Data.DuckDBException duck => duck.Message.Contains("lock", StringComparison.OrdinalIgnoreCase)
            || Destinations.DuckDb.SharedDuckDbFile.IsOutOfMemory(duck),
        _ => false,
    };
}
