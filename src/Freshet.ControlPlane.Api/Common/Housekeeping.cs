using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>
/// Hourly: deletes idempotency records past their 24 hours, and prunes OAuth tokens and authorizations that have
/// expired or been revoked for longer than a refresh token lives (OpenIddict keeps a row per token it issues).
/// </summary>
internal sealed partial class Housekeeping(IServiceScopeFactory scopes, TimeProvider clock, IOptions<AuthOptions> auth, ILogger<Housekeeping> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromHours(1), clock);
        do
        {
            try
            {
                await using var scope = scopes.CreateAsyncScope();
                var db = scope.ServiceProvider.GetRequiredService<ControlDbContext>();
                var now = clock.GetUtcNow();
                var idempotency = await db.IdempotencyRecords.Where(r => r.ExpiresAt < now).ExecuteDeleteAsync(stoppingToken);
                var threshold = now - TimeSpan.FromSeconds(auth.Value.RefreshTokenLifetimeSeconds);
                var tokens = await scope.ServiceProvider.GetRequiredService<IOpenIddictTokenManager>().PruneAsync(threshold, stoppingToken);
                var authorizations = await scope.ServiceProvider.GetRequiredService<IOpenIddictAuthorizationManager>().PruneAsync(threshold, stoppingToken);
                LogCleaned(logger, idempotency, tokens, authorizations);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Housekeeping deleted {Idempotency} idempotency records, {Tokens} tokens and {Authorizations} authorizations")]
    private static partial void LogCleaned(ILogger logger, int idempotency, long tokens, long authorizations);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Housekeeping failed; retrying within the hour")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
