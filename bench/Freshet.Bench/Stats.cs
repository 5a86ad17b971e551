namespace Freshet.Bench;

/// <summary>Summaries of repeated measurements.</summary>
internal static class Stats
{
    /// <summary>The median of the values that are numbers (NaN when none are).</summary>
    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToList();
        return sorted.Count == 0 ? double.NaN
            : sorted.Count % 2 == 1 ? sorted[sorted.Count / 2]
            : (sorted[(sorted.Count / 2) - 1] + sorted[sorted.Count / 2]) / 2;
    }
}
