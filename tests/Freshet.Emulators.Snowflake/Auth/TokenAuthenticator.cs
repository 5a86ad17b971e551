using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Freshet.Emulators.Snowflake.Engine;

namespace Freshet.Emulators.Snowflake.Auth;

/// <summary>
/// Checks the Authorization header the way Snowflake's documentation describes it (developer-guide/sql-api/authenticating,
/// user-guide/key-pair-auth): a key-pair JWT signed RS256 with the private key whose public key is registered on the user,
/// <c>iss = ACCOUNT.USER.SHA256:fingerprint</c> (base64 SHA-256 of the DER SubjectPublicKeyInfo), <c>sub = ACCOUNT.USER</c>,
/// <c>iat</c>, and <c>exp</c> at most one hour after it; or an OAuth access token the account issued.
/// </summary>
internal sealed class TokenAuthenticator(SnowflakeEmulatorOptions options)
{
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, RSA>> _keysByUser = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string User, DateTimeOffset ExpiresAt)> _oauthTokens = new(StringComparer.Ordinal);

    public static string Fingerprint(RSA key) => "SHA256:" + Convert.ToBase64String(SHA256.HashData(key.ExportSubjectPublicKeyInfo()));

    /// <summary>ALTER USER … SET RSA_PUBLIC_KEY: a user may hold two keys at once (RSA_PUBLIC_KEY_2) for rotation.</summary>
    public string RegisterPublicKey(string user, RSA publicKey)
    {
        var copy = RSA.Create();
        copy.ImportSubjectPublicKeyInfo(publicKey.ExportSubjectPublicKeyInfo(), out _);
        var fingerprint = Fingerprint(copy);
        _keysByUser.GetOrAdd(user.ToUpperInvariant(), _ => new ConcurrentDictionary<string, RSA>(StringComparer.Ordinal))[fingerprint] = copy;
        return fingerprint;
    }

    public void RemovePublicKeys(string user) => _keysByUser.TryRemove(user.ToUpperInvariant(), out _);

    public string IssueOAuthToken(string user, TimeSpan lifetime)
    {
        var token = "ver:1-hint:" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        _oauthTokens[token] = (user.ToUpperInvariant(), options.TimeProvider.GetUtcNow() + lifetime);
        return token;
    }

    /// <summary>The authenticated user, or an error to answer with.</summary>
    public string Authenticate(string? authorization, string? tokenType)
    {
        if (string.IsNullOrEmpty(authorization) || !authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            throw new SqlApiError(401, "390101", "08001", "Authorization header is missing or is not 'Bearer <token>'.");
        }
        var token = authorization["Bearer ".Length..].Trim();
        return tokenType switch
        {
            "KEYPAIR_JWT" => ValidateJwt(token),
            "OAUTH" => ValidateOAuth(token),
            null or "" => throw new SqlApiError(401, "390101", "08001", "X-Snowflake-Authorization-Token-Type header is missing (KEYPAIR_JWT or OAUTH)."),
            _ => throw new SqlApiError(401, "390101", "08001", $"X-Snowflake-Authorization-Token-Type '{tokenType}' is not supported (KEYPAIR_JWT or OAUTH)."),
        };
    }

    private string ValidateOAuth(string token)
    {
        if (!_oauthTokens.TryGetValue(token, out var entry))
        {
            throw new SqlApiError(401, "390303", "08001", "Invalid OAuth access token.");
        }
        if (entry.ExpiresAt <= options.TimeProvider.GetUtcNow())
        {
            throw new SqlApiError(401, "390318", "08001", "OAuth access token expired.");
        }
        return entry.User;
    }

    // The real service answers every JWT failure with the same 390144 "JWT token is invalid."; the emulator appends the
    // rule that failed so that a test can tell which rule it exercised.
    private string ValidateJwt(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 3)
        {
            throw Invalid("not three dot-separated parts");
        }
        JsonElement header, payload;
        try
        {
            header = JsonDocument.Parse(Base64Url(parts[0])).RootElement;
            payload = JsonDocument.Parse(Base64Url(parts[1])).RootElement;
        }
        catch (Exception exception) when (exception is FormatException or JsonException)
        {
            throw Invalid("header or payload is not base64url JSON");
        }
        if (!header.TryGetProperty("alg", out var alg) || alg.GetString() != "RS256")
        {
            throw Invalid("alg must be RS256");
        }
        var issuer = StringClaim(payload, "iss");
        var subject = StringClaim(payload, "sub");
        var marker = issuer.IndexOf(".SHA256:", StringComparison.Ordinal);
        if (marker < 0)
        {
            throw Invalid("iss must be ACCOUNT.USER.SHA256:<fingerprint>");
        }
        var qualifiedUser = issuer[..marker];
        var fingerprint = issuer[(marker + 1)..];
        if (subject != qualifiedUser)
        {
            throw Invalid($"sub '{subject}' must equal the ACCOUNT.USER part of iss '{qualifiedUser}'");
        }
        var dot = qualifiedUser.IndexOf('.', StringComparison.Ordinal);
        if (dot < 0)
        {
            throw Invalid("sub must be ACCOUNT.USER");
        }
        var account = qualifiedUser[..dot];
        var user = qualifiedUser[(dot + 1)..];
        if (account != options.Account)
        {
            throw Invalid($"account '{account}' is not this account ('{options.Account}', upper case, locator without region)");
        }
        if (user != user.ToUpperInvariant())
        {
            throw Invalid("user name in iss/sub must be upper case");
        }
        if (!_keysByUser.TryGetValue(user, out var keys))
        {
            throw Invalid($"user '{user}' does not exist or has no public key (the account part must be the locator without region, or ORG-ACCOUNT)");
        }
        if (!keys.TryGetValue(fingerprint, out var key))
        {
            throw Invalid($"no public key with fingerprint {fingerprint} is registered for user {user}");
        }
        var signed = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        byte[] signature;
        try
        {
            signature = Base64Url(parts[2]);
        }
        catch (FormatException)
        {
            throw Invalid("signature is not base64url");
        }
        if (!key.VerifyData(signed, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1))
        {
            throw Invalid("signature does not verify against the registered public key");
        }
        var issuedAt = NumericClaim(payload, "iat");
        var expiresAt = NumericClaim(payload, "exp");
        var now = options.TimeProvider.GetUtcNow().ToUnixTimeSeconds();
        var skew = (long)options.ClockSkew.TotalSeconds;
        if (issuedAt > now + skew)
        {
            throw Invalid("iat is in the future");
        }
        if (expiresAt <= now - skew)
        {
            throw Invalid("token expired");
        }
        if (expiresAt - issuedAt > (long)options.MaxJwtLifetime.TotalSeconds)
        {
            throw Invalid("exp is more than one hour after iat");
        }
        return user;
    }

    private static string StringClaim(JsonElement payload, string name) =>
        payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString()! : throw Invalid($"claim '{name}' is missing");

    private static long NumericClaim(JsonElement payload, string name) =>
        payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetInt64() : throw Invalid($"claim '{name}' is missing or not a number");

    private static SqlApiError Invalid(string reason) => new(401, "390144", "08001", $"JWT token is invalid. ({reason})");

    private static byte[] Base64Url(string text)
    {
        var padded = text.Replace('-', '+').Replace('_', '/');
        padded += (padded.Length % 4) switch
        {
            2 => "==",
            3 => "=",
            0 => "",
            _ => throw new FormatException(),
        };
        return Convert.FromBase64String(padded);
    }
}
