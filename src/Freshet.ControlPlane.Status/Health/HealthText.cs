using System.Globalization;

namespace Freshet.ControlPlane.Status.Health;

/// <summary>Durations and sizes as the reasons' messages say them.</summary>
internal static class HealthText
{
    private static readonly string[] ByteUnits = ["B", "kB", "MB", "GB", "TB", "PB"];

    /// <summary>"95 s", "12 min", "1.2 h", "24 h", "3.5 d": seconds while they are still easy to picture, then coarser.</summary>
    public static string Duration(TimeSpan duration)
    {
        var seconds = Math.Max(0, duration.TotalSeconds);
        return seconds switch
        {
            < 120 => Invariant($"{Math.Round(seconds):0} s"),
            < 3600 => Invariant($"{Math.Round(seconds / 60):0} min"),
            < 48 * 3600 => Invariant($"{seconds / 3600:0.#} h"),
            _ => Invariant($"{seconds / 86400:0.#} d"),
        };
    }

    /// <summary>
    /// Sizes in PostgreSQL's units (1 kB = 1024 B, as in <c>max_slot_wal_keep_size = '50GB'</c>), so a limit reads back
    /// the way the operator set it.
    /// </summary>
    public static string Bytes(double bytes)
    {
        var unit = 0;
        while (Math.Abs(bytes) >= 1024 && unit < ByteUnits.Length - 1)
        {
            bytes /= 1024;
            unit++;
        }

        return unit == 0 ? Invariant($"{bytes:0} B") : Invariant($"{bytes:0.0} {ByteUnits[unit]}");
    }

    public static string Percent(double percent) => Invariant($"{percent:0.#}%");

    public static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
