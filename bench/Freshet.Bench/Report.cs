using System.Globalization;

namespace Freshet.Bench;

/// <summary>What a benchmark prints: progress and figures as it goes, the one summary line last.</summary>
internal static class Report
{
    public static void Line(string bench, FormattableString text) =>
        Console.WriteLine($"[{bench}] {FormattableString.Invariant(text)}");

    public static void Summary(string bench, params (string Key, double Value)[] figures) =>
        Console.WriteLine($"BENCH {bench} " + string.Join(' ', figures.Select(f => f.Key + "=" + Format(f.Value))));

    /// <summary>For summaries with figures that can be missing for a stated reason (e.g. <c>n/a</c>): values printed as given.</summary>
    public static void Summary(string bench, params (string Key, string Value)[] figures) =>
        Console.WriteLine($"BENCH {bench} " + string.Join(' ', figures.Select(f => f.Key + "=" + f.Value)));

    public static string Format(double value) =>
        double.IsFinite(value)
            ? Math.Abs(value) >= 100 ? Math.Round(value).ToString("0", CultureInfo.InvariantCulture)
            : Math.Abs(value) >= 1 ? value.ToString("0.##", CultureInfo.InvariantCulture)
            : value.ToString("0.###", CultureInfo.InvariantCulture)
            : "nan";
}
