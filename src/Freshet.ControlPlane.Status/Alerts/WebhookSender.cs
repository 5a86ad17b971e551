using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Freshet.Contracts;
using Freshet.ServiceDefaults;
using Polly;
using Polly.Retry;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>How one delivery attempt went.</summary>
/// <param name="Attempt">1 for the first.</param>
/// <param name="At">When it started.</param>
/// <param name="StatusCode">The receiver's status, when it answered.</param>
/// <param name="Error">Why it failed; null when it was delivered (2xx).</param>
/// <param name="Duration">How long it took.</param>
/// <param name="Retryable">Worth trying again (connection error, timeout, 408, 429, 5xx).</param>
/// <param name="RetryAfter">The receiver's <c>Retry-After</c>, when it sent one.</param>
internal sealed record WebhookAttempt(int Attempt, DateTimeOffset At, int? StatusCode, string? Error, TimeSpan Duration, bool Retryable, TimeSpan? RetryAfter)
{
    public bool Delivered => Error is null;
}

/// <summary>
/// Posts signed notifications the way Standard Webhooks (standardwebhooks.com) specifies, so receivers can verify them
/// with its libraries: headers <c>webhook-id</c> (the same on every retry), <c>webhook-timestamp</c> (Unix seconds;
/// receivers reject old ones, which defeats replay) and <c>webhook-signature</c> = <c>v1,</c> + base64 of
/// HMAC-SHA256 over <c>{id}.{timestamp}.{body}</c>, keyed with the rule's secret (the bytes after <c>whsec_</c>).
/// Retries follow <see cref="AlertOptions"/> with Polly (exponential with jitter, honouring <c>Retry-After</c>).
/// </summary>
internal sealed class WebhookSender : IDisposable
{
    // A receiver's Retry-After beyond this is not waited for in one delivery: the attempt counts as failed.
    private static readonly TimeSpan MaxRetryAfter = TimeSpan.FromMinutes(2);

    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly AlertOptions _options;

    public WebhookSender(AlertOptions options, TimeProvider time)
    {
        _options = options;
        _time = time;
        var handler = new SocketsHttpHandler
        {
            // A redirect would let a public address send the request on to an internal one; receivers answer 2xx.
            AllowAutoRedirect = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            ConnectCallback = ConnectAsync,
        };
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.ParseAdd("Freshet-Webhooks/1.0");
    }

    /// <summary>Signs <paramref name="body"/> as Standard Webhooks does: <c>v1,</c> + base64(HMAC-SHA256(secret, id.timestamp.body)).</summary>
    public static string Sign(string secret, string id, long timestamp, string body)
    {
        var key = Convert.FromBase64String(secret.StartsWith(AlertSigningSecrets.Prefix, StringComparison.Ordinal) ? secret[AlertSigningSecrets.Prefix.Length..] : secret);
        var signed = Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{id}.{timestamp}.{body}"));
        return "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, signed));
    }

    /// <summary>
    /// Delivers <paramref name="body"/>, retrying as configured (<paramref name="retry"/> false: one attempt, as a test
    /// send). <paramref name="onAttempt"/> sees every attempt as it ends, so each is recorded even if the process dies later.
    /// </summary>
    public async Task<WebhookAttempt> DeliverAsync(
        Uri url, string secret, Guid id, string body, bool retry, Func<WebhookAttempt, Task> onAttempt, CancellationToken cancellationToken)
    {
        var attempt = 0;
        var pipeline = retry && _options.Retries > 0 ? RetryPipeline() : ResiliencePipeline<WebhookAttempt>.Empty;
        return await pipeline.ExecuteAsync(
            async token =>
            {
                var result = await PostOnceAsync(url, secret, id, body, ++attempt, token).ConfigureAwait(false);
                await onAttempt(result).ConfigureAwait(false);
                return result;
            },
            cancellationToken).ConfigureAwait(false);
    }

    private ResiliencePipeline<WebhookAttempt> RetryPipeline() =>
        new ResiliencePipelineBuilder<WebhookAttempt> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<WebhookAttempt>
            {
                MaxRetryAttempts = _options.Retries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = _options.RetryDelay,
                MaxDelay = TimeSpan.FromMinutes(5),
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Result is { Delivered: false, Retryable: true }),
                DelayGenerator = args => ValueTask.FromResult(args.Outcome.Result?.RetryAfter),
            })
            .Build();

    private async Task<WebhookAttempt> PostOnceAsync(Uri url, string secret, Guid id, string body, int attempt, CancellationToken cancellationToken)
    {
        var at = _time.GetUtcNow();
        var started = Stopwatch.GetTimestamp();
        var timestamp = at.ToUnixTimeSeconds();
        var idText = id.ToString();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.Add("webhook-id", idText);
        request.Headers.Add("webhook-timestamp", timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add("webhook-signature", Sign(secret, idText, timestamp, body));
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(_options.AttemptTimeout);
        try
        {
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (response.IsSuccessStatusCode)
            {
                return new WebhookAttempt(attempt, at, status, null, elapsed, false, null);
            }

            var retryable = status is 408 or 429 || status >= 500;
            var retryAfter = RetryAfter(response);
            if (retryAfter > MaxRetryAfter)
            {
                retryAfter = null;
                retryable = false;
            }

            return new WebhookAttempt(attempt, at, status, $"The receiver answered {status} {response.ReasonPhrase}.", elapsed, retryable, retryAfter);
        }
        catch (HttpRequestException e) when (e.InnerException is WebhookTargetRefusedException refused)
        {
            return new WebhookAttempt(attempt, at, null, refused.Message, Stopwatch.GetElapsedTime(started), false, null);
        }
        catch (HttpRequestException e)
        {
            return new WebhookAttempt(attempt, at, null, $"Could not reach the receiver: {e.Message}", Stopwatch.GetElapsedTime(started), true, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return new WebhookAttempt(attempt, at, null, $"The receiver did not answer within {_options.AttemptTimeout.TotalSeconds:0.#} s.", Stopwatch.GetElapsedTime(started), true, null);
        }
    }

    private TimeSpan? RetryAfter(HttpResponseMessage response) =>
        response.Headers.RetryAfter switch
        {
            { Delta: { } delta } => delta,
            { Date: { } date } => date - _time.GetUtcNow() is var wait && wait > TimeSpan.Zero ? wait : TimeSpan.Zero,
            _ => null,
        };

    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false);
        // Checked on the addresses actually connected to, so a name that resolves differently later cannot slip past.
        if (!_options.AllowPrivateNetworks && addresses.FirstOrDefault(InternalAddresses.IsInternal) is { } internalAddress)
        {
            throw new WebhookTargetRefusedException(
                $"{host} resolves to {internalAddress}, an internal address that webhooks may not reach on this installation. Use a public address, or ask the operator about private networking.");
        }

        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>The webhook's address is one the installation does not let tenants reach.</summary>
internal sealed class WebhookTargetRefusedException(string message) : Exception(message);
