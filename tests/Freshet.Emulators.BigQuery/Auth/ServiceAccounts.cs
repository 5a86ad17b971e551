using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Freshet.Emulators.BigQuery.Auth;

/// <summary>An OAuth2 error answer of the token endpoint (RFC 6749 §5.2): 400 with <c>error</c> and <c>error_description</c>.</summary>
internal sealed class OAuthError(string error, string description) : Exception(description)
{
    public string Error { get; } = error;
}

/// <summary>
/// Service accounts and the access tokens issued to them. The token endpoint follows Google's OAuth2 service-account flow
/// (developers.google.com/identity/protocols/oauth2/service-account, "Preparing to make an authorized API call"):
/// <c>grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer</c> with an RS256 JWT assertion whose <c>iss</c> is the
/// account's email, <c>aud</c> https://oauth2.googleapis.com/token, <c>scope</c> the requested scopes, and <c>exp</c> at most one hour after
/// <c>iat</c>, signed with the account's private key.
/// </summary>
internal sealed class ServiceAccounts(BigQueryEmulatorOptions options)
{
    public const string JwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer";

    /// <summary>The audience Google's service-account flow documents for every token request.</summary>
    public const string GoogleTokenAudience = "https://oauth2.googleapis.com/token";

    // Scopes that reach BigQuery and the Storage Write API.
    private static readonly string[] BigQueryScopes =
    [
        "https://www.googleapis.com/auth/bigquery",
        "https://www.googleapis.com/auth/bigquery.insertdata",
        "https://www.googleapis.com/auth/cloud-platform",
    ];

    private readonly ConcurrentDictionary<string, ConcurrentDictionary<string, RSA>> _keysByAccount = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, (string Account, DateTimeOffset ExpiresAt)> _accessTokens = new(StringComparer.Ordinal);

