using System.Globalization;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>Reads the SQL API's jsonv2 value text (docs: "Handling responses", data types) into .NET values.</summary>
public static class SnowflakeValues
{
    /// <summary>DATE: days since 1970-01-01.</summary>
    public static DateOnly Date(string text) =>
        DateOnly.FromDayNumber(DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber + int.Parse(text, CultureInfo.InvariantCulture));

    /// <summary>TIME: seconds since midnight with a fraction.</summary>
    public static TimeOnly Time(string text) => new(Ticks(text));

    /// <summary>TIMESTAMP_NTZ: seconds since the epoch (wall clock) with a fraction.</summary>
    public static DateTime TimestampNtz(string text) => new(DateTime.UnixEpoch.Ticks + Ticks(text), DateTimeKind.Unspecified);

    /// <summary>TIMESTAMP_TZ: UTC seconds since the epoch, a space, and the offset in minutes plus 1440.</summary>
    public static DateTimeOffset TimestampTz(string text)
    {
        var space = text.IndexOf(' ', StringComparison.Ordinal);
        var utc = new DateTime(DateTime.UnixEpoch.Ticks + Ticks(space < 0 ? text : text[..space]), DateTimeKind.Utc);
        var offset = space < 0 ? TimeSpan.Zero : TimeSpan.FromMinutes(int.Parse(text[(space + 1)..], CultureInfo.InvariantCulture) - 1440);
        return new DateTimeOffset(utc).ToOffset(offset);
    }

    public static decimal Fixed(string text) => decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);

    public static bool Boolean(string text) => text is "true" or "TRUE" or "1";

    public static byte[] Binary(string text) => Convert.FromHexString(text);

    // Signed decimal seconds with up to nine fraction digits; .NET ticks keep seven (the rest is truncated toward zero).
    private static long Ticks(string seconds) =>
        (long)decimal.Truncate(decimal.Parse(seconds, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture) * TimeSpan.TicksPerSecond);
}
