using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.WebUtilities;

namespace Freshet.ControlPlane.Api.Tests.Infrastructure;

/// <summary>
/// Signs a person in the way the console will: authorization code with PKCE through the control plane's own
/// sign-in page (antiforgery token, session cookie, redirect with the code), then the code exchanged for tokens.
/// </summary>
public static partial class UserSignIn
{
    public const string ConsoleClientId = "freshet-console";
    public const string RedirectUri = "http://127.0.0.1:5081/signin-oidc";

    public sealed record Tokens(string AccessToken, string? RefreshToken);

    public static async Task<Tokens> SignInAsync(ControlPlaneFactory factory, string email, string password)
    {
        using var browser = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        var verifier = Base64Url(RandomNumberGenerator.GetBytes(32));
        var challenge = Base64Url(SHA256.HashData(Encoding.ASCII.GetBytes(verifier)));
        var state = Guid.NewGuid().ToString("N");
        var authorize = QueryHelpers.AddQueryString("/connect/authorize", new Dictionary<string, string?>
        {
            ["client_id"] = ConsoleClientId,
            ["redirect_uri"] = RedirectUri,
            ["response_type"] = "code",
            ["scope"] = "openid profile email offline_access api",
            ["code_challenge"] = challenge,
            ["code_challenge_method"] = "S256",
            ["state"] = state,
        });

        var toLogin = await browser.GetAsync(authorize);
        Assert.Equal(HttpStatusCode.Redirect, toLogin.StatusCode);
        var loginUrl = toLogin.Headers.Location!.ToString();
        Assert.Contains("/account/login", loginUrl, StringComparison.Ordinal);

        var page = await browser.GetAsync(loginUrl);
        var html = await page.Content.ReadAsStringAsync();
        var antiforgery = AntiforgeryField().Match(html);
        var returnUrl = WebUtility.HtmlDecode(ReturnUrlField().Match(html).Groups[1].Value);
        Assert.True(antiforgery.Success, "the sign-in page has an antiforgery field");

        var posted = await browser.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            [antiforgery.Groups[1].Value] = WebUtility.HtmlDecode(antiforgery.Groups[2].Value),
            ["returnUrl"] = returnUrl,
            ["email"] = email,
            ["password"] = password,
        }));
        Assert.True(posted.StatusCode == HttpStatusCode.Redirect, $"sign-in failed with {(int)posted.StatusCode}: {await posted.Content.ReadAsStringAsync()}");

        var withCode = await browser.GetAsync(posted.Headers.Location!.ToString());
        Assert.Equal(HttpStatusCode.Redirect, withCode.StatusCode);
        var callback = withCode.Headers.Location!;
        Assert.StartsWith(RedirectUri, callback.ToString(), StringComparison.Ordinal);
        var query = QueryHelpers.ParseQuery(callback.Query);
        Assert.Equal(state, query["state"].ToString());

        var token = await browser.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "authorization_code",
            ["client_id"] = ConsoleClientId,
            ["code"] = query["code"].ToString(),
            ["redirect_uri"] = RedirectUri,
            ["code_verifier"] = verifier,
        }));
        var body = await token.Content.ReadAsStringAsync();
        Assert.True(token.IsSuccessStatusCode, body);
        var json = JsonDocument.Parse(body).RootElement;
        return new Tokens(json.GetProperty("access_token").GetString()!, json.TryGetProperty("refresh_token", out var refresh) ? refresh.GetString() : null);
    }

    /// <summary>Posts the sign-in form once and returns the response (for lockout tests).</summary>
    public static async Task<HttpResponseMessage> PostPasswordAsync(HttpClient browser, string email, string password)
    {
        var html = await (await browser.GetAsync("/account/login")).Content.ReadAsStringAsync();
        var antiforgery = AntiforgeryField().Match(html);
        return await browser.PostAsync("/account/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            [antiforgery.Groups[1].Value] = WebUtility.HtmlDecode(antiforgery.Groups[2].Value),
            ["returnUrl"] = "/",
            ["email"] = email,
            ["password"] = password,
        }));
    }

    public static async Task<HttpClient> UserClientAsync(ControlPlaneFactory factory, string email, string password, string? tenant = null)
    {
        var tokens = await SignInAsync(factory, email, password);
        var http = factory.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.AccessToken);
        if (tenant is not null)
        {
            http.DefaultRequestHeaders.Add("Freshet-Tenant", tenant);
        }

        return http;
    }

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);

    [GeneratedRegex("<input type=\"hidden\" name=\"(__RequestVerificationToken[^\"]*)\" value=\"([^\"]+)\">")]
    private static partial Regex AntiforgeryField();

    [GeneratedRegex("<input type=\"hidden\" name=\"returnUrl\" value=\"([^\"]*)\">")]
    private static partial Regex ReturnUrlField();
}
