using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>Supplies the bearer token of every SQL API request and its <c>X-Snowflake-Authorization-Token-Type</c>.</summary>
public interface ISnowflakeTokenSource
{
    /// <summary><c>KEYPAIR_JWT</c> or <c>OAUTH</c>.</summary>
    string TokenType { get; }

    /// <summary>A token valid now; <paramref name="renew"/> asks for a fresh one after the service refused the cached one.</summary>
    ValueTask<string> GetTokenAsync(bool renew, CancellationToken cancellationToken);
}

/// <summary>
/// Key-pair authentication: JWTs signed RS256 with the user's private key, <c>iss = ACCOUNT.USER.SHA256:fingerprint</c>
/// (fingerprint: base64 SHA-256 of the DER SubjectPublicKeyInfo, as <c>DESC USER</c> shows in RSA_PUBLIC_KEY_FP),
/// <c>sub = ACCOUNT.USER</c>, lifetime under the one-hour maximum. A token is cached and replaced once less than
/// <see cref="RenewBefore"/> of it is left, so no request carries a token that expires in flight.
/// </summary>
public sealed class SnowflakeKeyPairTokenSource : ISnowflakeTokenSource, IDisposable
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(59);
    public static readonly TimeSpan RenewBefore = TimeSpan.FromMinutes(5);

    private readonly RSA _privateKey;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private string? _token;
    private DateTimeOffset _expiresAt;

    public SnowflakeKeyPairTokenSource(SnowflakeAccount account, string user, RSA privateKey, TimeProvider time)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(user);
        _privateKey = privateKey;
        _time = time;
        QualifiedUser = account.JwtAccountName + "." + user.ToUpperInvariant();
        PublicKeyFingerprint = Fingerprint(privateKey);
    }

    public string TokenType => "KEYPAIR_JWT";

    /// <summary><c>ACCOUNT.USER</c>, the JWT subject.</summary>
    public string QualifiedUser { get; }

    /// <summary><c>SHA256:…</c>, the value Snowflake shows as RSA_PUBLIC_KEY_FP.</summary>
    public string PublicKeyFingerprint { get; }

    /// <summary>Tokens minted so far (a renewal is visible as a new one).</summary>
    public int Minted { get; private set; }

    /// <summary>Loads a PEM private key (PKCS#8, encrypted PKCS#8 with <paramref name="passphrase"/>, or PKCS#1).</summary>
    public static RSA LoadPrivateKey(string pem, string? passphrase)
    {
        var rsa = RSA.Create();
        try
        {
            if (pem.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
            {
                if (string.IsNullOrEmpty(passphrase))
                {
                    throw new ArgumentException("The private key is encrypted; its passphrase is required.", nameof(passphrase));
                }
                rsa.ImportFromEncryptedPem(pem, passphrase);
            }
            else
            {
                rsa.ImportFromPem(pem);
            }
            return rsa;
        }
        catch (CryptographicException exception)
        {
            rsa.Dispose();
            throw new ArgumentException("The private key could not be read (a PEM RSA private key is expected; is the passphrase right?): " + exception.Message, nameof(pem), exception);
        }
    }

    public static string Fingerprint(RSA key) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    public ValueTask<string> GetTokenAsync(bool renew, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            if (renew || _token is null || now >= _expiresAt - RenewBefore)
            {
                (_token, _expiresAt) = Mint(now);
                Minted++;
            }
            return ValueTask.FromResult(_token);
        }
    }

    private (string Token, DateTimeOffset ExpiresAt) Mint(DateTimeOffset now)
    {
        var expiresAt = now + Lifetime;
        var header = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, string> { ["alg"] = "RS256", ["typ"] = "JWT" }));
        var payload = Base64Url(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["iss"] = QualifiedUser + "." + PublicKeyFingerprint,
            ["sub"] = QualifiedUser,
            ["iat"] = now.ToUnixTimeSeconds(),
            ["exp"] = expiresAt.ToUnixTimeSeconds(),
        }));
        var signature = _privateKey.SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return (header + "." + payload + "." + Base64Url(signature), expiresAt);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public void Dispose() => _privateKey.Dispose();
}

/// <summary>An OAuth access token obtained elsewhere (the connection's settings or an identity provider).</summary>
public sealed class SnowflakeOAuthTokenSource(Func<bool, CancellationToken, ValueTask<string>> getToken) : ISnowflakeTokenSource
{
    public SnowflakeOAuthTokenSource(string token) : this((_, _) => ValueTask.FromResult(token))
    {
    }

    public string TokenType => "OAUTH";

    public ValueTask<string> GetTokenAsync(bool renew, CancellationToken cancellationToken) => getToken(renew, cancellationToken);
}
