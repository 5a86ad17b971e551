using System.Net;
using System.Net.Sockets;

namespace Freshet.ServiceDefaults;

/// <summary>
/// Addresses a managed control plane must not reach on a tenant's behalf (loopback, private, link-local, carrier-grade
/// NAT, unspecified): in a managed service they are the platform's own network (its control database, cloud metadata
/// endpoints). Shared by every place a tenant names a network target: connections and alert webhooks.
/// </summary>
public static class InternalAddresses
{
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
