namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>Where the BigQuery APIs are and how hard to try.</summary>
public sealed record BigQueryClientOptions : IWarehouseRetryOptions
{
    public static readonly Uri DefaultRestEndpoint = new("https://bigquery.googleapis.com/");
    public static readonly Uri DefaultStorageEndpoint = new("https://bigquerystorage.googleapis.com/");

    /// <summary>The project that runs queries and owns the datasets.</summary>
    public required string ProjectId { get; init; }

    /// <summary>Root of the REST API (an emulator in tests).</summary>
    public Uri RestEndpoint { get; init; } = DefaultRestEndpoint;

    /// <summary>The Storage Write gRPC endpoint (an emulator in tests: plain HTTP/2).</summary>
    public Uri StorageEndpoint { get; init; } = DefaultStorageEndpoint;

    /// <summary>The datasets' location (e.g. <c>US</c>, <c>europe-west3</c>), passed to jobs; null lets BigQuery infer it.</summary>
    public string? Location { get; init; }

    /// <summary>Retries of one call after transient failures; 0: none.</summary>
    public int MaxRetryAttempts { get; init; } = 6;

    /// <summary>First backoff when the service names no delay; doubles with jitter up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Calls (within 30 s, nearly all failing transiently) that open the breaker.</summary>
    public int CircuitBreakerMinimumThroughput { get; init; } = 10;

    public TimeSpan CircuitBreakDuration { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Largest AppendRowsRequest the writer builds. The service refuses requests of 10 MB or more (storage.proto); the
    /// default leaves room for the schema and framing.
    /// </summary>
    public int MaxAppendRequestBytes { get; init; } = 9 * 1000 * 1000;

    /// <summary>How long jobs.query and getQueryResults wait on the service before answering jobComplete=false.</summary>
    public TimeSpan QueryWait { get; init; } = TimeSpan.FromSeconds(10);

    public string UserAgent { get; init; } = "Freshet/1.0";
}
