using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>Where the BigQuery APIs are and how hard to try.</summary>
public sealed record BigQueryClientOptions
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

/// <summary>The retry and breaker pipeline shared by the REST and Storage Write clients.</summary>
internal static partial class BigQueryResilience
{
    public static ResiliencePipeline Build(BigQueryClientOptions options, TimeProvider time, ILogger logger)
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
        if (options.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<BigQueryException>(e => e.IsRetryable),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                MaxRetryAttempts = options.MaxRetryAttempts,
                // The service's delay (Retry-After, RetryInfo) wins over our backoff.
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Exception is BigQueryException { RetryAfter: { } after } ? after : (TimeSpan?)null),
                OnRetry = args =>
                {
                    LogRetry(logger, args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception?.Message ?? "");
                    return ValueTask.CompletedTask;
                },
            });
        }
        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<BigQueryException>(e => e.IsRetryable),
                FailureRatio = 0.9,
                MinimumThroughput = options.CircuitBreakerMinimumThroughput,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = options.CircuitBreakDuration,
            })
            .Build();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "BigQuery call retried (attempt {Attempt}, after {Delay}): {Reason}")]
    private static partial void LogRetry(ILogger logger, int attempt, TimeSpan delay, string reason);
}
