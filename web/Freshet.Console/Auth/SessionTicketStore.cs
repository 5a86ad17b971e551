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

    // Cookie keys that now stand for another session (see RenewAsync): cookie key → the session's own key.
    private readonly ConcurrentDictionary<string, string> _aliases = new(StringComparer.Ordinal);

    public Task<string> StoreAsync(AuthenticationTicket ticket)
    {
        var key = ticket.Principal.FindFirstValue(SessionClaim) ?? throw new InvalidOperationException($"A console sign-in carries the {SessionClaim} claim.");
        _tickets[key] = ticket;
        return Task.FromResult(key);
    }

    /// <remarks>
    /// Signing in again while the browser still holds a cookie (e.g. through "Sign in again" after a refused refresh)
    /// makes the cookie handler renew the ticket under the cookie's old key, but the new ticket's user carries a new
    /// session claim, which is the key circuits look it up by. The ticket is kept under its own key, and the old key
    /// becomes an alias of it, so the cookie and the circuits find the same, new tokens.
    /// </remarks>
    public Task RenewAsync(string key, AuthenticationTicket ticket)
    {
        var own = SessionOf(ticket.Principal) ?? Resolve(key);
        var previous = Resolve(key);
        if (!string.Equals(previous, own, StringComparison.Ordinal))
        {
            // The cookie's old session is replaced by the new sign-in.
            _tickets.TryRemove(previous, out _);
        }

        if (!string.Equals(key, own, StringComparison.Ordinal))
        {
            _aliases[key] = own;
        }

        _tickets[own] = ticket;
        return Task.CompletedTask;
    }

    private string Resolve(string key) => _aliases.TryGetValue(key, out var own) ? own : key;

    public Task<AuthenticationTicket?> RetrieveAsync(string key)
    {
        key = Resolve(key);
        if (_tickets.TryGetValue(key, out var ticket) && ticket.Properties.ExpiresUtc is { } expires && expires <= clock.GetUtcNow())
        {
            _tickets.TryRemove(key, out _);
            ticket = null;
        }

        return Task.FromResult(ticket);
    }

    public Task RemoveAsync(string key)
    {
        if (_aliases.TryRemove(key, out var own))
        {
            _tickets.TryRemove(own, out _);
        }

        _tickets.TryRemove(key, out _);
        return Task.CompletedTask;
    }

    internal static void AddSessionClaim(ClaimsPrincipal principal) =>
        (principal.Identity as ClaimsIdentity)?.AddClaim(new Claim(SessionClaim, Guid.NewGuid().ToString("N")));

    internal static string? SessionOf(ClaimsPrincipal principal) => principal.FindFirstValue(SessionClaim);
}
