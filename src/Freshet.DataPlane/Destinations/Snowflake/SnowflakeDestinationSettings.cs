using System.Globalization;
using Freshet.Contracts;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// A Snowflake destination's endpoint settings, as the API's connection type defines them (account, user, warehouse,
/// database, schema, role, batch_latency_target_s; secrets private_key and private_key_passphrase, or oauth_token), plus
/// two the worker alone reads: <c>endpoint</c> (another API root than the account's: PrivateLink, or the emulator in
/// tests) and <c>max_request_bytes</c> (the largest SQL API request body sent; Snowflake documents no figure).
/// </summary>
internal sealed record SnowflakeDestinationSettings
{
    /// <summary>Used when a connection does not say: a warehouse is woken at most about twice a minute per pipeline.</summary>
    public static readonly TimeSpan DefaultLatencyTarget = TimeSpan.FromSeconds(30);

    /// <summary>The most a latency target may be: an hour (beyond it the source's log grows for nothing).</summary>
    public static readonly TimeSpan MaxLatencyTarget = TimeSpan.FromHours(1);

    public const int DefaultMaxRequestBytes = 8 * 1024 * 1024;

    public required SnowflakeAccount Account { get; init; }

    public required string User { get; init; }

    public required Uri Endpoint { get; init; }

    public required string Database { get; init; }

    public required string Schema { get; init; }

    public string? Warehouse { get; init; }

    public string? Role { get; init; }

    public required TimeSpan LatencyTarget { get; init; }

    public required int MaxRequestBytes { get; init; }

    /// <summary>Reads and checks the settings; every problem is named with its setting in one <see cref="ArgumentException"/>.</summary>
    public static SnowflakeDestinationSettings From(EndpointSpec endpoint)
    {
        var errors = new List<string>();
        string? Required(string name)
        {
            if (endpoint.Settings.GetValueOrDefault(name) is { Length: > 0 } value)
            {
                return value.Trim();
            }
            errors.Add($"setting '{name}' is required");
            return null;
        }

        SnowflakeAccount? account = null;
        if (Required("account") is { } accountText)
        {
            try
            {
                account = SnowflakeAccount.Parse(accountText);
            }
            catch (ArgumentException e)
            {
                errors.Add($"setting 'account': {e.Message}");
            }
        }
        var user = Required("user");
        var database = Required("database");
        var schema = endpoint.Settings.GetValueOrDefault("schema") is { Length: > 0 } s ? s.Trim() : "PUBLIC";

        Uri? root = null;
        if (endpoint.Settings.GetValueOrDefault("endpoint") is { Length: > 0 } rootText)
        {
            if (!Uri.TryCreate(rootText.EndsWith('/') ? rootText : rootText + "/", UriKind.Absolute, out root) || root.Scheme is not ("https" or "http"))
            {
                errors.Add($"setting 'endpoint': '{rootText}' is not an http(s) address");
            }
        }

        var latency = DefaultLatencyTarget;
        if (endpoint.Settings.GetValueOrDefault("batch_latency_target_s") is { Length: > 0 } latencyText)
        {
            if (ParseLatency(latencyText) is { } parsed)
            {
                latency = parsed;
            }
            else
            {
                errors.Add($"setting 'batch_latency_target_s': '{latencyText}' must be a number of seconds above 0 and at most {MaxLatencyTarget.TotalSeconds}");
            }
        }

        var maxRequestBytes = DefaultMaxRequestBytes;
        if (endpoint.Settings.GetValueOrDefault("max_request_bytes") is { Length: > 0 } bytesText)
        {
            // Below 64 KiB a request could not carry the statements of a wide table besides any rows.
            if (!int.TryParse(bytesText, NumberStyles.None, CultureInfo.InvariantCulture, out maxRequestBytes) || maxRequestBytes < 64 * 1024)
            {
                errors.Add($"setting 'max_request_bytes': '{bytesText}' must be a whole number of bytes, at least 65536");
            }
        }

        if (!endpoint.Secrets.ContainsKey("private_key") && !endpoint.Secrets.ContainsKey("oauth_token"))
        {
            errors.Add("secret 'private_key' is required (or 'oauth_token')");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("The Snowflake connection is not usable: " + string.Join("; ", errors) + ".");
        }

        return new SnowflakeDestinationSettings
        {
            Account = account!,
            User = user!,
            Endpoint = root ?? account!.DefaultEndpoint,
            Database = database!,
            Schema = schema,
            Warehouse = endpoint.Settings.GetValueOrDefault("warehouse") is { Length: > 0 } w ? w.Trim() : null,
            Role = endpoint.Settings.GetValueOrDefault("role") is { Length: > 0 } r ? r.Trim() : null,
            LatencyTarget = latency,
            MaxRequestBytes = maxRequestBytes,
        };
    }

