using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// The PostgreSQL source's resume position: the LSN to start streaming from, and — right after a resumed snapshot —
/// the LSN up to which unchanged values are read from the source (<c>0/1A2B3C;fill-until=0/1A2F00</c>).
/// </summary>
internal static class StreamStart
{
    private const string FillMarker = ";fill-until=";

    public static string Format(NpgsqlLogSequenceNumber start, NpgsqlLogSequenceNumber? fillUntil) =>
        fillUntil is { } until && until > start ? $"{start}{FillMarker}{until}" : start.ToString();

    public static (NpgsqlLogSequenceNumber Start, NpgsqlLogSequenceNumber? FillUntil) Parse(string position)
    {
        var marker = position.IndexOf(FillMarker, StringComparison.Ordinal);
        return marker < 0
            ? (Lsn.Parse(position), null)
            : (Lsn.Parse(position[..marker]), Lsn.Parse(position[(marker + FillMarker.Length)..]));
    }
}
