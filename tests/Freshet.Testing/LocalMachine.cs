using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Freshet.Testing;

/// <summary>What the throwaway servers and processes of the tests ask of this machine.</summary>
public static class LocalMachine
{
    /// <summary>A loopback port free right now (the OS picks it).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether a process with this id is running (for cleaning up after test processes that died).</summary>
    public static bool ProcessExists(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
