using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Freshet.DataPlane.Destinations.Snowflake;
using Microsoft.Extensions.Time.Testing;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

public sealed class SnowflakeAuthenticationTests
{
    [Theory]
    [InlineData("myorg-myaccount", "myorg-myaccount", "MYORG-MYACCOUNT")]
    [InlineData("MyOrg.MyAccount", "myorg-myaccount", "MYORG-MYACCOUNT")]
    [InlineData("xy12345", "xy12345", "XY12345")]
    [InlineData("xy12345.us-east-1", "xy12345.us-east-1", "XY12345")]
    [InlineData("xy12345.us-central1.gcp", "xy12345.us-central1.gcp", "XY12345")]
    [InlineData("https://XY12345.eu-central-1.snowflakecomputing.com/", "xy12345.eu-central-1", "XY12345")]
    [InlineData("myorg-myaccount.snowflakecomputing.com", "myorg-myaccount", "MYORG-MYACCOUNT")]
    public void AccountIdentifier_GivesHostAndJwtAccountName(string text, string identifier, string jwtAccount)
    {
        var account = SnowflakeAccount.Parse(text);

        Assert.Equal(identifier, account.Identifier);
        Assert.Equal(jwtAccount, account.JwtAccountName);
        Assert.Equal($"https://{identifier}.snowflakecomputing.com/", account.DefaultEndpoint.ToString());
    }

    [Theory]
    [InlineData("my account")]
    [InlineData("xy12345..us-east-1")]
    [InlineData("https://evil.example/?x=")]
    public void AccountIdentifier_Malformed_IsRefusedWithTheExpectedForms(string text)
    {
        var error = Assert.Throws<ArgumentException>(() => SnowflakeAccount.Parse(text));

        Assert.Contains(text.Trim().ToLowerInvariant().Contains("..", StringComparison.Ordinal) ? "empty part" : "orgname-accountname", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Fingerprint_IsWhatOpensslComputesFromThePublicKey()
    {
        using var key = RSA.Create(2048);
        var pem = Path.Combine(Path.GetTempPath(), $"freshet-sf-{Guid.NewGuid():N}.pub");
        await File.WriteAllTextAsync(pem, key.ExportSubjectPublicKeyInfoPem());
        try
        {
            // The command Snowflake's key-pair documentation gives for RSA_PUBLIC_KEY_FP.
            using var openssl = Process.Start(new ProcessStartInfo("bash", ["-c", $"openssl rsa -pubin -in '{pem}' -outform DER 2>/dev/null | openssl dgst -sha256 -binary | openssl enc -base64"])
            {
                RedirectStandardOutput = true,
            })!;
            var expected = (await openssl.StandardOutput.ReadToEndAsync()).Trim();
            await openssl.WaitForExitAsync();

            Assert.Equal("SHA256:" + expected, SnowflakeKeyPairTokenSource.Fingerprint(key));
        }
        finally
        {
            File.Delete(pem);
        }
    }

    [Fact]
    public async Task Jwt_HasTheDocumentedClaims_AndIsRenewedBeforeItExpires()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        using var key = RSA.Create(2048);
        using var source = new SnowflakeKeyPairTokenSource(SnowflakeAccount.Parse("xy12345.us-east-1"), "loader", key, time);

        var first = await source.GetTokenAsync(false, default);
        time.Advance(TimeSpan.FromMinutes(50));
        var cached = await source.GetTokenAsync(false, default);
        time.Advance(TimeSpan.FromMinutes(5));
        var renewed = await source.GetTokenAsync(false, default);

        var claims = JsonDocument.Parse(Base64Url(first.Split('.')[1])).RootElement;
        Assert.Equal("XY12345.LOADER." + SnowflakeKeyPairTokenSource.Fingerprint(key), claims.GetProperty("iss").GetString());
        Assert.Equal("XY12345.LOADER", claims.GetProperty("sub").GetString());
        Assert.Equal(59 * 60, claims.GetProperty("exp").GetInt64() - claims.GetProperty("iat").GetInt64());
        Assert.Equal(first, cached);
        Assert.NotEqual(first, renewed);
        Assert.Equal(2, source.Minted);
        var parts = first.Split('.');
        Assert.True(key.VerifyData(Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]), Base64Url(parts[2]), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));
    }

    [Fact]
    public async Task Client_KeepsWorkingAcrossHoursOfTokens_OnTheServicesClock()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var account = await SnowflakeTestAccount.StartAsync(o => o.TimeProvider = time);
        var tokens = account.KeyPair(time);
        var client = account.Client(time, tokens: tokens);

        for (var hour = 0; hour < 3; hour++)
        {
            var result = await client.ExecuteAsync(new SnowflakeStatement("SELECT 1"), default);
            Assert.Equal("1", result.Rows[0][0]);
            time.Advance(TimeSpan.FromMinutes(58));
        }

        Assert.Equal(3, tokens.Minted);
    }

    [Fact]
    public async Task EncryptedPrivateKey_NeedsItsPassphrase()
    {
        using var key = RSA.Create(2048);
        var pem = key.ExportEncryptedPkcs8PrivateKeyPem("s3cret", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 10_000));

        using var loaded = SnowflakeKeyPairTokenSource.LoadPrivateKey(pem, "s3cret");
        var missing = Assert.Throws<ArgumentException>(() => SnowflakeKeyPairTokenSource.LoadPrivateKey(pem, null));
        var wrong = Assert.Throws<ArgumentException>(() => SnowflakeKeyPairTokenSource.LoadPrivateKey(pem, "nope"));

        Assert.Equal(SnowflakeKeyPairTokenSource.Fingerprint(key), SnowflakeKeyPairTokenSource.Fingerprint(loaded));
        Assert.Contains("passphrase is required", missing.Message, StringComparison.Ordinal);
        Assert.Contains("passphrase right", wrong.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OAuthToken_IsAnAlternativeToKeyPairs()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        var token = account.Emulator.IssueOAuthToken("LOADER", TimeSpan.FromMinutes(10));
        var client = account.Client(tokens: new SnowflakeOAuthTokenSource(token));
        var refused = account.Client(tokens: new SnowflakeOAuthTokenSource("not-issued"));

        var result = await client.ExecuteAsync(new SnowflakeStatement("SELECT 'ok'"), default);
        var error = await Assert.ThrowsAsync<SnowflakeException>(() => refused.ExecuteAsync(new SnowflakeStatement("SELECT 1"), default));

        Assert.Equal("ok", result.Rows[0][0]);
        Assert.Equal((401, "390303", false), (error.HttpStatus, error.Code, error.IsRetryable));
    }

    private static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(padded + new string('=', (4 - padded.Length % 4) % 4));
    }
}
