using System.Globalization;
using System.Numerics;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// MySQL's binary DECIMAL (strings/decimal.c, decimal2bin): the integer and the fractional digits in groups of nine,
/// each group four big-endian bytes, a partial group at the far ends taking dig2bytes[digits] bytes; the first bit is
/// flipped so that the bytes sort, and a negative value has every byte inverted.
/// Example from decimal.c: 1234567890.1234 as DECIMAL(14,4) is 81 0D FB 38 D2 04 D2.
/// </summary>
internal static class MySqlDecimal
{
    /// <summary>Digits a <see cref="decimal"/> holds for sure; wider columns become exact text.</summary>
    public const int MaxClrPrecision = 28;

    private static readonly int[] Dig2Bytes = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];

    public static int StorageSize(int precision, int scale)
    {
        var integerDigits = precision - scale;
        return integerDigits / 9 * 4 + Dig2Bytes[integerDigits % 9] + scale / 9 * 4 + Dig2Bytes[scale % 9];
    }

    /// <summary>Reads a value: a <see cref="decimal"/> when precision ≤ 28, otherwise its exact decimal text.</summary>
    public static object Read(ReadOnlySpan<byte> stored, int precision, int scale) =>
        precision <= MaxClrPrecision ? ReadClr(stored, precision, scale) : ReadWide(stored, precision, scale);

    /// <summary>Reads a value of precision ≤ 28 as a <see cref="decimal"/> (unboxed, for columnar reading).</summary>
    public static decimal ReadClr(ReadOnlySpan<byte> stored, int precision, int scale)
    {
        Span<byte> bytes = stackalloc byte[stored.Length];
        var negative = Unpack(stored, bytes);

        var integerDigits = precision - scale;
        var position = 0;
        UInt128 unscaled = 0;
        ReadGroups(bytes, ref position, integerDigits, ref unscaled, static (ref UInt128 acc, uint group, int digits) => acc = acc * Pow10(digits) + group, leadingPartialFirst: true);
        ReadGroups(bytes, ref position, scale, ref unscaled, static (ref UInt128 acc, uint group, int digits) => acc = acc * Pow10(digits) + group, leadingPartialFirst: false);
        var low = (ulong)unscaled;
        var high = (uint)(unscaled >> 64);
        return new decimal((int)(uint)low, (int)(uint)(low >> 32), (int)high, negative && unscaled != 0, (byte)scale);
    }

    /// <summary>
    /// Copies a stored value into <paramref name="bytes"/> as plain digit groups: the stored form flips the sign bit, and
    /// a negative value is stored with every bit inverted. Returns whether the value is negative.
    /// </summary>
    private static bool Unpack(ReadOnlySpan<byte> stored, Span<byte> bytes)
    {
        stored.CopyTo(bytes);
        var negative = (bytes[0] & 0x80) == 0;
        bytes[0] ^= 0x80;
        if (negative)
        {
            for (var i = 0; i < bytes.Length; i++)
            {
                bytes[i] = (byte)~bytes[i];
            }
        }

        return negative;
    }

    private static string ReadWide(ReadOnlySpan<byte> stored, int precision, int scale)
    {
        Span<byte> bytes = stackalloc byte[stored.Length];
        var negative = Unpack(stored, bytes);

        var integerDigits = precision - scale;
        var position = 0;
        BigInteger wide = 0;
        ReadGroups(bytes, ref position, integerDigits, ref wide, static (ref BigInteger acc, uint group, int digits) => acc = acc * BigInteger.Pow(10, digits) + group, leadingPartialFirst: true);
        ReadGroups(bytes, ref position, scale, ref wide, static (ref BigInteger acc, uint group, int digits) => acc = acc * BigInteger.Pow(10, digits) + group, leadingPartialFirst: false);
        var digitsText = wide.ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var text = scale == 0 ? digitsText : $"{digitsText[..^scale]}.{digitsText[^scale..]}";
        return negative && !wide.IsZero ? "-" + text : text;
    }

    private delegate void Accumulate<T>(ref T accumulator, uint group, int digits);

    /// <summary>The integer part has its partial group first; the fraction has it last.</summary>
    private static void ReadGroups<T>(ReadOnlySpan<byte> bytes, ref int position, int digits, ref T accumulator, Accumulate<T> add, bool leadingPartialFirst)
    {
        var partial = digits % 9;
        var full = digits / 9;
        if (leadingPartialFirst && partial > 0)
        {
            add(ref accumulator, ReadBigEndian(bytes, ref position, Dig2Bytes[partial]), partial);
        }

        for (var i = 0; i < full; i++)
        {
            add(ref accumulator, ReadBigEndian(bytes, ref position, 4), 9);
        }

        if (!leadingPartialFirst && partial > 0)
        {
            add(ref accumulator, ReadBigEndian(bytes, ref position, Dig2Bytes[partial]), partial);
        }
    }

    private static uint ReadBigEndian(ReadOnlySpan<byte> bytes, ref int position, int count)
    {
        uint value = 0;
        for (var i = 0; i < count; i++)
        {
            value = value << 8 | bytes[position + i];
        }

        position += count;
        return value;
    }

    private static UInt128 Pow10(int digits)
    {
        UInt128 value = 1;
        for (var i = 0; i < digits; i++)
        {
            value *= 10;
        }

        return value;
    }
}
