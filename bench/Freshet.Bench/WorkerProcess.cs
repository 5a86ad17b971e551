using Freshet.Contracts;
using System.Diagnostics;
using System.Text.Json;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Runtime;

namespace Freshet.Bench;

/// <summary>
/// The worker executable from its Release build, as a separate process (so its memory and CPU are its own), running one
/// spec file. Its output goes to a log file beside the spec; its status file is read for progress.
/// </summary>
internal sealed class WorkerProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StreamWriter _log;
    private bool _closed;

    private WorkerProcess(Process process, StreamWriter log, string statusFile, string logFile, DateTimeOffset launchedAt)
    {
        _process = process;
        _log = log;
        StatusFile = statusFile;
        LogFile = logFile;
        LaunchedAt = launchedAt;
    }

    public int Id => _process.Id;

    public string StatusFile { get; }

    public string LogFile { get; }

    /// <summary>The wall-clock time just before the process was started.</summary>
    public DateTimeOffset LaunchedAt { get; }

    /// <summary>
    /// When the worker's output first said it starts reading the source's log (the MySQL source's "streaming the binlog
    /// from …" line, written just before it reads the first event): the wall-clock time the line arrived here, a few
    /// milliseconds after the worker wrote it. Null until then.
    /// </summary>
    public DateTimeOffset? StreamingAt { get; private set; }

    /// <summary>Peak resident memory and CPU time, read just before the stop signal; null until stopped.</summary>
    public (double PeakRssMb, double CpuSeconds)? Final { get; private set; }

    public static WorkerProcess Start(BenchSettings settings, string specFile, string name)
    {
        var statusFile = Path.Combine(settings.WorkDir, name + ".status.json");
        var logFile = Path.Combine(settings.WorkDir, name + ".log");
        File.Delete(statusFile);
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { settings.WorkerDll, "run", "--spec", specFile, "--status-file", statusFile })
        {
            start.ArgumentList.Add(argument);
        }

        // The worker runs with its production defaults; only the libpq variables meant for our own tools are hidden.
        foreach (var variable in new[] { "PGHOST", "PGPORT", "PGUSER", "PGPASSWORD" })
        {
            start.Environment.Remove(variable);
        }

        // For experiments: BENCH_WORKER_ENV_X=v sets X=v for the worker alone (e.g. a runtime knob), never the bench.
        foreach (var (key, value) in start.Environment.ToList())
        {
            if (key.StartsWith("BENCH_WORKER_ENV_", StringComparison.Ordinal) && key.Length > "BENCH_WORKER_ENV_".Length)
            {
                start.Environment[key["BENCH_WORKER_ENV_".Length..]] = value;
            }
        }

        var log = new StreamWriter(logFile) { AutoFlush = true };
        var launchedAt = TimeProvider.System.GetUtcNow();
        var process = Process.Start(start) ?? throw new BenchException("could not start the worker");
        var worker = new WorkerProcess(process, log, statusFile, logFile, launchedAt);
        process.OutputDataReceived += (_, e) => worker.Append(e.Data);
        process.ErrorDataReceived += (_, e) => worker.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return worker;
    }

    public PipelineProgressReport? Report()
    {
        try
        {
            return JsonSerializer.Deserialize<List<PipelineProgressReport>>(File.ReadAllText(StatusFile), SpecFileFeed.Json)?.FirstOrDefault();
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    /// <summary>Polls the status file every 50 ms until <paramref name="condition"/> holds; fails when the worker exits or the time is up.</summary>
    public async Task<PipelineProgressReport> WaitForAsync(Func<PipelineProgressReport, bool> condition, TimeSpan timeout, string what, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        while (time.GetElapsedTime(started) < timeout)
        {
            if (Report() is { } report)
            {
                if (condition(report))
                {
                    return report;
                }

                if (report.State is PipelineRunState.Failed or PipelineRunState.Fenced)
                {
                    throw new BenchException($"the pipeline is {report.State} while waiting for {what}: {report.Reason}\n{Tail()}");
                }
            }

            if (_process.HasExited)
            {
                throw new BenchException($"the worker exited ({_process.ExitCode}) while waiting for {what}\n{Tail()}");
            }

            await Task.Delay(50, cancellationToken);
        }

        throw new BenchException($"no {what} within {timeout}; last status: {JsonSerializer.Serialize(Report(), SpecFileFeed.Json)}\n{Tail()}");
    }

    /// <summary>Reads the peak memory and CPU time, then stops the worker gracefully (SIGTERM) as an orchestrator would.</summary>
    public async Task StopAsync()
    {
        if (_process.HasExited)
        {
            throw new BenchException($"the worker exited early ({_process.ExitCode})\n{Tail()}");
        }

        Final = (ProcStats.PeakRssMb(_process.Id) ?? double.NaN, ProcStats.CpuSeconds(_process.Id) ?? double.NaN);
        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            _process.Kill();
            throw new BenchException($"the worker did not stop within 60 s of SIGTERM\n{Tail()}");
        }
    }

    /// <summary>The last lines of the worker's output, for error messages.</summary>
    public string Tail(int lines = 30)
    {
        lock (_log)
        {
            if (!_closed)
            {
                _log.Flush();
            }
        }

        var all = File.ReadAllLines(LogFile);
        return "worker output (last lines):\n  " + string.Join("\n  ", all.Skip(Math.Max(0, all.Length - lines)));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        lock (_log)
        {
            _closed = true;
            _log.Dispose();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        if (StreamingAt is null && line.Contains("streaming the binlog from", StringComparison.Ordinal))
        {
            StreamingAt = TimeProvider.System.GetUtcNow();
        }

        lock (_log)
        {
            if (!_closed)
            {
                _log.WriteLine(line);
            }
        }
    }
}
