using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Serialization;
using Freshet.Contracts;

namespace Freshet.DataPlane.Runtime;

/// <summary>
/// <see cref="IWorkerControl"/> over the control plane's HTTPS API (<c>/v1/worker/…</c>), authenticated with OAuth2
/// client credentials of the worker pool. Each call is bounded by its own timeout (shorter than a heartbeat interval
/// for heartbeats); failures surface as exceptions, which the agent logs and retries. Nothing here logs: the token, the
/// client secret and the specs (secrets included) stay in memory.
/// </summary>
public sealed class ControlPlaneWorkerClient : IWorkerControl, IDisposable
{
    /// <summary>The API's JSON: snake_case properties and enum values, dictionary keys as they are.</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false) },
    };

    private static readonly TimeSpan HeartbeatTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);
    // A token is renewed this long before it expires, so no call goes out with one about to lapse.
    private static readonly TimeSpan TokenRenewalMargin = TimeSpan.FromSeconds(60);

    private readonly HttpClient _http;
    private readonly ControlPlaneClientOptions _options;
    private readonly TimeProvider _time;
    private readonly SemaphoreSlim _tokenLock = new(1, 1);
    private (string Value, DateTimeOffset RenewAt)? _token;

    /// <param name="http">A client whose lifetime the caller owns; its base address is set from the options when missing.</param>
    /// <param name="options">The control plane's URL and the worker pool's client credentials.</param>
    /// <param name="time">Clock for token expiry and call timeouts.</param>
    public ControlPlaneWorkerClient(HttpClient http, ControlPlaneClientOptions options, TimeProvider time)
    {
        _http = http;
        _options = options;
        _time = time;
        _http.BaseAddress ??= new Uri(options.Url!.TrimEnd('/') + "/");
    }

    public Task<WorkerLeaseGrant> RegisterAsync(WorkerRegistration registration, CancellationToken cancellationToken) =>
        SendAsync<WorkerLeaseGrant>(HttpMethod.Post, "v1/worker/register", registration, CallTimeout, cancellationToken)!;

    public Task<WorkerLeaseGrant> HeartbeatAsync(WorkerHeartbeat heartbeat, CancellationToken cancellationToken) =>
        SendAsync<WorkerLeaseGrant>(HttpMethod.Post, "v1/worker/heartbeat", heartbeat, HeartbeatTimeout, cancellationToken)!;

    public Task<WorkerAssignments> GetAssignmentsAsync(Guid workerId, CancellationToken cancellationToken) =>
        SendAsync<WorkerAssignments>(HttpMethod.Get, $"v1/worker/{workerId}/assignments", null, CallTimeout, cancellationToken)!;

    public Task<PipelineSpec?> GetSpecAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken) =>
        SendAsync<PipelineSpec>(HttpMethod.Get, $"v1/worker/{workerId}/pipelines/{pipelineId}/spec?epoch={epoch}", null, CallTimeout, cancellationToken, notFoundIsNull: true);

    public Task ReleaseAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken) =>
        SendAsync<object>(HttpMethod.Post, $"v1/worker/{workerId}/pipelines/{pipelineId}/release?epoch={epoch}", null, CallTimeout, cancellationToken);

    public Task ConfirmDroppedAsync(Guid workerId, Guid pipelineId, CancellationToken cancellationToken) =>
        SendAsync<object>(HttpMethod.Post, $"v1/worker/{workerId}/pipelines/{pipelineId}/dropped", null, CallTimeout, cancellationToken);

    public void Dispose() => _tokenLock.Dispose();

    private async Task<T?> SendAsync<T>(HttpMethod method, string path, object? body, TimeSpan timeout, CancellationToken cancellationToken, bool notFoundIsNull = false)
        where T : class
    {
        using var deadline = new CancellationTokenSource(timeout, _time);
        using var call = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        try
        {
            for (var attempt = 0; ; attempt++)
            {
                using var request = new HttpRequestMessage(method, path);
                if (body is not null)
                {
                    request.Content = JsonContent.Create(body, body.GetType(), options: Json);
                }

                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await TokenAsync(renew: attempt > 0, call.Token).ConfigureAwait(false));
                using var response = await _http.SendAsync(request, call.Token).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.Unauthorized && attempt == 0)
                {
                    // The token was revoked or the control plane's keys rolled: fetch a new one and try once more.
                    continue;
                }

                if (notFoundIsNull && response.StatusCode == HttpStatusCode.NotFound)
                {
                    return null;
                }

                if (!response.IsSuccessStatusCode)
                {
                    throw new HttpRequestException($"{method} /{Route(path)} answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);
                }

                if (typeof(T) == typeof(object) || response.StatusCode == HttpStatusCode.NoContent)
                {
                    return null;
                }

                return await response.Content.ReadFromJsonAsync<T>(Json, call.Token).ConfigureAwait(false)
                    ?? throw new HttpRequestException($"{method} /{Route(path)} answered with an empty body");
            }
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"{method} /{Route(path)} did not answer within {timeout.TotalSeconds:0.#} s");
        }
    }

    private async Task<string> TokenAsync(bool renew, CancellationToken cancellationToken)
    {
        await _tokenLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!renew && _token is { } cached && _time.GetUtcNow() < cached.RenewAt)
            {
                return cached.Value;
            }

            using var form = new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["grant_type"] = "client_credentials",
                ["client_id"] = _options.ClientId ?? "",
                ["client_secret"] = _options.ClientSecret ?? "",
            });
            using var response = await _http.PostAsync("connect/token", form, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                _token = null;
                throw new HttpRequestException($"POST /connect/token answered {(int)response.StatusCode} {response.ReasonPhrase} (check {WorkerAgentOptions.Section}:ControlPlane:ClientId and ClientSecret)", null, response.StatusCode);
            }

            var answer = await response.Content.ReadFromJsonAsync<TokenResponse>(Json, cancellationToken).ConfigureAwait(false);
            if (answer is not { AccessToken: { Length: > 0 } token })
            {
                throw new HttpRequestException("POST /connect/token answered without an access_token");
            }

            var lifetime = TimeSpan.FromSeconds(Math.Max(answer.ExpiresIn, 0));
            _token = (token, _time.GetUtcNow() + (lifetime > TokenRenewalMargin ? lifetime - TokenRenewalMargin : TimeSpan.Zero));
            return token;
        }
        finally
        {
            _tokenLock.Release();
        }
    }

    // The path without its query: identifiers only, but kept short in messages.
    private static string Route(string path) => path.Split('?')[0];

    private sealed record TokenResponse(string? AccessToken, long ExpiresIn);
}
