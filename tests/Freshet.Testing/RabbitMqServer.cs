using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Freshet.Testing;

/// <summary>
/// A throwaway RabbitMQ node from the machine's own package (<c>rabbitmq-server</c>), one per test process, on free
/// loopback ports, stopped and deleted when the process exits. User <c>guest</c>/<c>guest</c> (allowed from loopback).
/// </summary>
public sealed class RabbitMqServer
{
    private static readonly SemaphoreSlim StartLock = new(1, 1);
    private static RabbitMqServer? _shared;

    private readonly string _directory;
    private readonly string _nodeName;

    private RabbitMqServer(string directory, string nodeName, int port)
    {
        _directory = directory;
        _nodeName = nodeName;
        Port = port;
    }

    public int Port { get; }

    public static async Task<RabbitMqServer> SharedAsync()
    {
        await StartLock.WaitAsync();
        try
        {
            return _shared ??= await StartAsync();
        }
        finally
        {
            StartLock.Release();
        }
    }

    private static async Task<RabbitMqServer> StartAsync()
    {
        // Erlang boots slowly on a 2-core machine that other test assemblies keep busy (seen: over 60 s once); a node
        // that still does not listen is replaced by a fresh one once before the tests are failed.
        try
        {
            return await StartNodeAsync(TimeSpan.FromSeconds(120));
        }
        catch (InvalidOperationException first)
        {
            try
            {
                return await StartNodeAsync(TimeSpan.FromSeconds(120));
            }
            catch (InvalidOperationException second)
            {
                throw new InvalidOperationException($"{second.Message}\nFirst attempt: {first.Message}", second);
            }
        }
    }

    private static async Task<RabbitMqServer> StartNodeAsync(TimeSpan patience)
    {
        const string server = "/usr/sbin/rabbitmq-server";
        if (!File.Exists(server))
        {
            throw new InvalidOperationException("rabbitmq-server is not installed. Run ./infra/test.sh, which installs it, or `apt-get install -y rabbitmq-server`.");
        }

        RemoveStaleNodes();
        var id = $"{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        var directory = Path.Combine(PostgresServer.Root, $"rabbitmq-{id}");
        Directory.CreateDirectory(Path.Combine(directory, "mnesia"));
        Directory.CreateDirectory(Path.Combine(directory, "log"));
        await File.WriteAllTextAsync(Path.Combine(directory, "enabled_plugins"), "[].");
        if (Environment.UserName == "root")
        {
            // Started as root, rabbitmq-server switches to the rabbitmq user, which must own its folders.
            await LocalMachine.RunToEndAsync("chown", $"-R rabbitmq:rabbitmq {directory}");
            await LocalMachine.RunToEndAsync("chmod", $"755 {PostgresServer.Root}");
        }

        var port = LocalMachine.FreePort();
        var nodeName = $"freshet-{id}@localhost";
        var start = new ProcessStartInfo(server)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = directory,
            Environment =
            {
                ["RABBITMQ_NODENAME"] = nodeName,
                ["RABBITMQ_NODE_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["RABBITMQ_DIST_PORT"] = LocalMachine.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
                ["RABBITMQ_MNESIA_BASE"] = Path.Combine(directory, "mnesia"),
                ["RABBITMQ_LOG_BASE"] = Path.Combine(directory, "log"),
                ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(directory, "enabled_plugins"),
            },
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start rabbitmq-server.");
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var node = new RabbitMqServer(directory, nodeName, port);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => node.Stop();
        StartReaper(nodeName, directory);

        var deadline = DateTime.UtcNow + patience;
        while (DateTime.UtcNow < deadline)
        {
            if (await AcceptsAsync(port))
            {
                return node;
            }

            if (process.HasExited && process.ExitCode != 0)
            {
                break;
            }

            await Task.Delay(200);
        }

        // Read what it said before the folder goes.
        var logs = Path.Combine(directory, "log");
        var log = Directory.Exists(logs) ? string.Join('\n', Directory.GetFiles(logs).Select(File.ReadAllText)) : "";
        string said;
        lock (output)
        {
            said = output.ToString();
        }

        node.Stop();
        var exited = process.HasExited ? $" (rabbitmq-server exited with {process.ExitCode})" : "";
        throw new InvalidOperationException(
            $"RabbitMQ did not start listening on {port} within {patience.TotalSeconds:F0} s{exited}. Log: {log[^Math.Min(log.Length, 2000)..]} Output: {said[^Math.Min(said.Length, 1000)..]}");
    }

    /// <summary>
    /// A test host that is killed (as the test runner does at the end of a run, or a hang timeout) runs no exit handler,
    /// and an Erlang node would outlive it for good: a small shell watches this process and stops the node once it is gone.
    /// </summary>
    private static void StartReaper(string nodeName, string directory)
    {
        LocalMachine.WhenThisProcessEnds($$"""
            for p in /proc/[0-9]*; do
                if tr '\0' '\n' < "$p/environ" 2>/dev/null | grep -qx 'RABBITMQ_NODENAME={{nodeName}}'; then kill -9 "${p#/proc/}" 2>/dev/null; fi
            done
            rm -rf '{{directory}}'
            """);
    }

    private static async Task<bool> AcceptsAsync(int port)
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>Stops the node: its Erlang VM and helpers carry the node name in their environment (epmd is shared and stays).</summary>
    private void Stop()
    {
        foreach (var pid in ProcessesWithEnvironment($"RABBITMQ_NODENAME={_nodeName}"))
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Nodes of test processes that died without cleaning up.</summary>
    private static void RemoveStaleNodes()
    {
        if (!Directory.Exists(PostgresServer.Root))
        {
            return;
        }

        foreach (var directory in Directory.GetDirectories(PostgresServer.Root, "rabbitmq-*"))
        {
            var parts = Path.GetFileName(directory).Split('-');
            if (parts.Length > 2 && int.TryParse(parts[1], out var pid) && !LocalMachine.ProcessExists(pid))
            {
                new RabbitMqServer(directory, $"freshet-{parts[1]}-{parts[2]}@localhost", 0).Stop();
            }
        }
    }

    private static IEnumerable<int> ProcessesWithEnvironment(string entry)
    {
        foreach (var directory in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(directory), out var pid))
            {
                continue;
            }

            string environment;
            try
            {
                environment = File.ReadAllText(Path.Combine(directory, "environ"));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (environment.Split('\0').Contains(entry, StringComparer.Ordinal))
            {
                yield return pid;
            }
        }
    }
}
