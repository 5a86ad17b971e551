using System.Globalization;

namespace Freshet.Bench;

/// <summary>Per-process figures from /proc (Linux).</summary>
internal static class ProcStats
{
    /// <summary>USER_HZ, the unit of the CPU times in /proc/PID/stat: 100 on every Linux architecture .NET runs on.</summary>
    private const double ClockTicksPerSecond = 100;

    /// <summary>Peak resident set size (VmHWM) in MiB, or null when the process is gone.</summary>
    public static double? PeakRssMb(int pid) => StatusKb(pid, "VmHWM:") is { } kb ? kb / 1024.0 : null;

    /// <summary>User plus system CPU time the process has used so far, in seconds, or null when it is gone.</summary>
    public static double? CpuSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields from after its end.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return ticks / ClockTicksPerSecond;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static long? StatusKb(int pid, string field)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith(field, StringComparison.Ordinal))
                {
                    return long.Parse(line[field.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return null;
    }
}

/// <summary>
/// Follows the CPU time of processes that may come and go (a walsender ends with its connection) by sampling /proc
/// every 100 ms and keeping each process's last reading; <see cref="Seconds"/> sums them over each process's whole
/// life. Exact for processes still alive at the last sample, within one sampling interval for those that ended.
/// </summary>
internal sealed class CpuTracker : IAsyncDisposable
{
    private readonly Func<CancellationToken, Task<IReadOnlyList<int>>> _findProcesses;
    private readonly Dictionary<int, double> _readings = [];
    private readonly Lock _lock = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _sampling;

    /// <summary>Follows the processes that <paramref name="findProcesses"/> names at each sample.</summary>
    public CpuTracker(Func<CancellationToken, Task<IReadOnlyList<int>>> findProcesses)
    {
        _findProcesses = findProcesses;
        _sampling = Task.Run(SampleAsync);
    }

    /// <summary>Follows the one process that <paramref name="findProcess"/> names at each sample, if any.</summary>
    public static CpuTracker Single(Func<CancellationToken, Task<int?>> findProcess) =>
        new(async ct => await findProcess(ct) is { } pid ? [pid] : []);

    /// <summary>CPU seconds used by the followed processes.</summary>
    public double Seconds
    {
        get
        {
            lock (_lock)
            {
                return _readings.Values.Sum();
            }
        }
    }

    /// <summary>Takes a last reading and stops sampling; <see cref="Seconds"/> keeps its final value.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await _sampling;
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task SampleAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await SampleOnceAsync(_stop.Token);
                await Task.Delay(100, _stop.Token);
            }
            catch (Npgsql.NpgsqlException)
            {
                // The cluster was busy or the query raced a disconnect; the next sample catches up.
            }
        }
    }

    private async Task SampleOnceAsync(CancellationToken cancellationToken)
    {
        var pids = await _findProcesses(cancellationToken);
        lock (_lock)
        {
            foreach (var pid in pids)
            {
                _readings.TryAdd(pid, 0);
            }

            foreach (var known in _readings.Keys.ToList())
            {
                if (ProcStats.CpuSeconds(known) is { } seconds)
                {
                    _readings[known] = seconds;
                }
            }
        }
    }
}
