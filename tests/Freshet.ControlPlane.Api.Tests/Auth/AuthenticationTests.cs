using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Claims;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.IdentityModel.JsonWebTokens;
using Microsoft.IdentityModel.Tokens;
using OpenIddict.Server;

namespace Freshet.ControlPlane.Api.Tests.Auth;

public sealed class AuthenticationTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task ClientCredentials_TokenOfSeededClient_ListsItsTenantsPipelines()
    {
        using var http = await factory.DemoAdminClientAsync();
        var page = await HttpAssert.OkAsync(await http.GetAsync("/v1/pipelines"));
        Assert.Equal("Demo shop to warehouse", page.GetProperty("items")[0].GetProperty("name").GetString());
    }

    [Fact]
    public async Task NoToken_ForgedToken_GarbageToken_Answer401Problem()
    {
        using var anonymous = factory.CreateClient();
        await HttpAssert.ProblemAsync(await anonymous.GetAsync("/v1/pipelines"), HttpStatusCode.Unauthorized);

        // Signed by a key the server never saw, with every claim a real token has.
        var foreignKey = new RsaSecurityKey(System.Security.Cryptography.RSA.Create(2048));
        var forged = Token(new SigningCredentials(foreignKey, SecurityAlgorithms.RsaSha256), DateTime.UtcNow.AddHours(1), await IssuerAsync());
        foreach (var token in new[] { forged, "not-a-token", forged[..^5] + "AAAAA" })
        {
            using var http = factory.CreateClient();
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            await HttpAssert.ProblemAsync(await http.GetAsync("/v1/pipelines"), HttpStatusCode.Unauthorized);
        }
    }

    [Fact]
    public async Task ExpiredToken_SignedByTheServer_Answers401()
    {
        var options = factory.Services.GetRequiredService<IOptionsMonitor<OpenIddictServerOptions>>().CurrentValue;
        var expired = Token(options.SigningCredentials[0], DateTime.UtcNow.AddMinutes(-5), await IssuerAsync());
        using var http = factory.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", expired);
        await HttpAssert.ProblemAsync(await http.GetAsync("/v1/pipelines"), HttpStatusCode.Unauthorized);

        // The same token, unexpired, is accepted: the test fails for the right reason.
        var valid = Token(options.SigningCredentials[0], DateTime.UtcNow.AddMinutes(5), await IssuerAsync());
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", valid);
        await HttpAssert.OkAsync(await http.GetAsync("/v1/pipelines"));
    }

    [Fact]
    public async Task RevokedClient_ItsUnexpiredTokenStopsWorkingAtOnce()
    {
        var (clientId, secret) = await factory.CreateDemoClientAsync("viewer");
        using var client = factory.CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await factory.ClientTokenAsync(clientId, secret));
        await HttpAssert.OkAsync(await client.GetAsync("/v1/connections"));

        using var admin = await factory.DemoAdminClientAsync();
        var list = await HttpAssert.OkAsync(await admin.GetAsync("/v1/api-clients?page_size=100"));
        var id = list.GetProperty("items").EnumerateArray().Single(c => c.GetProperty("client_id").GetString() == clientId).GetProperty("id").GetString();
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/v1/api-clients/{id}")).StatusCode);

        await HttpAssert.ProblemAsync(await client.GetAsync("/v1/connections"), HttpStatusCode.Unauthorized);
        using var tokenRequest = factory.CreateClient();
        var refused = await tokenRequest.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
            ["client_secret"] = secret,
        }));
        Assert.False(refused.IsSuccessStatusCode);
    }

    [Fact]
    public async Task RotatedSecret_OldSecretRefused_NewSecretWorks()
    {
        var (clientId, oldSecret) = await factory.CreateDemoClientAsync("editor");
        using var admin = await factory.DemoAdminClientAsync();
        var list = await HttpAssert.OkAsync(await admin.GetAsync("/v1/api-clients?page_size=100"));
        var id = list.GetProperty("items").EnumerateArray().Single(c => c.GetProperty("client_id").GetString() == clientId).GetProperty("id").GetString();
        var rotated = await HttpAssert.OkAsync(await admin.PostAsync($"/v1/api-clients/{id}/rotate-secret", null));
        var newSecret = rotated.GetProperty("client_secret").GetString()!;
        Assert.NotEqual(oldSecret, newSecret);

        using var http = factory.CreateClient();
        var old = await http.PostAsync("/connect/token", Form(clientId, oldSecret));
        Assert.False(old.IsSuccessStatusCode);
        Assert.Contains("invalid_client", await old.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var fresh = await http.PostAsync("/connect/token", Form(clientId, newSecret));
        Assert.True(fresh.IsSuccessStatusCode, await fresh.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task AuthorizationCodeWithPkce_SignsInOwner_TokenReachesTenant_RefreshWorks_RevokeEndsIt()
    {
        var owner = factory.Seed.Tenants[0];
        var tokens = await UserSignIn.SignInAsync(factory, owner.AdminEmail, owner.AdminPassword);
        using var http = factory.CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", tokens.AccessToken);
        var me = await HttpAssert.OkAsync(await http.GetAsync("/v1/me"));
        Assert.Equal("user", me.GetProperty("actor_type").GetString());
        var membership = Assert.Single(me.GetProperty("memberships").EnumerateArray());
        Assert.Equal("demo", membership.GetProperty("slug").GetString());
        Assert.Equal("owner", membership.GetProperty("role").GetString());
        var tenant = await HttpAssert.OkAsync(await http.GetAsync("/v1/tenant"));
        Assert.Equal("owner", tenant.GetProperty("role").GetString());

        Assert.NotNull(tokens.RefreshToken);
        using var anonymous = factory.CreateClient();
        var refreshed = await anonymous.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["client_id"] = UserSignIn.ConsoleClientId,
            ["refresh_token"] = tokens.RefreshToken!,
        }));
        Assert.True(refreshed.IsSuccessStatusCode, await refreshed.Content.ReadAsStringAsync());
        var rotated = System.Text.Json.JsonDocument.Parse(await refreshed.Content.ReadAsStringAsync()).RootElement.GetProperty("refresh_token").GetString()!;

        // Signing out revokes the refresh token: it cannot mint access tokens any more.
        var revoked = await anonymous.PostAsync("/connect/revoke", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = UserSignIn.ConsoleClientId,
            ["token"] = rotated,
            ["token_type_hint"] = "refresh_token",
        }));
        Assert.True(revoked.IsSuccessStatusCode, await revoked.Content.ReadAsStringAsync());
        var afterRevoke = await anonymous.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["client_id"] = UserSignIn.ConsoleClientId,
            ["refresh_token"] = rotated,
        }));
        Assert.Equal(HttpStatusCode.BadRequest, afterRevoke.StatusCode);
    }

    [Fact]
    public async Task SignIn_FiveWrongPasswords_LocksTheAccount_EvenForTheRightPassword()
    {
        using var admin = await factory.DemoAdminClientAsync();
        var email = $"lockme-{Guid.NewGuid():N}@example.com";
        var added = await HttpAssert.OkAsync(await admin.PostAsJsonAsync("/v1/members", new { email, role = "viewer", initial_password = "Correct-horse-42" }), HttpStatusCode.Created);
        Assert.True(added.GetProperty("account_created").GetBoolean());

        using var browser = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false, HandleCookies = true });
        for (var i = 0; i < 5; i++)
        {
            var wrong = await UserSignIn.PostPasswordAsync(browser, email, "wrong-password");
            Assert.NotEqual(HttpStatusCode.Redirect, wrong.StatusCode);
        }

        var locked = await UserSignIn.PostPasswordAsync(browser, email, "Correct-horse-42");
        Assert.Equal(HttpStatusCode.Locked, locked.StatusCode);
        Assert.Contains("locked", await locked.Content.ReadAsStringAsync(), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task SilentAuthorize_WithoutSession_RedirectsBackWithLoginRequired()
    {
        using var browser = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });
        var response = await browser.GetAsync(
            "/connect/authorize?client_id=freshet-console&redirect_uri=" + Uri.EscapeDataString(UserSignIn.RedirectUri)
            + "&response_type=code&scope=openid%20api&prompt=none&state=s1&code_challenge=" + new string('a', 43) + "&code_challenge_method=S256");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!.ToString();
        Assert.StartsWith(UserSignIn.RedirectUri, location, StringComparison.Ordinal);
        Assert.Contains("error=login_required", location, StringComparison.Ordinal);
    }

    private async Task<string> IssuerAsync()
    {
        using var http = factory.CreateClient();
        var discovery = await HttpAssert.OkAsync(await http.GetAsync("/.well-known/openid-configuration"));
        return discovery.GetProperty("issuer").GetString()!;
    }

    private string Token(SigningCredentials credentials, DateTime expires, string issuer) =>
        new JsonWebTokenHandler().CreateToken(new SecurityTokenDescriptor
        {
            Issuer = issuer,
            Subject = new ClaimsIdentity([new Claim("sub", factory.Seed.Tenants[0].ClientId), new Claim("freshet_actor", "client"), new Claim("scope", "api")]),
            IssuedAt = expires.AddHours(-1),
            NotBefore = expires.AddHours(-1),
            Expires = expires,
            SigningCredentials = credentials,
            TokenType = "at+jwt",
        });

    private static FormUrlEncodedContent Form(string clientId, string secret) => new(new Dictionary<string, string>
    {
        ["grant_type"] = "client_credentials",
        ["client_id"] = clientId,
        ["client_secret"] = secret,
    });
}