    /// <summary>Creates (or adds a key to) a service account and returns its JSON key file, as the console would.</summary>
    public string CreateKey(string email, Uri tokenUri)
    {
        using var key = RSA.Create(2048);
        var keyId = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(20));
        var publicKey = RSA.Create();
        publicKey.ImportSubjectPublicKeyInfo(key.ExportSubjectPublicKeyInfo(), out _);
        _keysByAccount.GetOrAdd(email, _ => new ConcurrentDictionary<string, RSA>(StringComparer.Ordinal))[keyId] = publicKey;
        return new JsonObject
        {
            ["type"] = "service_account",
            ["project_id"] = options.ProjectId,
            ["private_key_id"] = keyId,
            ["private_key"] = key.ExportPkcs8PrivateKeyPem() + "\n",
            ["client_email"] = email,
            ["client_id"] = "1" + Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(email)))[..20],
            ["auth_uri"] = "https://accounts.google.com/o/oauth2/auth",
            ["token_uri"] = tokenUri.ToString(),
        }.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Deletes every key of an account: its assertions no longer verify (issued tokens stay valid until they expire).</summary>
    public void DeleteKeys(string email) => _keysByAccount.TryRemove(email, out _);

    /// <summary>Makes every issued token invalid (as if each had expired).</summary>
    public void RevokeAccessTokens() => _accessTokens.Clear();

    private int _issuedTokens;

    public int IssuedTokens => Volatile.Read(ref _issuedTokens);

    /// <summary>Checks a token request and returns the issued token; throws <see cref="OAuthError"/>.</summary>
    public (string Token, int ExpiresIn) Exchange(string? grantType, string? assertion)
    {
        if (grantType != JwtBearerGrant)
        {
            throw new OAuthError("unsupported_grant_type", $"Invalid grant_type: {grantType}");
        }
        if (string.IsNullOrEmpty(assertion))
        {
            throw new OAuthError("invalid_request", "Missing required parameter: assertion");
        }
        var account = Validate(assertion);
        var token = "ya29.emulator-" + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        _accessTokens[token] = (account, options.TimeProvider.GetUtcNow() + options.AccessTokenLifetime);
        Interlocked.Increment(ref _issuedTokens);
        return (token, (int)options.AccessTokenLifetime.TotalSeconds);
    }

    /// <summary>The account an Authorization header's bearer token belongs to, or null (missing, unknown or expired).</summary>
    public string? Authenticate(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.Ordinal))
        {
            return null;
        }
        var token = authorization["Bearer ".Length..].Trim();
        return _accessTokens.TryGetValue(token, out var entry) && entry.ExpiresAt > options.TimeProvider.GetUtcNow() ? entry.Account : null;
    }

    private string Validate(string assertion)
    {
        var parts = assertion.Split('.');
        if (parts.Length != 3)
        {
            throw new OAuthError("invalid_grant", "Invalid JWT: the assertion is not a JWS compact serialization.");
        }
        JsonElement header, payload;
        try
        {
            header = JsonDocument.Parse(Base64Url(parts[0])).RootElement;
            payload = JsonDocument.Parse(Base64Url(parts[1])).RootElement;
        }
        catch (Exception exception) when (exception is FormatException or JsonException)
        {
            throw new OAuthError("invalid_grant", "Invalid JWT: header or payload is not base64url JSON.");
        }
        if (!header.TryGetProperty("alg", out var alg) || alg.GetString() != "RS256")
        {
            throw new OAuthError("invalid_grant", "Invalid JWT: alg must be RS256.");
        }
        var issuer = Claim(payload, "iss");
        if (!_keysByAccount.TryGetValue(issuer, out var keys) || keys.IsEmpty)
        {
            throw new OAuthError("invalid_grant", $"Invalid JWT: no service account {issuer} with a key.");
        }
        var signed = Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]);
        byte[] signature;
        try
        {
            signature = Base64Url(parts[2]);
        }
        catch (FormatException)
        {
            throw new OAuthError("invalid_grant", "Invalid JWT Signature.");
        }
        // kid names the key when present; otherwise any of the account's keys may have signed.
        var candidates = header.TryGetProperty("kid", out var kid) && kid.GetString() is { } keyId
            ? keys.TryGetValue(keyId, out var named) ? [named] : []
            : keys.Values.ToArray();
        if (!candidates.Any(k => k.VerifyData(signed, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)))
        {
            throw new OAuthError("invalid_grant", "Invalid JWT Signature.");
        }
        // "When making an access token request this value is always https://oauth2.googleapis.com/token" — also when the
        // request goes elsewhere (here, the emulator).
        var audience = Claim(payload, "aud");
        if (!string.Equals(audience, GoogleTokenAudience, StringComparison.Ordinal))
        {
            throw new OAuthError("invalid_grant", $"Invalid JWT: aud '{audience}' must be {GoogleTokenAudience}.");
        }
        var now = options.TimeProvider.GetUtcNow().ToUnixTimeSeconds();
        var skew = (long)options.ClockSkew.TotalSeconds;
        var issuedAt = NumericClaim(payload, "iat");
        var expiresAt = NumericClaim(payload, "exp");
        if (issuedAt > now + skew || expiresAt <= now - skew)
        {
            throw new OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
        }
        if (expiresAt - issuedAt > (long)options.MaxAssertionLifetime.TotalSeconds)
        {
            throw new OAuthError("invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.");
        }
        var scopes = payload.TryGetProperty("scope", out var scope) && scope.ValueKind == JsonValueKind.String
            ? scope.GetString()!.Split(' ', StringSplitOptions.RemoveEmptyEntries)
            : [];
        if (scopes.Length == 0)
        {
            throw new OAuthError("invalid_scope", "Invalid oauth scope or ID token audience provided.");
        }
        if (!scopes.Any(s => BigQueryScopes.Contains(s, StringComparer.Ordinal)))
        {
            // Google would issue the token and the API would answer 403 insufficient scopes; the emulator refuses early.
            throw new OAuthError("invalid_scope", $"None of the scopes ({string.Join(' ', scopes)}) reaches BigQuery.");
        }
        return issuer;
    }

    private static string Claim(JsonElement payload, string name) =>
        payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw new OAuthError("invalid_grant", $"Invalid JWT: claim '{name}' is missing.");

    private static long NumericClaim(JsonElement payload, string name) =>
        payload.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number
            ? value.GetInt64()
            : throw new OAuthError("invalid_grant", $"Invalid JWT: claim '{name}' is missing or not a number.");

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
