using System.Globalization;

namespace Freshet.Bench;

/// <summary>
/// How busy the machine is apart from the benchmark. The benchmarks share the machine's cores with anything else that
/// runs (builds, test suites), which makes every figure low and noisy, so each run measures how busy the cores are just
/// before it starts and says so.
/// </summary>
internal static class Machine
{
    /// <summary>Measures the share of all cores that was busy over two seconds, prints it, warns above 20 %; returns the percentage.</summary>
    public static async Task<double> CheckAsync(string bench, CancellationToken cancellationToken)
    {
        var (busyBefore, totalBefore) = CpuTicks();
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        var (busyAfter, totalAfter) = CpuTicks();
        var busy = 100.0 * (busyAfter - busyBefore) / Math.Max(1, totalAfter - totalBefore);
        Report.Line(bench, $"machine: {Environment.ProcessorCount} cores, {busy:0} % busy just before the run (load average {LoadAverage():0.00})");
        if (busy > 20)
        {
            Report.Line(bench, $"WARNING: other work is running on this machine; the figures below will be low and noisy");
        }

        return busy;
    }

    private static double LoadAverage() =>
        double.Parse(File.ReadAllText("/proc/loadavg").Split(' ')[0], CultureInfo.InvariantCulture);

    /// <summary>Busy and total jiffies of all cores together, from the first line of /proc/stat.</summary>
    private static (long Busy, long Total) CpuTicks()
    {
        // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
        var fields = File.ReadLines("/proc/stat").First().Split(' ', StringSplitOptions.RemoveEmptyEntries)
            .Skip(1).Take(8).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
        var idle = fields[3] + fields[4];
        var total = fields.Sum();
        return (total - idle, total);
    }
}
