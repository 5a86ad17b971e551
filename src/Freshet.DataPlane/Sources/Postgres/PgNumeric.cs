using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// Decodes PostgreSQL's binary numeric (and numeric[]) wire format to exact decimal text, for numerics that do not fit
/// System.Decimal (unconstrained, or declared with more than 28 digits): Npgsql can only produce decimal or BigInteger.
/// </summary>
internal static class PgNumeric
{
    private const ushort Negative = 0x4000;
    private const ushort NaN = 0xC000;
    private const ushort PositiveInfinity = 0xD000;
    private const ushort NegativeInfinity = 0xF000;

    public static string ToText(ReadOnlySpan<byte> value)
    {
        var digitCount = BinaryPrimitives.ReadInt16BigEndian(value);
        var weight = BinaryPrimitives.ReadInt16BigEndian(value[2..]);
        var sign = BinaryPrimitives.ReadUInt16BigEndian(value[4..]);
        var displayScale = BinaryPrimitives.ReadInt16BigEndian(value[6..]);
        switch (sign)
        {
            case NaN:
                return "NaN";
            case PositiveInfinity:
                return "Infinity";
            case NegativeInfinity:
                return "-Infinity";
        }

        var digits = new short[digitCount];
        for (var i = 0; i < digitCount; i++)
        {
            digits[i] = BinaryPrimitives.ReadInt16BigEndian(value[(8 + (2 * i))..]);
        }

        var text = new StringBuilder();
        if (sign == Negative)
        {
            text.Append('-');
        }

        // Integer part: base-10000 digit groups 0..weight; the first group is printed without leading zeros.
        if (weight < 0)
        {
            text.Append('0');
        }
        else
        {
            for (var group = 0; group <= weight; group++)
            {
                var digit = group < digitCount ? digits[group] : (short)0;
                text.Append(group == 0 ? digit.ToString(CultureInfo.InvariantCulture) : digit.ToString("D4", CultureInfo.InvariantCulture));
            }
        }

        if (displayScale > 0)
        {
            text.Append('.');
            var fraction = new StringBuilder();
            for (var group = weight + 1; fraction.Length < displayScale; group++)
            {
                var digit = group >= 0 && group < digitCount ? digits[group] : (short)0;
                fraction.Append(digit.ToString("D4", CultureInfo.InvariantCulture));
            }

            text.Append(fraction.ToString(0, displayScale));
        }

        return text.ToString();
    }

    /// <summary>Decodes a one-dimensional binary numeric[]; multi-dimensional arrays are refused.</summary>
    public static string?[] ArrayToText(ReadOnlySpan<byte> value)
    {
        var dimensions = BinaryPrimitives.ReadInt32BigEndian(value);
        if (dimensions == 0)
        {
            return [];
        }

        if (dimensions != 1)
        {
            throw new NotSupportedException("Multi-dimensional arrays are not replicated.");
        }

        var length = BinaryPrimitives.ReadInt32BigEndian(value[12..]);
        var result = new string?[length];
        var offset = 20;
        for (var i = 0; i < length; i++)
        {
            var size = BinaryPrimitives.ReadInt32BigEndian(value[offset..]);
            offset += 4;
            if (size < 0)
            {
                result[i] = null;
                continue;
            }

            result[i] = ToText(value.Slice(offset, size));
            offset += size;
        }

        return result;
    }
}
