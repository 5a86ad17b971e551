using System.Globalization;
using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>The byte sequences are those documented in MySQL's strings/decimal.c (decimal2bin) and their negations.</summary>
public sealed class MySqlDecimalTests
{
    [Fact]
    public void Read_DocumentedExample_GivesTheDecimal()
    {
        Assert.Equal(7, MySqlDecimal.StorageSize(14, 4));
        var value = MySqlDecimal.Read([0x81, 0x0D, 0xFB, 0x38, 0xD2, 0x04, 0xD2], 14, 4);
        Assert.Equal(1234567890.1234m, Assert.IsType<decimal>(value));
        Assert.Equal("1234567890.1234", ((decimal)value).ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public void Read_NegativeIsEveryByteInverted_GivesTheNegativeDecimal()
    {
        var value = MySqlDecimal.Read([0x7E, 0xF2, 0x04, 0xC7, 0x2D, 0xFB, 0x2D], 14, 4);
        Assert.Equal(-1234567890.1234m, Assert.IsType<decimal>(value));
    }

    [Fact]
    public void Read_PrecisionBeyondDecimal_GivesExactText()
    {
        // DECIMAL(30,0) of 10^29 + 7: a 3-digit leading group (2 bytes), then three full groups of nine.
        Assert.Equal(14, MySqlDecimal.StorageSize(30, 0));
        byte[] stored = [0x80, 0x64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7];
        Assert.Equal("100000000000000000000000000007", MySqlDecimal.Read(stored, 30, 0));
    }

    /// <summary>
    /// Random values of every precision and scale, encoded as decimal.c's decimal2bin documents it (by
    /// <see cref="Encode"/>, written from that description), read back exactly: a decimal up to 28 digits, text beyond.
    /// </summary>
    [Fact]
    public void Read_RandomValuesOfEveryPrecisionAndScale_GivesThemBackExactly()
    {
        var random = new Random(20261205);
        for (var precision = 1; precision <= 65; precision++)
        {
            for (var scale = 0; scale <= Math.Min(precision, 30); scale++)
            {
                for (var i = 0; i < 20; i++)
                {
                    var integerDigits = RandomDigits(random, precision - scale);
                    var fractionDigits = RandomDigits(random, scale);
                    var negative = random.Next(2) == 0;
                    var stored = Encode(integerDigits, fractionDigits, negative);
                    Assert.Equal(MySqlDecimal.StorageSize(precision, scale), stored.Length);

                    var integerText = integerDigits.TrimStart('0') is { Length: > 0 } trimmed ? trimmed : "0";
                    var magnitude = scale == 0 ? integerText : $"{integerText}.{fractionDigits}";
                    var isZero = (integerDigits + fractionDigits).All(digit => digit == '0');
                    var expected = negative && !isZero ? "-" + magnitude : magnitude;
                    var value = MySqlDecimal.Read(stored, precision, scale);
                    if (precision <= MySqlDecimal.MaxClrPrecision)
                    {
                        var number = Assert.IsType<decimal>(value);
                        Assert.Equal(expected, number.ToString(CultureInfo.InvariantCulture));
                    }
                    else
                    {
                        Assert.Equal(expected, Assert.IsType<string>(value));
                    }
                }
            }
        }
    }

    /// <summary>
    /// 15817289833210771 × 10^9 leaves 2^64 − 512 in the low 64 bits, so adding the last group 999999999 carries into the
    /// high word: the one step random values almost never reach.
    /// </summary>
    [Fact]
    public void Read_LastGroupCarriesPastSixtyFourBits_GivesTheDecimal()
    {
        var stored = Encode("15817289833210771999999999", "", negative: true);
        Assert.Equal(-15817289833210771999999999m, MySqlDecimal.Read(stored, 26, 0));
    }

    /// <summary>Digits, sometimes all nines or all zeros (the edges), otherwise random.</summary>
    private static string RandomDigits(Random random, int count) => random.Next(10) switch
    {
        0 => new string('9', count),
        1 => new string('0', count),
        _ => string.Concat(Enumerable.Range(0, count).Select(_ => (char)('0' + random.Next(10)))),
    };

    /// <summary>
    /// decimal2bin: the integer digits in groups of nine from the right (the leftover digits first, in as few bytes as
    /// they need: 1-2 digits 1 byte, 3-4 2, 5-6 3, 7-9 4), the fraction in groups of nine from the left (leftover last);
    /// each group big-endian; the first bit flipped; a negative value has every byte inverted.
    /// </summary>
    private static byte[] Encode(string integerDigits, string fractionDigits, bool negative)
    {
        int[] bytesFor = [0, 1, 1, 2, 2, 3, 3, 4, 4, 4];
        var bytes = new List<byte>();
        void Group(string digits)
        {
            var value = digits.Length == 0 ? 0u : uint.Parse(digits, CultureInfo.InvariantCulture);
            var size = bytesFor[digits.Length];
            for (var b = size - 1; b >= 0; b--)
            {
                bytes.Add((byte)(value >> (8 * b)));
            }
        }

        var leading = integerDigits.Length % 9;
        if (leading > 0)
        {
            Group(integerDigits[..leading]);
        }

        for (var at = leading; at < integerDigits.Length; at += 9)
        {
            Group(integerDigits.Substring(at, 9));
        }

        for (var at = 0; at < fractionDigits.Length; at += 9)
        {
            Group(fractionDigits.Substring(at, Math.Min(9, fractionDigits.Length - at)));
        }

        var encoded = bytes.ToArray();
        if (encoded.Length == 0)
        {
            return encoded;
        }

        encoded[0] ^= 0x80;
        if (negative)
        {
            for (var b = 0; b < encoded.Length; b++)
            {
                encoded[b] = (byte)~encoded[b];
            }
        }

        return encoded;
    }
}
