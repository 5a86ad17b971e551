using System.Collections;
using System.Globalization;
using System.Text.Json;
using DuckDB.NET.Native;
using NpgsqlTypes;

namespace Freshet.DataPlane.Tests.Support;

/// <summary>
/// One spelling per value, whichever driver produced it (Npgsql reading the source, DuckDB.NET or Npgsql reading a
/// destination), so rows can be compared value by value.
/// </summary>
internal static class Canonical
{
    public static string Of(object? value) => value switch
    {
        null or DBNull => "∅",
        string s => s,
        bool b => b ? "true" : "false",
        short or int or long or sbyte or byte or ushort or uint or ulong => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        System.Numerics.BigInteger i => i.ToString(CultureInfo.InvariantCulture),
        decimal d => d.ToString("0.############################", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        DateOnly d => d.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeOnly t => t.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        TimeSpan t => t.ToString(@"hh\:mm\:ss\.ffffff", CultureInfo.InvariantCulture),
        DateTime t => t.ToString("yyyy-MM-ddTHH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        DateTimeOffset t => t.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.ffffff", CultureInfo.InvariantCulture),
        NpgsqlInterval i => $"{i.Months}mon {i.Days}d {i.Time}us",
        DuckDBInterval i => $"{i.Months}mon {i.Days}d {unchecked((long)i.Micros)}us",
        Guid g => g.ToString("D"),
        byte[] bytes => "\\x" + Convert.ToHexString(bytes),
        Stream stream => "\\x" + Convert.ToHexString(ReadAll(stream)),
        IEnumerable items => "[" + string.Join(",", items.Cast<object?>().Select(Of)) + "]",
        _ => value.ToString() ?? "",
    };

    /// <summary>JSON compared by content: the text is re-serialised without insignificant whitespace.</summary>
    public static string Json(object? value) => value is string s ? JsonSerializer.Serialize(JsonDocument.Parse(s).RootElement) : Of(value);

    private static byte[] ReadAll(Stream stream)
    {
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
