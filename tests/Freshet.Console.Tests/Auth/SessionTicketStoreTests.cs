using System.Security.Claims;
using Freshet.Console.Auth;
using Microsoft.AspNetCore.Authentication;

namespace Freshet.Console.Tests.Auth;

public sealed class SessionTicketStoreTests
{
    private static AuthenticationTicket SignIn(string accessToken)
    {
        var principal = new ClaimsPrincipal(new ClaimsIdentity([new Claim("sub", "someone")], "test"));
        SessionTicketStore.AddSessionClaim(principal);
        var properties = new AuthenticationProperties();
        properties.StoreTokens([new AuthenticationToken { Name = "access_token", Value = accessToken }]);
        return new AuthenticationTicket(principal, properties, "Cookies");
    }

    [Fact]
    public async Task SigningInAgainOverAnOldCookie_GivesTheCookieAndTheCircuitsTheNewTicket()
    {
        var store = new SessionTicketStore(TimeProvider.System);
        var first = SignIn("first");
        var cookieKey = await store.StoreAsync(first);

        // "Sign in again" while the browser still sends the first cookie: the cookie handler renews under the old key.
        var second = SignIn("second");
        var sessionKey = SessionTicketStore.SessionOf(second.Principal)!;
        Assert.NotEqual(cookieKey, sessionKey);
        await store.RenewAsync(cookieKey, second);

        Assert.Equal("second", (await store.RetrieveAsync(sessionKey))!.Properties.GetTokenValue("access_token"));
        Assert.Equal("second", (await store.RetrieveAsync(cookieKey))!.Properties.GetTokenValue("access_token"));

        // A refresh through a circuit (by the session's own key) is what the cookie sees too.
        var refreshed = SignIn("unused");
        var third = new AuthenticationTicket(second.Principal, refreshed.Properties, "Cookies");
        third.Properties.UpdateTokenValue("access_token", "third");
        await store.RenewAsync(sessionKey, third);
        Assert.Equal("third", (await store.RetrieveAsync(cookieKey))!.Properties.GetTokenValue("access_token"));

        // Signing out through the cookie ends the session for the circuits too.
        await store.RemoveAsync(cookieKey);
        Assert.Null(await store.RetrieveAsync(sessionKey));
        Assert.Null(await store.RetrieveAsync(cookieKey));
    }
}
