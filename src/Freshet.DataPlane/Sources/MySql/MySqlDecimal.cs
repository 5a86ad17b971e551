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

    /// <summary>10^0 … 10^9: a group holds up to nine digits.</summary>
    private static readonly ulong[] TenToThe = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000];

    public static int StorageSize(int precision, int scale)
    {
        var integerDigits = precision - scale;
        return integerDigits / 9 * 4 + Dig2Bytes[integerDigits % 9] + scale / 9 * 4 + Dig2Bytes[scale % 9];
    }

    /// <summary>Reads a value: a <see cref="decimal"/> when precision ≤ 28, otherwise its exact decimal text.</summary>
    public static object Read(ReadOnlySpan<byte> stored, int precision, int scale) =>
        precision <= MaxClrPrecision ? ReadClr(stored, precision, scale) : ReadWide(stored, precision, scale);

    /// <summary>Reads a value of precision ≤ 28 as a <see cref="decimal"/> (unboxed, for columnar reading).</summary>
    /// <remarks>
    /// The hot path of a binlog backlog with a DECIMAL column: the coefficient is gathered in two 64-bit words (it is
    /// below 10^28 &lt; 2^94) with one multiply by a power of ten from a table per group of nine digits, where a loop
    /// over <see cref="UInt128"/> and a delegate per group took a tenth of the worker's time (UInt128's operators are
    /// also not precompiled, so they ran unoptimized at first).
    /// </remarks>
    public static decimal ReadClr(ReadOnlySpan<byte> stored, int precision, int scale)
    {
        Span<byte> bytes = stackalloc byte[stored.Length];
        var negative = Unpack(stored, bytes);

        ulong low = 0;
        ulong high = 0;
        var groups = new DigitGroups(bytes, precision - scale, scale);
        while (groups.Next(out var group, out var digits))
        {
            // (high, low) = (high, low) * 10^digits + group; high stays below 2^32 for 28 digits.
            var carry = Math.BigMul(low, TenToThe[digits], out low);
            low += group;
            if (low < group)
            {
                carry++;
            }

            high = (high * TenToThe[digits]) + carry;
        }

        return new decimal((int)(uint)low, (int)(uint)(low >> 32), (int)(uint)high, negative && (low | high) != 0, (byte)scale);
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

        BigInteger wide = 0;
        var groups = new DigitGroups(bytes, precision - scale, scale);
        while (groups.Next(out var group, out var digits))
        {
            wide = (wide * TenToThe[digits]) + group;
        }

        var digitsText = wide.ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var text = scale == 0 ? digitsText : $"{digitsText[..^scale]}.{digitsText[^scale..]}";
        return negative && !wide.IsZero ? "-" + text : text;
    }

    /// <summary>
    /// The digit groups of an unpacked value, most significant first: the integer part has its partial group first, the
    /// fraction has it last.
    /// </summary>
    private ref struct DigitGroups(ReadOnlySpan<byte> bytes, int integerDigits, int scale)
    {
        private readonly ReadOnlySpan<byte> _bytes = bytes;
        private int _position;

        // Groups still to read: the integer part's partial and full groups, then the fraction's full and partial ones.
        private int _integerPartial = integerDigits % 9;
        private int _integerFull = integerDigits / 9;
        private int _fractionFull = scale / 9;
        private int _fractionPartial = scale % 9;

        public bool Next(out uint group, out int digits)
        {
            if (_integerPartial > 0)
            {
                digits = _integerPartial;
                _integerPartial = 0;
            }
            else if (_integerFull > 0)
            {
                digits = 9;
                _integerFull--;
            }
            else if (_fractionFull > 0)
            {
                digits = 9;
                _fractionFull--;
            }
            else if (_fractionPartial > 0)
            {
                digits = _fractionPartial;
                _fractionPartial = 0;
            }
            else
            {
                group = 0;
                digits = 0;
                return false;
            }

            var count = digits == 9 ? 4 : Dig2Bytes[digits];
            group = 0;
            for (var i = 0; i < count; i++)
            {
                group = group << 8 | _bytes[_position + i];
            }

            _position += count;
            return true;
        }
    }
}
