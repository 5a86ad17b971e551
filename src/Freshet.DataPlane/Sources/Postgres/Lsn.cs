using System.Globalization;
using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>Conversions between PostgreSQL log positions and the data plane's numeric and textual positions.</summary>
internal static class Lsn
{
    public static long ToPosition(NpgsqlLogSequenceNumber lsn) => checked((long)(ulong)lsn);

    public static NpgsqlLogSequenceNumber FromPosition(long position) => new((ulong)position);

    public static string ToText(NpgsqlLogSequenceNumber lsn) => lsn.ToString();

    public static NpgsqlLogSequenceNumber Parse(string text) => NpgsqlLogSequenceNumber.Parse(text);

    public static string Describe(long position) => FromPosition(position).ToString();

    public static string Hex(ulong value) => value.ToString("X", CultureInfo.InvariantCulture);
}
