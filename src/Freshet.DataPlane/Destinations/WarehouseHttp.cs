using System.Net;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;
using Polly.Retry;

namespace Freshet.DataPlane.Destinations;

/// <summary>How hard a warehouse client tries (Snowflake's SQL API, BigQuery's REST and Storage Write APIs).</summary>
public interface IWarehouseRetryOptions
{
    /// <summary>Retries of one call after transient failures; 0: none.</summary>
    int MaxRetryAttempts { get; }

    /// <summary>First backoff when the service names no delay; doubles with jitter up to <see cref="MaxRetryDelay"/>.</summary>
    TimeSpan RetryDelay { get; }

    TimeSpan MaxRetryDelay { get; }

    /// <summary>Calls (within 30 s, nearly all failing transiently) that open the breaker.</summary>
    int CircuitBreakerMinimumThroughput { get; }

    TimeSpan CircuitBreakDuration { get; }
}

/// <summary>A warehouse service's failure, as the retry pipeline needs to see it.</summary>
public interface IWarehouseFailure
{
    /// <summary>Whether trying the same call again can succeed.</summary>
    bool IsRetryable { get; }

    /// <summary>The delay the service asked for (Retry-After, or google.rpc.RetryInfo on gRPC).</summary>
    TimeSpan? RetryAfter { get; }
}

/// <summary>What the warehouse clients share on the wire: their HttpClient, the Retry-After they honour, their retries and breaker.</summary>
public static partial class WarehouseHttp
{
    /// <summary>An HttpClient for a warehouse API: compressed answers decompressed, connections renewed now and then.</summary>
    public static HttpClient CreateClient(Uri endpoint) => new(new SocketsHttpHandler
    {
        AutomaticDecompression = DecompressionMethods.All,
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    })
    {
        BaseAddress = endpoint,
        Timeout = TimeSpan.FromMinutes(2),
    };

    /// <summary>The <c>Retry-After</c> header as a delay (a date in the past is no wait); null when the answer has none.</summary>
    internal static TimeSpan? RetryAfterOf(HttpResponseMessage response, TimeProvider time)
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

    /// <summary>
    /// Retries of retryable <typeparamref name="TFailure"/>s (exponential backoff with jitter, the service's own delay
    /// winning), then a breaker that stops calling a service that keeps failing.
    /// </summary>
    internal static ResiliencePipeline Resilience<TFailure>(IWarehouseRetryOptions options, string service, TimeProvider time, ILogger logger)
        where TFailure : Exception, IWarehouseFailure
    {
        var builder = new ResiliencePipelineBuilder { TimeProvider = time };
        if (options.MaxRetryAttempts > 0)
        {
            builder.AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<TFailure>(e => e.IsRetryable),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.RetryDelay,
                MaxDelay = options.MaxRetryDelay,
                MaxRetryAttempts = options.MaxRetryAttempts,
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Exception is TFailure { RetryAfter: { } after } ? after : (TimeSpan?)null),
                OnRetry = args =>
                {
                    LogRetry(logger, service, args.AttemptNumber + 1, args.RetryDelay, args.Outcome.Exception?.Message ?? "");
                    return ValueTask.CompletedTask;
                },
            });
        }

        return builder
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<TFailure>(e => e.IsRetryable),
                FailureRatio = 0.9,
                MinimumThroughput = options.CircuitBreakerMinimumThroughput,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = options.CircuitBreakDuration,
            })
            .Build();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Service} call retried (attempt {Attempt}, after {Delay}): {Reason}")]
    private static partial void LogRetry(ILogger logger, string service, int attempt, TimeSpan delay, string reason);
}
