namespace Freshet.DataPlane.Destinations;

/// <summary>The wait a warehouse's HTTP API asks for with a 429 or 503 (Snowflake's SQL API and BigQuery's REST API both send it).</summary>
internal static class RetryAfter
{
    /// <summary>The <c>Retry-After</c> header as a delay (a date in the past is no wait); null when the answer has none.</summary>
    public static TimeSpan? Of(HttpResponseMessage response, TimeProvider time)
    {
        var header = response.Headers.RetryAfter;
        if (header?.Delta is { } delta)
        {
            return delta;
        }

        if (header?.Date is { } date)
        {
            var wait = date - time.GetUtcNow();
            return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
        }

        return null;
    }
}
