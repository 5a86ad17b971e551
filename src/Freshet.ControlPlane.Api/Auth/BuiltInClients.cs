using Microsoft.Extensions.Options;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Freshet.ControlPlane.Api.Auth;

/// <summary>Creates or updates the OAuth clients Freshet itself needs (the web console, the worker pool) from configuration.</summary>
internal sealed class BuiltInClients(IOpenIddictApplicationManager applications, IOptions<AuthOptions> options)
{
    public async Task SynchronizeAsync(CancellationToken cancellationToken)
    {
        await SynchronizeConsoleAsync(cancellationToken);
        await SynchronizeWorkerAsync(cancellationToken);
    }

    private async Task SynchronizeConsoleAsync(CancellationToken cancellationToken)
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

        await UpsertAsync(descriptor, cancellationToken);
    }

    /// <summary>
    /// The worker pool's confidential client: the token endpoint and client credentials only. Without a secret it is
    /// removed, so a secret taken out of configuration stops issuing worker tokens at the next migrate.
    /// </summary>
    private async Task SynchronizeWorkerAsync(CancellationToken cancellationToken)
    {
        var worker = options.Value.WorkerClient;
        if (!worker.IsEnabled)
        {
            if (!string.IsNullOrWhiteSpace(worker.ClientId) && await applications.FindByClientIdAsync(worker.ClientId, cancellationToken) is { } stale)
            {
                await applications.DeleteAsync(stale, cancellationToken);
            }

            return;
        }

        await UpsertAsync(
            new OpenIddictApplicationDescriptor
            {
                ClientId = worker.ClientId,
                ClientSecret = worker.ClientSecret,
                ClientType = ClientTypes.Confidential,
                DisplayName = "Freshet worker pool",
                Permissions = { Permissions.Endpoints.Token, Permissions.GrantTypes.ClientCredentials, Permissions.Prefixes.Scope + FreshetClaims.ApiScope },
            },
            cancellationToken);
    }

    private async Task UpsertAsync(OpenIddictApplicationDescriptor descriptor, CancellationToken cancellationToken)
    {
        var existing = await applications.FindByClientIdAsync(descriptor.ClientId!, cancellationToken);
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