    /// <summary>The SQL API client this connection needs, with its token source; both are disposed with the returned scope.</summary>
    public static SnowflakeConnection Connect(EndpointSpec endpoint, TimeProvider time, ILogger logger, int maxRetryAttempts = 6)
    {
        var settings = From(endpoint);
        ISnowflakeTokenSource tokens;
        IDisposable? ownedTokens = null;
        string? fingerprint = null;
        if (endpoint.Secrets.GetValueOrDefault("private_key") is { Length: > 0 } pem)
        {
            System.Security.Cryptography.RSA key;
            try
            {
                key = SnowflakeKeyPairTokenSource.LoadPrivateKey(pem, endpoint.Secrets.GetValueOrDefault("private_key_passphrase"));
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"The Snowflake connection is not usable: secret 'private_key': {e.Message}", e);
            }

            var keyPair = new SnowflakeKeyPairTokenSource(settings.Account, settings.User, key, time);
            tokens = keyPair;
            ownedTokens = keyPair;
            fingerprint = keyPair.PublicKeyFingerprint;
        }
        else
        {
            tokens = new SnowflakeOAuthTokenSource(endpoint.Secrets["oauth_token"]);
        }

        var http = WarehouseHttp.CreateClient(settings.Endpoint);
        var client = new SnowflakeSqlClient(http, new SnowflakeClientOptions
        {
            Endpoint = settings.Endpoint,
            Database = settings.Database,
            Schema = settings.Schema,
            Warehouse = settings.Warehouse,
            Role = settings.Role,
            MaxRetryAttempts = maxRetryAttempts,
        }, tokens, time, logger);
        return new SnowflakeConnection(settings, client, http, ownedTokens, fingerprint);
    }

    /// <summary>The latency target of a pipeline writing to <paramref name="endpoint"/>, or null when it is no Snowflake destination.</summary>
    /// <remarks>A setting that cannot be read counts as the default here; the destination itself refuses it with its reason.</remarks>
    public static TimeSpan? LatencyTargetOf(EndpointSpec endpoint) =>
        endpoint.Type != ConnectionType.Snowflake ? null
        : endpoint.Settings.GetValueOrDefault("batch_latency_target_s") is { Length: > 0 } text ? ParseLatency(text) ?? DefaultLatencyTarget
        : DefaultLatencyTarget;

    private static TimeSpan? ParseLatency(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0 && seconds <= MaxLatencyTarget.TotalSeconds
            ? TimeSpan.FromSeconds(seconds)
            : null;
}

/// <summary>A connected client and what it owns.</summary>
internal sealed class SnowflakeConnection(SnowflakeDestinationSettings settings, SnowflakeSqlClient client, HttpClient http, IDisposable? tokens, string? keyFingerprint)
    : IDisposable
{
    /// <summary>The SHA256 fingerprint of the key pair's public key (what Snowflake shows as RSA_PUBLIC_KEY_FP), when a key signs in.</summary>
    public string? KeyFingerprint { get; } = keyFingerprint;

    public SnowflakeDestinationSettings Settings { get; } = settings;

    public SnowflakeSqlClient Client { get; } = client;

    public void Dispose()
    {
        http.Dispose();
        tokens?.Dispose();
    }
}
