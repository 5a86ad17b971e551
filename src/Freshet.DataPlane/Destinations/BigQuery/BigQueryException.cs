namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>
/// A failure BigQuery reported (REST status and reason, or a gRPC status of the Storage Write API), or a transport failure
/// on the way to it, with whether trying again can succeed and how long the service asked to wait.
/// </summary>
public class BigQueryException : Exception, IWarehouseFailure
{
    public BigQueryException(string message, int httpStatus, string? reason, bool isRetryable, TimeSpan? retryAfter = null, Exception? inner = null)
        : base(message, inner)
    {
        HttpStatus = httpStatus;
        Reason = reason;
        IsRetryable = isRetryable;
        RetryAfter = retryAfter;
    }

    /// <summary>HTTP status of a REST answer; for Storage Write failures the HTTP equivalent of the gRPC status; 0 when none arrived.</summary>
    public int HttpStatus { get; }

    /// <summary>BigQuery's error reason (e.g. <c>notFound</c>, <c>rateLimitExceeded</c>) or the gRPC status name.</summary>
    public string? Reason { get; }

    public bool IsRetryable { get; }

    /// <summary>The delay the service asked for (Retry-After, or google.rpc.RetryInfo on gRPC).</summary>
    public TimeSpan? RetryAfter { get; }
}

/// <summary>
/// The Storage Write API refused some rows of a request because they do not fit the table; none of that request's
/// rows were written. <see cref="Rows"/> gives the positions (in the caller's list) and BigQuery's messages.
/// </summary>
public sealed class BigQueryRowErrorsException(string table, IReadOnlyList<(int Row, string Message)> rows)
    : BigQueryException($"BigQuery refused {rows.Count} row(s) of {table} (first: row {rows[0].Row}: {rows[0].Message}).", 400, "invalid", isRetryable: false)
{
    public string Table { get; } = table;

    public IReadOnlyList<(int Row, string Message)> Rows { get; } = rows;
}
