using System.Net;
using System.Net.Sockets;
using Freshet.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Freshet.ControlPlane.Api.Connections;

internal sealed class NetworkPolicyOptions
{
    public const string Section = "Freshet:Connections";

    /// <summary>
    /// Whether tenants' connections may reach loopback, private, link-local and other internal addresses. Off by
    /// default: in a managed service those addresses are the platform's own network (its control database, cloud
    /// metadata endpoints), and a "test connection" button must not become a way to probe them. Local runs and
    /// self-hosted installations whose databases live on private networks turn it on.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }
}

/// <summary>Decides whether the control plane may open a connection to a tenant-supplied host.</summary>
internal sealed class NetworkPolicy(IOptions<NetworkPolicyOptions> options)
{
    /// <summary>Null when the host may be reached; otherwise why not, in words for the tenant.</summary>
    public async Task<string?> CheckAsync(string host, CancellationToken cancellationToken)
    {
        if (options.Value.AllowPrivateNetworks)
        {
            return null;
        }

        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host.Trim('[', ']'), out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, cancellationToken);
        }
        catch (SocketException)
        {
            return null; // Unresolvable: the connection attempt itself reports it.
        }

        var internalAddress = addresses.FirstOrDefault(InternalAddresses.IsInternal);
        return internalAddress is null
            ? null
            : $"{host} resolves to {internalAddress}, an internal address that connections may not reach on this installation. Use the database's public address, or ask the operator about private networking.";
    }
}
