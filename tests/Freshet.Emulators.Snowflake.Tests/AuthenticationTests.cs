using System.Security.Cryptography;

namespace Freshet.Emulators.Snowflake.Tests;

/// <summary>Key-pair JWT, OAuth and header rules (docs: SQL API "Authenticating to the server", "Using key-pair authentication").</summary>
public sealed class AuthenticationTests
{
    [Fact]
    public async Task ValidKeyPairJwt_RunsTheStatement()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;

        var answer = await api.SubmitAsync("SELECT 1 AS one");

        Assert.Equal(200, answer.Status);
        Assert.Equal("090001", answer.Code);
        Assert.Equal([["1"]], answer.Rows);
        Assert.Equal("fixed", answer.Json!["resultSetMetaData"]!["rowType"]![0]!["type"]!.GetValue<string>());
    }

    public static TheoryData<string, string> InvalidTokens => new()
    {
        { "lifetime", "more than one hour" },
        { "expired", "expired" },
        { "future", "iat is in the future" },
        { "other key", "signature does not verify" },
        { "unregistered fingerprint", "no public key with fingerprint" },
        { "sub mismatch", "must equal the ACCOUNT.USER part" },
        { "other account", "is not this account" },
        { "region in account", "does not exist" },
        { "lower-case user", "upper case" },
        { "HS256", "alg must be RS256" },
        { "not a jwt", "three dot-separated parts" },
    };

    [Theory]
    [MemberData(nameof(InvalidTokens))]
    public async Task InvalidJwt_Is401WithTheRuleThatFailed(string defect, string reason)
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        using var otherKey = RSA.Create(2048);
        var now = DateTimeOffset.UtcNow;
        var fingerprint = RawApi.Fingerprint(otherKey);
        var token = defect switch
        {
            "lifetime" => api.Jwt(iat: now, exp: now.AddMinutes(61)),
            "expired" => api.Jwt(iat: now.AddMinutes(-70), exp: now.AddMinutes(-10)),
            "future" => api.Jwt(iat: now.AddMinutes(10), exp: now.AddMinutes(20)),
            "other key" => api.Jwt(signWith: otherKey),
            "unregistered fingerprint" => api.Jwt(iss: $"XY12345.LOADER.{fingerprint}", signWith: otherKey),
            "sub mismatch" => api.Jwt(sub: "XY12345.SOMEONE"),
            "other account" => api.Jwt(iss: $"AB99999.LOADER.{RawApi.Fingerprint(otherKey)}", sub: "AB99999.LOADER"),
            "region in account" => api.Jwt(iss: "XY12345.US-EAST-1.LOADER.SHA256:x", sub: "XY12345.US-EAST-1.LOADER"),
            "lower-case user" => api.Jwt(iss: "XY12345.loader.SHA256:x", sub: "XY12345.loader"),
            "HS256" => api.Jwt(alg: "HS256"),
            _ => "just-a-string",
        };

        var answer = await api.SendAsync(api.Request(HttpMethod.Post, "/api/v2/statements", RawApi.Body("SELECT 1"), token));

        Assert.Equal(401, answer.Status);
        Assert.Equal("390144", answer.Code);
        Assert.Contains(reason, answer.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SecondRegisteredKey_IsAcceptedForRotation()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        using var second = RSA.Create(2048);
        emulator.RegisterPublicKey("LOADER", second);

        var token = api.Jwt(iss: $"XY12345.LOADER.{RawApi.Fingerprint(second)}", signWith: second);
        var answer = await api.SendAsync(api.Request(HttpMethod.Post, "/api/v2/statements", RawApi.Body("SELECT 2"), token));

        Assert.Equal(200, answer.Status);
    }

    [Fact]
    public async Task OAuthToken_IsAcceptedUntilItExpires_AndUnknownOnesAreRefused()
    {
        var time = new ManualTime(DateTimeOffset.UtcNow);
        var (emulator, api) = await RawApi.StartAsync(new SnowflakeEmulatorOptions { Account = "XY12345", TimeProvider = time });
        await using var _ = emulator;
        using var __ = api;
        var token = emulator.IssueOAuthToken("LOADER", TimeSpan.FromMinutes(10));

        var valid = await api.SendAsync(api.Request(HttpMethod.Post, "/api/v2/statements", RawApi.Body("SELECT 1"), token, "OAUTH"));
        var unknown = await api.SendAsync(api.Request(HttpMethod.Post, "/api/v2/statements", RawApi.Body("SELECT 1"), "made-up", "OAUTH"));
        time.Now += TimeSpan.FromMinutes(11);
        var expired = await api.SendAsync(api.Request(HttpMethod.Post, "/api/v2/statements", RawApi.Body("SELECT 1"), token, "OAUTH"));
        var asJwt = await api.SendAsync(api.Request(HttpMethod.Post, "/api/v2/statements", RawApi.Body("SELECT 1"), token, "KEYPAIR_JWT"));

        Assert.Equal(200, valid.Status);
        Assert.Equal((401, "390303"), (unknown.Status, unknown.Code));
        Assert.Equal((401, "390318"), (expired.Status, expired.Code));
        Assert.Equal((401, "390144"), (asJwt.Status, asJwt.Code));
    }

    [Theory]
    [InlineData("User-Agent", 400)]
    [InlineData("Accept", 406)]
    [InlineData("X-Snowflake-Authorization-Token-Type", 401)]
    [InlineData("Authorization", 401)]
    [InlineData("Content-Type", 415)]
    public async Task MissingRequiredHeader_IsRefusedBeforeAnythingRuns(string header, int status)
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        var request = api.Request(HttpMethod.Post, "/api/v2/statements", RawApi.Body("CREATE TABLE never (id NUMBER)"));
        switch (header)
        {
            case "User-Agent":
                request.Headers.UserAgent.Clear();
                break;
            case "Accept":
                request.Headers.Accept.Clear();
                request.Headers.Accept.ParseAdd("text/plain");
                break;
            case "Content-Type":
                request.Content!.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
                break;
            default:
                request.Headers.Remove(header);
                break;
        }

        var answer = await api.SendAsync(request);

        Assert.Equal(status, answer.Status);
        Assert.Empty(await emulator.QueryAsync("SELECT table_name FROM information_schema.tables WHERE table_name = 'never'"));
    }
}

internal sealed class ManualTime(DateTimeOffset start) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = start;

    public override DateTimeOffset GetUtcNow() => Now;
}
