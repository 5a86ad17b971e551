using System.Security.Cryptography;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Data;
using OpenIddict.Abstractions;
using static OpenIddict.Abstractions.OpenIddictConstants;

namespace Freshet.ControlPlane.Api.ApiClients;

/// <summary>Creates machine identities: the OpenIddict application (which keeps only a hash of the secret) and our row.</summary>
internal sealed class ApiClientProvisioner(ControlDbContext db, IOpenIddictApplicationManager applications, TimeProvider clock)
{
    public static string NewSecret() => "fs_" + Base64Url(RandomNumberGenerator.GetBytes(32));

    public static string NewClientId() => "fc_" + Convert.ToHexString(RandomNumberGenerator.GetBytes(10)).ToLowerInvariant();

    /// <summary>Adds the row to the context (saved by the caller) and creates the OAuth application now.</summary>
    public async Task<(ApiClient Client, string Secret)> CreateAsync(
        Guid? tenantId, string name, TenantRole? role, PlatformRole platformRole, string createdBy, CancellationToken cancellationToken,
        string? clientId = null, string? secret = null)
    {
        var now = clock.GetUtcNow();
        clientId ??= NewClientId();
        secret ??= NewSecret();
        var client = new ApiClient
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenantId,
            Name = name,
            ClientId = clientId,
            Role = role,
            PlatformRole = platformRole,
            CreatedAt = now,
            CreatedBy = createdBy,
            SecretRotatedAt = now,
            Version = 1,
        };
        db.ApiClients.Add(client);
        await applications.CreateAsync(Descriptor(clientId, name, secret), cancellationToken);
        return (client, secret);
    }

    public async Task<string> RotateAsync(ApiClient client, CancellationToken cancellationToken, string? secret = null)
    {
        secret ??= NewSecret();
        var application = await applications.FindByClientIdAsync(client.ClientId, cancellationToken);
        if (application is null)
        {
            await applications.CreateAsync(Descriptor(client.ClientId, client.Name, secret), cancellationToken);
        }
        else
        {
            var descriptor = Descriptor(client.ClientId, client.Name, secret);
            await applications.PopulateAsync(application, descriptor, cancellationToken);
            await applications.UpdateAsync(application, secret, cancellationToken);
        }

        client.SecretRotatedAt = clock.GetUtcNow();
        client.Version++;
        return secret;
    }

    public async Task RevokeAsync(ApiClient client, CancellationToken cancellationToken)
    {
        client.RevokedAt = clock.GetUtcNow();
        client.Version++;
        if (await applications.FindByClientIdAsync(client.ClientId, cancellationToken) is { } application)
        {
            await applications.DeleteAsync(application, cancellationToken);
        }
    }

    private static OpenIddictApplicationDescriptor Descriptor(string clientId, string name, string secret) => new()
    {
        ClientId = clientId,
        ClientSecret = secret,
        ClientType = ClientTypes.Confidential,
        DisplayName = name,
        Permissions = { Permissions.Endpoints.Token, Permissions.GrantTypes.ClientCredentials, Permissions.Prefixes.Scope + "api" },
    };

    private static string Base64Url(byte[] bytes) => System.Buffers.Text.Base64Url.EncodeToString(bytes);
}
