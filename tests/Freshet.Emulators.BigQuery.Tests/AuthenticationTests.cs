using System.Security.Cryptography;
using Grpc.Core;

namespace Freshet.Emulators.BigQuery.Tests;

/// <summary>
/// The OAuth2 service-account flow (developers.google.com/identity/protocols/oauth2/service-account): a signed JWT
/// assertion exchanged for an access token, which REST and Storage Write calls must carry.
/// </summary>
public sealed class AuthenticationTests
{
    [Fact]
    public async Task Token_ValidAssertion_IssuesABearerTokenThatRestAccepts()
    {
        await using var bq = await RawBigQuery.StartAsync();

        var answer = await bq.ExchangeAsync(bq.Assertion());
        var token = answer.Body!["access_token"]!.GetValue<string>();
        var dataset = await bq.SendAsync(HttpMethod.Get, "datasets/freshet", token: token);

        Assert.Equal(200, answer.Status);
        Assert.Equal("Bearer", answer.Body["token_type"]!.GetValue<string>());
        Assert.Equal(3600, answer.Body["expires_in"]!.GetValue<int>());
        Assert.Equal(200, dataset.Status);
        Assert.Equal("US", dataset.Body!["location"]!.GetValue<string>());
    }

    public static TheoryData<string, string> BadAssertions => new()
    {
        { "wrong audience", "invalid_grant" },
        { "expired", "invalid_grant" },
        { "longer than an hour", "invalid_grant" },
        { "signed by another key", "invalid_grant" },
        { "unknown account", "invalid_grant" },
        { "no scope", "invalid_scope" },
        { "scope without BigQuery", "invalid_scope" },
        { "not a JWT", "invalid_grant" },
    };

    [Theory]
    [MemberData(nameof(BadAssertions))]
    public async Task Token_BadAssertion_Answers400WithTheOAuthError(string problem, string error)
    {
        await using var bq = await RawBigQuery.StartAsync();
        using var otherKey = RSA.Create(2048);
        var now = DateTimeOffset.UtcNow;
        var assertion = problem switch
        {
            "wrong audience" => bq.Assertion(aud: bq.Emulator.TokenUri.ToString()),
            "expired" => bq.Assertion(iat: now.AddHours(-2), exp: now.AddHours(-1)),
            "longer than an hour" => bq.Assertion(exp: now.AddHours(2)),
            "signed by another key" => bq.Assertion(signWith: otherKey),
            "unknown account" => bq.Assertion(iss: "someone@else.iam.gserviceaccount.com"),
            "no scope" => bq.Assertion(scope: null),
            "scope without BigQuery" => bq.Assertion(scope: "https://www.googleapis.com/auth/devstorage.read_only"),
            _ => "not-a-jwt",
        };

        var answer = await bq.ExchangeAsync(assertion);

        Assert.Equal(400, answer.Status);
        Assert.Equal(error, answer.Body!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task Token_OtherGrantType_IsUnsupported()
    {
        await using var bq = await RawBigQuery.StartAsync();

        var answer = await bq.ExchangeAsync(bq.Assertion(), grantType: "client_credentials");

        Assert.Equal(400, answer.Status);
        Assert.Equal("unsupported_grant_type", answer.Body!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task Token_AfterTheAccountsKeysAreDeleted_IsRefused()
    {
        await using var bq = await RawBigQuery.StartAsync();
        bq.Emulator.DeleteServiceAccountKeys(RawBigQuery.Account);

        var answer = await bq.ExchangeAsync(bq.Assertion());

        Assert.Equal(400, answer.Status);
    }

    [Fact]
    public async Task Rest_WithoutOrWithAnUnknownToken_Answers401InGooglesErrorShape()
    {
        await using var bq = await RawBigQuery.StartAsync();

        var missing = await bq.SendAsync(HttpMethod.Get, "datasets/freshet", authenticate: false);
        var unknown = await bq.SendAsync(HttpMethod.Get, "datasets/freshet", token: "ya29.not-issued");
        var token = await bq.TokenAsync();
        bq.Emulator.RevokeAccessTokens();
        var revoked = await bq.SendAsync(HttpMethod.Get, "datasets/freshet", token: token);

        Assert.All(new[] { missing, unknown, revoked }, answer =>
        {
            Assert.Equal(401, answer.Status);
            Assert.Equal(401, answer.Body!["error"]!["code"]!.GetValue<int>());
            Assert.Equal("UNAUTHENTICATED", answer.Body["error"]!["status"]!.GetValue<string>());
        });
    }

    [Fact]
    public async Task AppendRows_WithoutAValidToken_EndsUnauthenticated()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED")]);

        using var call = await bq.OpenAppendAsync(token: "ya29.not-issued");
        var failure = await Assert.ThrowsAsync<RpcException>(() => RawBigQuery.AppendAsync(call,
            bq.Request("t", RawBigQuery.Descriptor(("id", Google.Protobuf.Reflection.FieldDescriptorProto.Types.Type.Int64)), RawBigQuery.Row(1L))));

        Assert.Equal(StatusCode.Unauthenticated, failure.StatusCode);
        Assert.Empty(await bq.Emulator.QueryAsync("SELECT * FROM freshet.t"));
    }

    [Fact]
    public async Task KeyFile_HasTheFieldsGoogleAuthLibrariesRead()
    {
        await using var bq = await RawBigQuery.StartAsync();

        Assert.Equal("service_account", bq.KeyFile["type"]!.GetValue<string>());
        Assert.Equal(RawBigQuery.Account, bq.KeyFile["client_email"]!.GetValue<string>());
        Assert.Equal(bq.Emulator.TokenUri.ToString(), bq.KeyFile["token_uri"]!.GetValue<string>());
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", bq.KeyFile["private_key"]!.GetValue<string>(), StringComparison.Ordinal);
    }
}
