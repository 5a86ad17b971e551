using System.Text.Json;
using Google.Apis.Auth.OAuth2;
using Google.Apis.Auth.OAuth2.Responses;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>Supplies OAuth2 access tokens for BigQuery calls.</summary>
public interface IBigQueryTokenSource
{
    /// <summary>A valid access token: the cached one, or (with <paramref name="renew"/>, after a 401) a freshly requested one.</summary>
    Task<string> GetTokenAsync(bool renew, CancellationToken cancellationToken);
}

/// <summary>
/// Access tokens for a service account, from its JSON key file, through Google.Apis.Auth's OAuth2 service-account flow:
/// an RS256 JWT assertion signed with the key is exchanged at the key file's <c>token_uri</c> (so tests point it at the
/// emulator) for a token that is cached and renewed shortly before it expires.
/// </summary>
public sealed class ServiceAccountTokenSource : IBigQueryTokenSource
{
    /// <summary>Reaches BigQuery's REST API and the Storage Write API.</summary>
    public const string BigQueryScope = "https://www.googleapis.com/auth/bigquery";

    private const string DefaultTokenUri = "https://oauth2.googleapis.com/token";

    private readonly ServiceAccountCredential _credential;

    private ServiceAccountTokenSource(ServiceAccountCredential credential, string clientEmail, string? projectId)
    {
        _credential = credential;
        ClientEmail = clientEmail;
        ProjectId = projectId;
    }

    /// <summary>The service account's email (<c>client_email</c>).</summary>
    public string ClientEmail { get; }

    /// <summary>The key file's <c>project_id</c>, when present.</summary>
    public string? ProjectId { get; }

    /// <summary>Reads a service-account key file's JSON; a malformed key is an <see cref="ArgumentException"/> saying what is wrong.</summary>
    public static ServiceAccountTokenSource FromJson(string keyJson)
    {
        JsonElement root;
        try
        {
            root = JsonDocument.Parse(keyJson).RootElement;
        }
        catch (JsonException exception)
        {
            throw new ArgumentException("The BigQuery service account key is not JSON: " + exception.Message, nameof(keyJson));
        }
        string? Field(string name) => root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
        var type = Field("type");
        if (type != "service_account")
        {
            throw new ArgumentException($"The BigQuery key must be a service account key file (\"type\": \"service_account\"), not \"{type ?? "(missing)"}\".", nameof(keyJson));
        }
        var email = Field("client_email") ?? throw new ArgumentException("The service account key has no client_email.", nameof(keyJson));
        var privateKey = Field("private_key") ?? throw new ArgumentException("The service account key has no private_key.", nameof(keyJson));
        var tokenUri = Field("token_uri") ?? DefaultTokenUri;
        if (!Uri.TryCreate(tokenUri, UriKind.Absolute, out _))
        {
            throw new ArgumentException($"The service account key's token_uri '{tokenUri}' is not an absolute URL.", nameof(keyJson));
        }
        ServiceAccountCredential.Initializer initializer;
        try
        {
            initializer = new ServiceAccountCredential.Initializer(email, tokenUri)
            {
                Scopes = [BigQueryScope],
                KeyId = Field("private_key_id"),
                ProjectId = Field("project_id"),
            }.FromPrivateKey(privateKey);
        }
        catch (Exception exception) when (exception is ArgumentException or FormatException or System.Security.Cryptography.CryptographicException)
        {
            throw new ArgumentException("The service account key's private_key is not a PEM RSA private key: " + exception.Message, nameof(keyJson));
        }
        return new ServiceAccountTokenSource(new ServiceAccountCredential(initializer), email, Field("project_id"));
    }

    public async Task<string> GetTokenAsync(bool renew, CancellationToken cancellationToken)
    {
        try
        {
            if (renew)
            {
                await _credential.RequestAccessTokenAsync(cancellationToken).ConfigureAwait(false);
                return _credential.Token.AccessToken;
            }
            return await _credential.GetAccessTokenForRequestAsync(null, cancellationToken).ConfigureAwait(false);
        }
        catch (TokenResponseException exception)
        {
            // invalid_grant: the key was deleted or disabled, the account does not exist, or the clock is off.
            var status = (int?)exception.StatusCode ?? 400;
            var retryable = status is 429 or >= 500;
            throw new BigQueryException(
                $"The token endpoint refused service account {ClientEmail} ({exception.Error?.Error}: {exception.Error?.ErrorDescription}).",
                status, exception.Error?.Error, retryable, inner: exception);
        }
        catch (HttpRequestException exception)
        {
            throw new BigQueryException($"The token endpoint {_credential.TokenServerUrl} could not be reached: {exception.Message}", 0, null, isRetryable: true, inner: exception);
        }
    }
}
