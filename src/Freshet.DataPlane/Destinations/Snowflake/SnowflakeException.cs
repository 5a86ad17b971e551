namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// A failure the SQL API reported (or a transport failure on the way to it), with whether trying again can succeed.
/// </summary>
public sealed class SnowflakeException : Exception, IWarehouseFailure
{
    public SnowflakeException(string message, int httpStatus, string? code, string? sqlState, string? statementHandle, bool isRetryable,
        TimeSpan? retryAfter = null, Exception? inner = null)
        : base(message, inner)
    {
        HttpStatus = httpStatus;
        Code = code;
        SqlState = sqlState;
        StatementHandle = statementHandle;
        IsRetryable = isRetryable;
        RetryAfter = retryAfter;
    }

    /// <summary>HTTP status of the response (0 when none arrived).</summary>
    public int HttpStatus { get; }

    /// <summary>Snowflake's error code (e.g. <c>002003</c>), when the body had one.</summary>
    public string? Code { get; }

    public string? SqlState { get; }

    public string? StatementHandle { get; }

    public bool IsRetryable { get; }

    /// <summary>The delay the service asked for in Retry-After.</summary>
    public TimeSpan? RetryAfter { get; }
}

/// <summary>Which SQL API answers are worth retrying (with the same requestId) and which need a person.</summary>
internal static class SnowflakeErrors
{
    // 000603: internal error during execution (Snowflake asks to retry); 000625: too many statements waiting on one lock;
    // 390114/390111: authentication token or session expired (the client renews its token first).
    private static readonly HashSet<string> RetryableCodes = new(StringComparer.Ordinal) { "000603", "000625", "390114", "390111" };

    public static bool IsRetryable(int httpStatus, string? code) => httpStatus switch
    {
        429 or 500 or 502 or 503 or 504 => true,
        422 or 400 or 401 or 403 or 404 or 408 or 413 => code is not null && RetryableCodes.Contains(code),
        _ => false,
    };
}
