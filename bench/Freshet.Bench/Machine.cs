using System.Globalization;

namespace Freshet.Bench;

/// <summary>
/// How busy the machine is apart from the benchmark. The benchmarks share the machine's cores with anything else that
/// runs (builds, test suites), which makes every figure low and noisy, so each run prints the load it started under.
/// </summary>
internal static class Machine
{
    /// <summary>The one-minute load average (runnable processes, averaged).</summary>
    public static double LoadAverage()
    {
        var text = File.ReadAllText("/proc/loadavg");
        return double.Parse(text.Split(' ')[0], CultureInfo.InvariantCulture);
    }

    /// <summary>Prints the load and warns when other work is running; returns the load for the summary line.</summary>
    public static double Check(string bench)
    {
        var load = LoadAverage();
        Report.Line(bench, $"machine: {Environment.ProcessorCount} cores, load average {load:0.00} before the run");
        if (load > 1.0)
        {
            Report.Line(bench, $"WARNING: other work is running on this machine (load {load:0.00}); the figures below will be low and noisy");
        }

        return load;
    }
}
