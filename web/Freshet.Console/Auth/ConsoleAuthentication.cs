using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.Authentication.OpenIdConnect;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Freshet.Console.Auth;

/// <summary>
/// Sign-in through the control plane's OAuth2 server: authorization code with PKCE, the tokens kept on the server
/// (<see cref="SessionTicketStore"/>), a cookie holding only the session key.
/// </summary>
internal static class ConsoleAuthentication
{
    public static IHostApplicationBuilder AddConsoleAuthentication(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<SessionTicketStore>();
        services.AddSingleton<SessionTokens>();
        services.AddHttpClient(SessionTokens.TokenClient, (provider, http) =>
            http.BaseAddress = provider.GetRequiredService<IOptions<ConsoleOptions>>().Value.ApiBase);
        services.AddCascadingAuthenticationState();
        services.AddAuthorization();
        services.AddAuthentication(options =>
            {
                options.DefaultScheme = CookieAuthenticationDefaults.AuthenticationScheme;
                options.DefaultChallengeScheme = OpenIdConnectDefaults.AuthenticationScheme;
            })
            .AddCookie(options =>
            {
                options.Cookie.Name = "freshet-console";
                options.Cookie.HttpOnly = true;
                options.Cookie.SameSite = SameSiteMode.Lax;
                options.ExpireTimeSpan = TimeSpan.FromHours(12);
                options.SlidingExpiration = true;
            })
            .AddOpenIdConnect();

        services.AddOptions<CookieAuthenticationOptions>(CookieAuthenticationDefaults.AuthenticationScheme)
            .Configure<SessionTicketStore>((options, store) => options.SessionStore = store);
        services.AddOptions<OpenIdConnectOptions>(OpenIdConnectDefaults.AuthenticationScheme)
            .Configure<IOptions<ConsoleOptions>>((options, console) => ConfigureOpenIdConnect(options, console.Value));
        return builder;
    }

    public static IEndpointRouteBuilder MapAccountEndpoints(this IEndpointRouteBuilder app)
    {
        var account = app.MapGroup("/account");
        account.MapGet("/signin", (string? returnUrl) =>
            TypedResults.Challenge(new AuthenticationProperties { RedirectUri = LocalOnly(returnUrl) }, [OpenIdConnectDefaults.AuthenticationScheme]));

        // A form post with the antiforgery token: a link on another site cannot sign people out.
        account.MapPost("/signout", async ([FromForm] string? returnUrl, HttpContext http, SessionTokens tokens) =>
        {
            var session = await http.AuthenticateAsync(CookieAuthenticationDefaults.AuthenticationScheme);
            if (session.Properties?.GetTokenValue("refresh_token") is { } refreshToken)
            {
                await tokens.RevokeAsync(refreshToken, http.RequestAborted);
            }

            // Signing out of the OpenID Connect scheme ends the control plane's own session too (end-session endpoint),
            // so the next visit asks for the password again instead of signing straight back in.
            return TypedResults.SignOut(
                new AuthenticationProperties { RedirectUri = "/signed-out" },
                [CookieAuthenticationDefaults.AuthenticationScheme, OpenIdConnectDefaults.AuthenticationScheme]);
        });
        return app;
    }

    private static void ConfigureOpenIdConnect(OpenIdConnectOptions options, ConsoleOptions console)
    {
        options.Authority = console.ApiBase.ToString();
        options.RequireHttpsMetadata = console.ControlPlaneUrl.Scheme == Uri.UriSchemeHttps;
        options.ClientId = console.ClientId;
        options.ClientSecret = string.IsNullOrEmpty(console.ClientSecret) ? null : console.ClientSecret;
        options.ResponseType = "code";
        options.UsePkce = true;
        options.SaveTokens = true;
        options.MapInboundClaims = false;
        // The control plane has no userinfo endpoint: name and e-mail come in the identity token.
        options.GetClaimsFromUserInfoEndpoint = false;
        options.TokenValidationParameters.NameClaimType = "name";
        options.Scope.Clear();
        foreach (var scope in new[] { "openid", "profile", "email", "offline_access", "api" })
        {
            options.Scope.Add(scope);
        }

        options.Events.OnTokenValidated = context =>
        {
            SessionTicketStore.AddSessionClaim(context.Principal!);
            return Task.CompletedTask;
        };
        options.Events.OnRemoteFailure = context =>
        {
            // e.g. the person cancelled, or the control plane refused the client: a page that says so, not an exception.
            context.HandleResponse();
            context.Response.Redirect("/signed-out?error=" + Uri.EscapeDataString(context.Failure?.Message ?? "Sign-in failed."));
            return Task.CompletedTask;
        };
    }

    private static string LocalOnly(string? returnUrl) =>
        returnUrl is { Length: > 0 } && returnUrl.StartsWith('/') && !returnUrl.StartsWith("//", StringComparison.Ordinal) && !returnUrl.StartsWith("/\\", StringComparison.Ordinal)
            ? returnUrl
            : "/";
}
