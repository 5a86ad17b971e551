using System.Globalization;

namespace Freshet.Console.Components.Shared;

/// <summary>Figures as people read them; a dash where the API has none yet.</summary>
internal static class Format
{
    private const string None = "—";

    public static string Lag(double? seconds) => seconds switch
    {
        null => None,
        < 10 => string.Create(CultureInfo.InvariantCulture, $"{seconds:0.0} s"),
        < 120 => string.Create(CultureInfo.InvariantCulture, $"{seconds:0} s"),
        < 7200 => string.Create(CultureInfo.InvariantCulture, $"{seconds / 60:0} min"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{seconds / 3600:0.0} h"),
    };

    public static string Rate(double? perSecond) => perSecond switch
    {
        null => None,
        < 10 => string.Create(CultureInfo.InvariantCulture, $"{perSecond:0.#}"),
        _ => ((long)Math.Round(perSecond.Value)).ToString("N0", CultureInfo.InvariantCulture),
    };

    public static string Count(long? value) => value?.ToString("N0", CultureInfo.InvariantCulture) ?? None;

    public static string Ago(DateTimeOffset? at, DateTimeOffset now)
    {
        if (at is not { } when)
        {
            return "never";
        }

        var age = now - when;
        return age.TotalSeconds switch
        {
            < 5 => "just now",
            < 90 => string.Create(CultureInfo.InvariantCulture, $"{age.TotalSeconds:0} s ago"),
            < 5400 => string.Create(CultureInfo.InvariantCulture, $"{age.TotalMinutes:0} min ago"),
            < 172800 => string.Create(CultureInfo.InvariantCulture, $"{age.TotalHours:0} h ago"),
            _ => when.ToString("yyyy-MM-dd HH:mm 'UTC'", CultureInfo.InvariantCulture),
        };
    }

    public static string Time(DateTimeOffset? at) => at?.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) ?? None;
}
