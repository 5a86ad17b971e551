using System.Collections.Concurrent;
using Microsoft.AspNetCore.Authentication.Cookies;
using System.Security.Claims;
using Microsoft.AspNetCore.Authentication;

namespace Freshet.Console.Auth;

/// <summary>
/// Keeps each sign-in's ticket (with its access and refresh tokens) in this process: the browser's cookie carries only
/// the session key. The key is also a claim of the user (<see cref="SessionClaim"/>), so an interactive circuit, which
/// has the user but no cookie, finds the same tokens. One replica only: a second would need a shared store; a restart
/// signs everyone out of the console (the control plane's own session signs them back in without a password).
/// </summary>
internal sealed class SessionTicketStore(TimeProvider clock) : ITicketStore
{
    public const string SessionClaim = "freshet_console_session";

    private readonly ConcurrentDictionary<string, AuthenticationTicket> _tickets = new(StringComparer.Ordinal);

    public Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var key = ticket.Principal.FindFirstValue(SessionClaim) ?? throw new InvalidOperationException($"A console sign-in carries the {SessionClaim} claim.");
        _tickets[key] = ticket;
        return Task.FromResult(key);
    }

    public Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        _tickets[key] = ticket;
        return Task.CompletedTask;
    }

    public Task<AuthenticationTicket?> RetrieveAsync(string key)
    {
        if (_tickets.TryGetValue(key, out var ticket) && ticket.Properties.ExpiresUtc is { } expires && expires <= clock.GetUtcNow())
        {
            _tickets.TryRemove(key, out _);
            ticket = null;
        }

        return Task.FromResult(ticket);
    }

    public Task RemoveAsync(string key)
    {
        _tickets.TryRemove(key, out _);
        return Task.CompletedTask;
    }

    internal static void AddSessionClaim(ClaimsPrincipal principal) =>
        (principal.Identity as ClaimsIdentity)?.AddClaim(new Claim(SessionClaim, Guid.NewGuid().ToString("N")));

    internal static string? SessionOf(ClaimsPrincipal principal) => principal.FindFirstValue(SessionClaim);
}
