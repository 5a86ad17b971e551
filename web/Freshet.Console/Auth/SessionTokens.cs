using System.Globalization;
using System.Security.Claims;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace Freshet.Console.Auth;

/// <summary>The session ended (signed out elsewhere, refresh refused, console restarted): the person must sign in again.</summary>
internal sealed class SessionExpiredException(string message) : Exception(message);

/// <summary>
/// Hands out the signed-in person's access token, refreshing it with the refresh token when it is about to expire. The
/// tokens never leave the server.
/// </summary>
internal sealed partial class SessionTokens(
    SessionTicketStore store, IHttpClientFactory httpClients, IOptions<ConsoleOptions> options, TimeProvider clock, ILogger<SessionTokens> logger)
{
    public const string TokenClient = "freshet-oauth";

    // One refresh at a time: two circuits of one person would otherwise both spend the same refresh token, and the
    // control plane revokes a refresh token used twice.
    private readonly SemaphoreSlim _refresh = new(1, 1);

    public async Task<string> GetAccessTokenAsync(ClaimsPrincipal user, CancellationToken cancellationToken)
    {
        var key = SessionTicketStore.SessionOf(user) ?? throw new SessionExpiredException("You are not signed in.");
        var ticket = await store.RetrieveAsync(key) ?? throw new SessionExpiredException("Your session has ended. Sign in again.");
        if (!IsExpiring(ticket.Properties) && ticket.Properties.GetTokenValue("access_token") is { } fresh)
        {
            return fresh;
        }

        await _refresh.WaitAsync(cancellationToken);
        try
        {
            ticket = await store.RetrieveAsync(key) ?? throw new SessionExpiredException("Your session has ended. Sign in again.");
            if (!IsExpiring(ticket.Properties) && ticket.Properties.GetTokenValue("access_token") is { } refreshedMeanwhile)
            {
                return refreshedMeanwhile;
            }

            var refreshToken = ticket.Properties.GetTokenValue("refresh_token") ?? throw new SessionExpiredException("Your session has expired. Sign in again.");
            var tokens = await RefreshAsync(refreshToken, cancellationToken);
            ticket.Properties.UpdateTokenValue("access_token", tokens.AccessToken);
            if (tokens.RefreshToken is { } rotated)
            {
                ticket.Properties.UpdateTokenValue("refresh_token", rotated);
            }

            ticket.Properties.UpdateTokenValue("expires_at", clock.GetUtcNow().AddSeconds(tokens.ExpiresIn).ToString("o", CultureInfo.InvariantCulture));
            await store.RenewAsync(key, ticket);
            return tokens.AccessToken;
        }
        finally
        {
            _refresh.Release();
        }
    }

    /// <summary>Revokes the refresh token at the control plane, so the session cannot be revived from a copy of it.</summary>
    public async Task RevokeAsync(string refreshToken, CancellationToken cancellationToken)
    {
        var console = options.Value;
        using var response = await httpClients.CreateClient(TokenClient).PostAsync("connect/revoke", new FormUrlEncodedContent(ClientFields(
            new("token", refreshToken), new("token_type_hint", "refresh_token"))), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            LogRevokeFailed(logger, (int)response.StatusCode, console.ClientId);
        }
    }

    private bool IsExpiring(AuthenticationProperties properties) =>
        !DateTimeOffset.TryParse(properties.GetTokenValue("expires_at"), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var expiresAt)
        || expiresAt - options.Value.RefreshBeforeExpiry <= clock.GetUtcNow();

    private async Task<TokenResponse> RefreshAsync(string refreshToken, CancellationToken cancellationToken)
    {
        using var response = await httpClients.CreateClient(TokenClient).PostAsync("connect/token", new FormUrlEncodedContent(ClientFields(
            new("grant_type", "refresh_token"), new("refresh_token", refreshToken))), cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            LogRefreshRefused(logger, (int)response.StatusCode);
            throw new SessionExpiredException("Your session has expired. Sign in again.");
        }

        using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
        var root = body.RootElement;
        return new TokenResponse(
            root.GetProperty("access_token").GetString()!,
            root.TryGetProperty("refresh_token", out var rotated) ? rotated.GetString() : null,
            root.TryGetProperty("expires_in", out var expiresIn) ? expiresIn.GetInt32() : 3600);
    }

    private IEnumerable<KeyValuePair<string, string>> ClientFields(params KeyValuePair<string, string>[] fields)
    {
        var console = options.Value;
        yield return new("client_id", console.ClientId);
        if (!string.IsNullOrEmpty(console.ClientSecret))
        {
            yield return new("client_secret", console.ClientSecret);
        }

        foreach (var field in fields)
        {
            yield return field;
        }
    }

    private sealed record TokenResponse(string AccessToken, string? RefreshToken, int ExpiresIn);

    [LoggerMessage(Level = LogLevel.Information, Message = "The control plane refused to refresh a session's access token ({StatusCode}); the person signs in again.")]
    private static partial void LogRefreshRefused(ILogger logger, int statusCode);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Revoking a refresh token of client {ClientId} at sign-out answered {StatusCode}.")]
    private static partial void LogRevokeFailed(ILogger logger, int statusCode, string clientId);
}
