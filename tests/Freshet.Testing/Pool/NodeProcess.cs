using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Freshet.Testing.Pool;

/// <summary>
/// A control-plane host or a data-plane worker run as a real process from its own build output, so tests can kill it
/// (SIGKILL), stop it (SIGTERM), freeze it (SIGSTOP) and wake it (SIGCONT) like the operating system would.
/// </summary>
public sealed class NodeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private NodeProcess(string name, Process process)
    {
        Name = name;
        _process = process;
    }

    public string Name { get; }

    public int Pid => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>Starts <c>dotnet PROJECT.dll ARGS</c> from <c>FOLDER/PROJECT/bin/CONFIGURATION/net10.0</c> (folder <c>src</c> or <c>web</c>).</summary>
    public static NodeProcess Start(string name, string project, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, string folder = "src")
    {
        var directory = Path.Combine(RepositoryRoot(), folder, project, "bin", Configuration(), "net10.0");
        var dll = Path.Combine(directory, project + ".dll");
        if (!File.Exists(dll))
        {
            throw new InvalidOperationException($"{dll} is not built; build the solution first (dotnet build ControlPlane.sln -c {Configuration()}).");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_gcServer"] = "0";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Logging__Console__FormatterOptions__SingleLine"] = "true";
        start.Environment["Logging__Console__FormatterOptions__TimestampFormat"] = "HH:mm:ss.fff ";
        foreach (var (key, value) in environment)
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {project}.");
        var node = new NodeProcess(name, process);
        process.OutputDataReceived += (_, e) => node.Append(e.Data);
        process.ErrorDataReceived += (_, e) => node.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return node;
    }

    /// <summary>Runs a verb to completion (e.g. <c>migrate</c>) and throws with its output when it fails.</summary>
    public static async Task RunToEndAsync(string project, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment, TimeSpan timeout)
    {
        await using var node = Start(project, project, arguments, environment);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await node._process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{project} {string.Join(' ', arguments)} did not finish within {timeout}:\n{node.Output}");
        }

        if (node._process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{project} {string.Join(' ', arguments)} exited with {node._process.ExitCode}:\n{node.Output}");
        }
    }

    /// <summary>A crash: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>A graceful stop (SIGTERM), as Kubernetes does before a pod goes away; waits up to <paramref name="timeout"/>.</summary>
    public async Task<bool> TerminateAsync(TimeSpan timeout)
    {
        if (_process.HasExited)
        {
            return true;
        }

        await SignalAsync("TERM");
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cancel.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>Freezes the process (a partition or a long GC pause, as far as everyone else can tell).</summary>
    public Task FreezeAsync() => SignalAsync("STOP");

    public Task ThawAsync() => SignalAsync("CONT");

    public async ValueTask DisposeAsync()
    {
        try
        {
            await SignalAsync("CONT");
            await KillAsync();
        }
        catch (InvalidOperationException)
        {
        }

        _process.Dispose();
    }

    /// <summary>The repository root: the folder above the test assembly that holds ControlPlane.sln.</summary>
    public static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ControlPlane.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException($"No ControlPlane.sln above {AppContext.BaseDirectory}.");
    }

    /// <summary>The build configuration the tests run under (Release or Debug), read from their own output path.</summary>
    private static string Configuration() =>
        AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Debug{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Debug" : "Release";

    private async Task SignalAsync(string signal)
    {
        if (_process.HasExited)
        {
            return;
        }

        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
