using System.Net;
using System.Security.Claims;
using System.Text;
using System.Text.Json;
using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using MudBlazor.Services;

namespace Freshet.Console.Tests.Components.Admin;

/// <summary>
/// A console page in bUnit with the real <see cref="FreshetApi"/>, signed in (a session with a fresh access token), whose
/// HTTP calls answer from <see cref="Routes"/>: the REST API's JSON as the control plane sends it. Requests are kept.
/// </summary>
internal sealed class AdminPageContext : IAsyncDisposable
{
    public AdminPageContext(string role)
    {
        Context = new BunitContext();
        Context.Services.AddMudServices();
        Context.JSInterop.Mode = JSRuntimeMode.Loose;

        var store = new SessionTicketStore(TimeProvider.System);
        var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", "owner")], "test"));
        SessionTicketStore.AddSessionClaim(principal);
        var properties = new AuthenticationProperties();
        properties.StoreTokens(
        [
            new AuthenticationToken { Name = "access_token", Value = "test-access-token" },
            new AuthenticationToken { Name = "expires_at", Value = DateTimeOffset.UtcNow.AddHours(1).ToString("o") },
        ]);
        store.StoreAsync(new AuthenticationTicket(principal, properties, "Cookies")).GetAwaiter().GetResult();

        var authorization = Context.AddAuthorization();
        authorization.SetAuthorized("owner@demo.freshet.local");
        authorization.SetClaims(principal.Claims.ToArray());

        Tenant = new TenantSelection();
        Tenant.SignedIn(new Me("user", "u1", "owner@demo.freshet.local", "none", [new Membership(Guid.NewGuid(), "demo", "Demo Co", role)]));
        Context.Services.AddSingleton(Tenant);
        Context.Services.AddHttpClient();
        Context.Services.AddSingleton(provider => new SessionTokens(
            store, provider.GetRequiredService<IHttpClientFactory>(), Options.Create(new ConsoleOptions()), TimeProvider.System, NullLogger<SessionTokens>.Instance));
        Context.Services.AddScoped(provider => new FreshetApi(
            new HttpClient(new Handler(this)) { BaseAddress = new Uri("http://control-plane.test/") },
            provider.GetRequiredService<AuthenticationStateProvider>(),
            provider.GetRequiredService<SessionTokens>(),
            Tenant));
    }

    public BunitContext Context { get; }

    public TenantSelection Tenant { get; }

    /// <summary>"METHOD path" (path without the query) → status and JSON body.</summary>
    public Dictionary<string, Func<string, (HttpStatusCode Status, object? Body)>> Routes { get; } = [];

    public List<(string Method, string PathAndQuery, string Body)> Requests { get; } = [];

    public static string Json(object value) => JsonSerializer.Serialize(value, FreshetApi.Json);

    public async ValueTask DisposeAsync() => await Context.DisposeAsync();

    private sealed class Handler(AdminPageContext owner) : HttpMessageHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? "" : await request.Content.ReadAsStringAsync(cancellationToken);
            lock (owner.Requests)
            {
                owner.Requests.Add((request.Method.Method, request.RequestUri!.PathAndQuery, body));
            }

            var key = $"{request.Method.Method} {request.RequestUri!.AbsolutePath}";
            if (!owner.Routes.TryGetValue(key, out var route))
            {
                return new HttpResponseMessage(HttpStatusCode.NotFound);
            }

            var (status, answer) = route(body);
            var response = new HttpResponseMessage(status);
            if (answer is not null)
            {
                var type = (int)status >= 400 ? "application/problem+json" : "application/json";
                response.Content = new StringContent(answer as string ?? Json(answer), Encoding.UTF8, type);
            }

            return response;
        }
    }
}
