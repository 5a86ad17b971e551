using System.Globalization;
using Freshet.Console.Api;

namespace Freshet.Console.Components.Pipelines;

/// <summary>
/// A metrics read laid on a grid of every step in its window: the API returns only the steps that had a report, and a
/// chart with those alone would draw a silent hour as if it were no time at all. Empty steps are null (a gap).
/// </summary>
internal sealed record MetricsGrid(string[] Labels, double?[] Lag, double?[] LagMax, double?[] RowsPerSecond)
{
    public static MetricsGrid Lay(PipelineMetrics metrics, DateTimeOffset from, DateTimeOffset to)
    {
        var step = TimeSpan.FromSeconds(Math.Max(1, metrics.StepSeconds));
        // The API aligns its steps to the Unix epoch; so does the grid.
        var first = new DateTimeOffset(from.UtcTicks / step.Ticks * step.Ticks, TimeSpan.Zero);
        var slots = Math.Max(1, (int)Math.Ceiling((to - first) / step));
        var lag = new double?[slots];
        var lagMax = new double?[slots];
        var rows = new double?[slots];
        foreach (var point in metrics.Points)
        {
            var slot = (int)Math.Floor((point.At - first) / step);
            if (slot >= 0 && slot < slots)
            {
                lag[slot] = point.LagSeconds;
                lagMax[slot] = point.LagSecondsMax;
                rows[slot] = point.RowsPerSecond;
            }
        }

        var format = to - from > TimeSpan.FromDays(1) ? "MM-dd HH:mm" : "HH:mm";
        var labels = Enumerable.Range(0, slots).Select(i => (first + step * i).ToUniversalTime().ToString(format, CultureInfo.InvariantCulture)).ToArray();
        return new MetricsGrid(labels, lag, lagMax, rows);
    }
}
