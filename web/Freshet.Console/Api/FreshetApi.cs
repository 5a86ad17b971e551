using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using Freshet.Console.Auth;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.Extensions.Options;

namespace Freshet.Console.Api;

/// <summary>
/// The control plane's public REST API as the signed-in person: each request carries their access token and, once they
/// picked one, their tenant. Errors come back as <see cref="ApiProblem"/>; an ended session as <see cref="SessionExpiredException"/>.
/// </summary>
/// <remarks>
/// The token is attached here, not in a delegating handler: handlers live in the HTTP client factory's own scope, which
/// does not see the circuit's user.
/// </remarks>
internal sealed partial class FreshetApi(HttpClient http, AuthenticationStateProvider authentication, SessionTokens tokens, TenantSelection tenant)
{
    public const string TenantHeader = "Freshet-Tenant";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
    };

    public Task<Me> GetMeAsync(CancellationToken cancellationToken) => GetAsync<Me>("v1/me", cancellationToken);

    public Task<TenantStatus> GetTenantStatusAsync(CancellationToken cancellationToken) => GetAsync<TenantStatus>("v1/status", cancellationToken);

    public Task<Pipeline> GetPipelineAsync(Guid id, CancellationToken cancellationToken) => GetAsync<Pipeline>($"v1/pipelines/{id}", cancellationToken);

    public Task<PipelineStatus> GetPipelineStatusAsync(Guid id, CancellationToken cancellationToken) => GetAsync<PipelineStatus>($"v1/pipelines/{id}/status", cancellationToken);

    public Task<Page<PipelineEvent>> GetPipelineEventsAsync(Guid id, int pageSize, CancellationToken cancellationToken) =>
        GetAsync<Page<PipelineEvent>>($"v1/pipelines/{id}/events?page_size={pageSize}", cancellationToken);

    public Task<Pipeline> PauseAsync(Guid id, CancellationToken cancellationToken) => PostAsync<Pipeline>($"v1/pipelines/{id}/pause", cancellationToken);

    public Task<Pipeline> ResumeAsync(Guid id, CancellationToken cancellationToken) => PostAsync<Pipeline>($"v1/pipelines/{id}/resume", cancellationToken);

    /// <summary>
    /// The tenant's live feed (<c>/v1/status/stream</c>), read here on the server: every pipeline's status at once, then
    /// each change. Ends when the control plane closes the stream; the caller reconnects.
    /// </summary>
    public async IAsyncEnumerable<PipelineStatus> StreamStatusAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var request = await RequestAsync(HttpMethod.Get, "v1/status/stream", cancellationToken);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
        using var response = await SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken, cancellationToken);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        await foreach (var item in SseParser.Create(body).EnumerateAsync(cancellationToken))
        {
            if (item.EventType == "status" && JsonSerializer.Deserialize<PipelineStatus>(item.Data, Json) is { } status)
            {
                yield return status;
            }
        }
    }

    private async Task<T> GetAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        using var request = await RequestAsync(HttpMethod.Get, path, deadline.Token);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token, cancellationToken);
        return await ReadAsync<T>(response, deadline.Token);
    }

    private async Task<T> PostAsync<T>(string path, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        using var request = await RequestAsync(HttpMethod.Post, path, deadline.Token);
        request.Content = JsonContent.Create(new { }, options: Json);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token, cancellationToken);
        return await ReadAsync<T>(response, deadline.Token);
    }

    /// <summary>Calls other than the live feed give up after <see cref="CallTimeout"/>.</summary>
    private static CancellationTokenSource Deadline(CancellationToken cancellationToken)
    {
        var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(CallTimeout);
        return deadline;
    }

    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    private async Task<HttpRequestMessage> RequestAsync(HttpMethod method, string path, CancellationToken cancellationToken)
    {
        var user = (await authentication.GetAuthenticationStateAsync()).User;
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await tokens.GetAccessTokenAsync(user, cancellationToken));
        if (SupportTenantId is { } supported)
        {
            request.Headers.Add(TenantHeader, supported.ToString());
        }
        else if (tenant.Current is { } current)
        {
            request.Headers.Add(TenantHeader, current.Slug);
        }

        return request;
    }

    // callerToken is the page's own token: its cancellation is not a timeout, the other one's may be.
    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, HttpCompletionOption completion, CancellationToken cancellationToken, CancellationToken callerToken)
    {
        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, completion, cancellationToken);
        }
        catch (HttpRequestException)
        {
            throw ApiProblem.Unreachable("The request did not reach it.");
        }
        catch (TaskCanceledException) when (!callerToken.IsCancellationRequested)
        {
            throw ApiProblem.Unreachable("It did not answer in time.");
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            throw await ApiProblem.ReadAsync(response, cancellationToken);
        }
    }

    private static async Task<T> ReadAsync<T>(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var value = await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken)
            ?? throw new ApiProblem((int)response.StatusCode, "The control plane answered with an empty body", null, new Dictionary<string, string[]>());
        if (value is IConcurrencyTagged tagged)
        {
            tagged.ETag = response.Headers.ETag?.ToString();
        }

        return value;
    }

    internal static void Configure(IServiceProvider provider, HttpClient http)
    {
        http.BaseAddress = provider.GetRequiredService<IOptions<ConsoleOptions>>().Value.ApiBase;
        // The live feed stays open; other calls have their own deadline.
        http.Timeout = Timeout.InfiniteTimeSpan;
    }
}

internal static class FreshetApiRegistration
{
    public static IHostApplicationBuilder AddControlPlaneApi(this IHostApplicationBuilder builder)
    {
        builder.Services.AddScoped<TenantSelection>();
        builder.Services.AddHttpClient<FreshetApi>(FreshetApi.Configure);
        return builder;
    }
}
