using System.Collections.Immutable;
using System.Net;
using System.Security.Claims;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Abstractions;
using OpenIddict.Server.AspNetCore;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Freshet.ControlPlane.Api.Auth;

/// <summary>
/// The OAuth2 endpoints that OpenIddict passes through to us (token, authorize, end session) and the sign-in page
/// people see during the authorization-code flow.
/// </summary>
internal static class AuthorizationEndpoints
{
    public static IEndpointRouteBuilder MapAuthorizationEndpoints(this IEndpointRouteBuilder app)
    {
        var connect = app.MapGroup("/connect").ExcludeFromDescription();
        connect.MapPost("/token", (Delegate)ExchangeAsync).DisableAntiforgery();
        connect.MapMethods("/authorize", [HttpMethods.Get, HttpMethods.Post], (Delegate)AuthorizeAsync).DisableAntiforgery();
        connect.MapMethods("/logout", [HttpMethods.Get, HttpMethods.Post], (Delegate)EndSessionAsync).DisableAntiforgery();

        var account = app.MapGroup("/account").ExcludeFromDescription();
        account.MapGet("/login", (Delegate)ShowLogin).DisableAntiforgery();
        account.MapPost("/login", (Delegate)LoginAsync).DisableAntiforgery();
        return app;
    }

    private static async Task<IResult> ExchangeAsync(HttpContext http, ControlDbContext db, TenantContext tenant, UserManager<ApplicationUser> users, IOptions<AuthOptions> auth)
    {
        var request = http.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("The OpenID Connect request cannot be retrieved.");
        var worker = auth.Value.WorkerClient;
        if (request.IsClientCredentialsGrantType() && worker.IsEnabled && string.Equals(request.ClientId, worker.ClientId, StringComparison.Ordinal))
        {
            // OpenIddict has authenticated the client by now; the worker pool is not an API client and has no tenant.
            var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, worker.ClientId);
            identity.SetClaim(Claims.Name, "Freshet worker pool");
            identity.SetClaim(FreshetClaims.ActorType, FreshetClaims.WorkerActor);
            identity.SetScopes(request.GetScopes().Add(FreshetClaims.ApiScope).Distinct());
            identity.SetDestinations(_ => [Destinations.AccessToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), properties: null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }

        if (request.IsClientCredentialsGrantType())
        {
            using var system = tenant.EnterSystemScope();
            var client = await db.ApiClients.AsNoTracking().FirstOrDefaultAsync(c => c.ClientId == request.ClientId && c.RevokedAt == null, http.RequestAborted);
            if (client is null)
            {
                return Forbid(Errors.InvalidClient, "This client was revoked.");
            }

            var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
            identity.SetClaim(Claims.Subject, client.ClientId);
            identity.SetClaim(Claims.Name, client.Name);
            identity.SetClaim(FreshetClaims.ActorType, FreshetClaims.ClientActor);
            identity.SetClaim(FreshetClaims.Tenant, client.TenantId?.ToString());
            identity.SetScopes(request.GetScopes().Add(FreshetClaims.ApiScope).Distinct());
            identity.SetDestinations(_ => [Destinations.AccessToken]);
            return Results.SignIn(new ClaimsPrincipal(identity), properties: null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }

        if (request.IsAuthorizationCodeGrantType() || request.IsRefreshTokenGrantType())
        {
            var result = await http.AuthenticateAsync(OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
            var userId = result.Principal?.GetClaim(Claims.Subject);
            var user = userId is null ? null : await users.FindByIdAsync(userId);
            if (user is null || await users.IsLockedOutAsync(user))
            {
                return Forbid(Errors.InvalidGrant, "The user no longer exists or is locked out.");
            }

            var identity = UserIdentity(user, result.Principal!.GetScopes());
            return Results.SignIn(new ClaimsPrincipal(identity), properties: null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
        }

        return Forbid(Errors.UnsupportedGrantType, "This grant type is not supported.");
    }

    private static async Task<IResult> AuthorizeAsync(HttpContext http, UserManager<ApplicationUser> users)
    {
        var request = http.GetOpenIddictServerRequest() ?? throw new InvalidOperationException("The OpenID Connect request cannot be retrieved.");
        var cookie = await http.AuthenticateAsync(IdentityConstants.ApplicationScheme);
        var user = cookie.Succeeded ? await users.GetUserAsync(cookie.Principal!) : null;
        if (user is null && request.HasPromptValue(PromptValues.None))
        {
            // A silent sign-in attempt (the console checking for a session) must not show a page.
            return Forbid(Errors.LoginRequired, "No one is signed in.");
        }

        if (user is null)
        {
            var returnUrl = http.Request.PathBase + http.Request.Path + QueryString.Create(
                http.Request.HasFormContentType ? http.Request.Form.ToList() : http.Request.Query.ToList());
            return Results.Challenge(new AuthenticationProperties { RedirectUri = returnUrl }, [IdentityConstants.ApplicationScheme]);
        }

        // First-party console only: consent is implicit.
        var identity = UserIdentity(user, request.GetScopes());
        return Results.SignIn(new ClaimsPrincipal(identity), properties: null, OpenIddictServerAspNetCoreDefaults.AuthenticationScheme);
    }

    private static async Task<IResult> EndSessionAsync(HttpContext http)
    {
        await http.SignOutAsync(IdentityConstants.ApplicationScheme);
        return Results.SignOut(new AuthenticationProperties { RedirectUri = "/" }, [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);
    }

    private static ClaimsIdentity UserIdentity(ApplicationUser user, ImmutableArray<string> scopes)
    {
        var identity = new ClaimsIdentity(TokenValidationParameters.DefaultAuthenticationType, Claims.Name, Claims.Role);
        identity.SetClaim(Claims.Subject, user.Id.ToString());
        identity.SetClaim(Claims.Email, user.Email);
        identity.SetClaim(Claims.Name, string.IsNullOrEmpty(user.DisplayName) ? user.Email : user.DisplayName);
        identity.SetClaim(FreshetClaims.ActorType, FreshetClaims.UserActor);
        identity.SetScopes(scopes.Add(FreshetClaims.ApiScope).Distinct());
        identity.SetDestinations(claim => claim.Type switch
        {
            Claims.Name or Claims.Email when identity.HasScope(Scopes.Profile) || identity.HasScope(Scopes.Email) => [Destinations.AccessToken, Destinations.IdentityToken],
            _ => [Destinations.AccessToken],
        });
        return identity;
    }

    private static IResult Forbid(string error, string description) =>
        Results.Forbid(
            new AuthenticationProperties(new Dictionary<string, string?>
            {
                [OpenIddictServerAspNetCoreConstants.Properties.Error] = error,
                [OpenIddictServerAspNetCoreConstants.Properties.ErrorDescription] = description,
            }),
            [OpenIddictServerAspNetCoreDefaults.AuthenticationScheme]);

    private static IResult ShowLogin(HttpContext http, IAntiforgery antiforgery, string? returnUrl) =>
        LoginPage(http, antiforgery, returnUrl, error: null, email: null);

    private static async Task<IResult> LoginAsync(HttpContext http, IAntiforgery antiforgery, SignInManager<ApplicationUser> signIn)
    {
        if (!http.Request.HasFormContentType)
        {
            return Results.Problem(title: "Bad request", detail: "Send the sign-in form.", statusCode: 400);
        }

        try
        {
            await antiforgery.ValidateRequestAsync(http);
        }
        catch (AntiforgeryValidationException)
        {
            return Results.Problem(title: "Bad request", detail: "The sign-in form expired. Reload the page and try again.", statusCode: 400);
        }

        var form = await http.Request.ReadFormAsync(http.RequestAborted);
        var email = form["email"].ToString().Trim();
        var password = form["password"].ToString();
        var returnUrl = form["returnUrl"].ToString();
        if (email.Length is 0 or > 254 || password.Length is 0 or > 1024)
        {
            return LoginPage(http, antiforgery, returnUrl, "Enter your e-mail and password.", email);
        }

        var user = await signIn.UserManager.FindByEmailAsync(email);
        var result = user is null ? Microsoft.AspNetCore.Identity.SignInResult.Failed : await signIn.PasswordSignInAsync(user, password, isPersistent: false, lockoutOnFailure: true);
        if (result.Succeeded)
        {
            return Results.LocalRedirect(IsLocal(returnUrl) ? returnUrl : "/");
        }

        var message = result.IsLockedOut
            ? "Too many failed attempts: this account is locked for a while. Try again later."
            : "The e-mail or password is not right.";
        http.Response.StatusCode = result.IsLockedOut ? StatusCodes.Status423Locked : StatusCodes.Status401Unauthorized;
        return LoginPage(http, antiforgery, returnUrl, message, email, http.Response.StatusCode);
    }

    private static bool IsLocal(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith('/') && !url.StartsWith("//", StringComparison.Ordinal) && !url.StartsWith("/\\", StringComparison.Ordinal);

    private static IResult LoginPage(HttpContext http, IAntiforgery antiforgery, string? returnUrl, string? error, string? email, int status = 200)
    {
        var tokens = antiforgery.GetAndStoreTokens(http);
        var safeReturn = IsLocal(returnUrl) ? returnUrl! : "/";
        var errorHtml = error is null ? "" : $"<p class=\"error\" role=\"alert\">{WebUtility.HtmlEncode(error)}</p>";
        var html = $$"""
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Sign in · Freshet</title>
            <style>
              body { font-family: system-ui, sans-serif; background: #f4f6fb; display: grid; place-items: center; min-height: 100vh; margin: 0; }
              main { background: #fff; padding: 2rem 2.5rem; border-radius: 12px; box-shadow: 0 4px 24px #0002; width: min(360px, 90vw); }
              h1 { margin-top: 0; font-size: 1.4rem; } label { display: block; margin: 1rem 0 .3rem; font-weight: 600; }
              input { width: 100%; padding: .6rem; border: 1px solid #bbc; border-radius: 6px; box-sizing: border-box; font-size: 1rem; }
              button { margin-top: 1.5rem; width: 100%; padding: .7rem; border: 0; border-radius: 6px; background: #2457d6; color: #fff; font-size: 1rem; cursor: pointer; }
              .error { color: #b00020; background: #fde7ea; padding: .6rem; border-radius: 6px; }
            </style></head>
            <body><main>
              <h1>Sign in to Freshet</h1>
              {{errorHtml}}
              <form method="post" action="/account/login">
                <input type="hidden" name="{{tokens.FormFieldName}}" value="{{WebUtility.HtmlEncode(tokens.RequestToken)}}">
                <input type="hidden" name="returnUrl" value="{{WebUtility.HtmlEncode(safeReturn)}}">
                <label for="email">E-mail</label><input id="email" name="email" type="email" autocomplete="username" required value="{{WebUtility.HtmlEncode(email ?? "")}}">
                <label for="password">Password</label><input id="password" name="password" type="password" autocomplete="current-password" required>
                <button type="submit">Sign in</button>
              </form>
            </main></body></html>
            """;
        return Results.Content(html, "text/html; charset=utf-8", statusCode: status);
    }
}
