using System.Net;
using System.Net.Sockets;
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

        var internalAddress = addresses.FirstOrDefault(IsInternal);
        return internalAddress is null
            ? null
            : $"{host} resolves to {internalAddress}, an internal address that connections may not reach on this installation. Use the database's public address, or ask the operator about private networking.";
    }

    public static bool IsInternal(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal)
        {
            return true;
        }

        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            return false;
        }

        var b = address.GetAddressBytes();
        return b[0] == 10
            || (b[0] == 172 && b[1] >= 16 && b[1] <= 31)
            || (b[0] == 192 && b[1] == 168)
            || (b[0] == 169 && b[1] == 254) // link-local, cloud metadata endpoints
            || (b[0] == 100 && b[1] >= 64 && b[1] <= 127) // carrier-grade NAT
            || b[0] == 0;
    }
}
