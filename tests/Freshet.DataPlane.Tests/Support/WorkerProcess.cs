using Freshet.Contracts;
using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Runtime;

namespace Freshet.DataPlane.Tests.Support;

/// <summary>The standalone worker executable, started as a real process so tests can kill it (SIGKILL) like a crash.</summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private WorkerProcess(Process process, string statusFile)
    {
        _process = process;
        StatusFile = statusFile;
    }

    public string StatusFile { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

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

    public static WorkerProcess Start(string specFile, IReadOnlyDictionary<string, string>? settings = null)
    {
        var statusFile = specFile + ".status.json";
        File.Delete(statusFile);
        var worker = Path.Combine(AppContext.BaseDirectory, "Freshet.DataPlane.Worker.dll");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(worker);
        start.ArgumentList.Add("run");
        start.ArgumentList.Add("--spec");
        start.ArgumentList.Add(specFile);
        start.ArgumentList.Add("--status-file");
        start.ArgumentList.Add(statusFile);
        start.Environment["Freshet__Worker__SourceHeartbeatInterval"] = "00:00:01";
        start.Environment["Freshet__Worker__MinRestartDelay"] = "00:00:00.200";
        start.Environment["Freshet__Worker__MaxRestartDelay"] = "00:00:02";
        start.Environment["Freshet__Worker__AssignmentPollInterval"] = "00:00:00.500";
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        var process = Process.Start(start)!;
        var worker_ = new WorkerProcess(process, statusFile);
        process.OutputDataReceived += (_, e) => worker_.Append(e.Data);
        process.ErrorDataReceived += (_, e) => worker_.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker_;
    }

    /// <summary>A crash: no shutdown code runs, connections drop, the DuckDB file is left as the kernel leaves it.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
        }

        await _process.WaitForExitAsync();
    }

    /// <summary>A graceful stop (SIGTERM), as Kubernetes does before a pod goes away.</summary>
    public async Task StopAsync()
    {
        if (!_process.HasExited)
        {
            using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync();
            }

            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await _process.WaitForExitAsync(timeout.Token);
        }
    }

    /// <summary>The worker's latest progress reports (empty until it wrote its status file).</summary>
    public IReadOnlyList<PipelineProgressReport> Reports()
    {
        try
        {
            return JsonSerializer.Deserialize<List<PipelineProgressReport>>(File.ReadAllText(StatusFile), SpecFileFeed.Json) ?? [];
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return [];
        }
    }

    public async Task<PipelineProgressReport> WaitForReportAsync(Func<PipelineProgressReport, bool> condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var report = Reports().FirstOrDefault(condition);
            if (report is not null)
            {
                return report;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"The worker exited ({_process.ExitCode}). Output:\n{Output}");
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"No matching report within {timeout}. Last: {JsonSerializer.Serialize(Reports(), SpecFileFeed.Json)}\nOutput:\n{Output}");
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process.Dispose();
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
