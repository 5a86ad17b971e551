using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Freshet.ControlPlane.Api.Auth;

/// <summary>Creates or updates the OAuth clients Freshet itself needs (the web console) from configuration.</summary>
internal sealed class BuiltInClients(IOpenIddictApplicationManager applications, IOptions<AuthOptions> options)
{
    public async Task SynchronizeAsync(CancellationToken cancellationToken)
    {
        var console = options.Value.ConsoleClient;
        var descriptor = new OpenIddictApplicationDescriptor
        {
            ClientId = console.ClientId,
            ClientSecret = string.IsNullOrEmpty(console.ClientSecret) ? null : console.ClientSecret,
            ClientType = string.IsNullOrEmpty(console.ClientSecret) ? ClientTypes.Public : ClientTypes.Confidential,
            ConsentType = ConsentTypes.Implicit,
            DisplayName = "Freshet console",
            Permissions =
            {
                Permissions.Endpoints.Authorization,
                Permissions.Endpoints.Token,
                Permissions.Endpoints.EndSession,
                Permissions.Endpoints.Revocation,
                Permissions.GrantTypes.AuthorizationCode,
                Permissions.GrantTypes.RefreshToken,
                Permissions.ResponseTypes.Code,
                Permissions.Scopes.Email,
                Permissions.Scopes.Profile,
                Permissions.Prefixes.Scope + FreshetClaims.ApiScope,
                Permissions.Prefixes.Scope + Scopes.OfflineAccess,
            },
            Requirements = { Requirements.Features.ProofKeyForCodeExchange },
        };
        foreach (var uri in console.RedirectUris)
        {
            descriptor.RedirectUris.Add(new Uri(uri));
        }

        foreach (var uri in console.PostLogoutRedirectUris)
        {
            descriptor.PostLogoutRedirectUris.Add(new Uri(uri));
        }

        var existing = await applications.FindByClientIdAsync(console.ClientId, cancellationToken);
        if (existing is null)
        {
            await applications.CreateAsync(descriptor, cancellationToken);
        }
        else
        {
            await applications.PopulateAsync(existing, descriptor, cancellationToken);
            if (descriptor.ClientSecret is { } secret)
            {
                await applications.UpdateAsync(existing, secret, cancellationToken);
            }
            else
            {
                await applications.UpdateAsync(existing, cancellationToken);
            }
        }
    }
}
