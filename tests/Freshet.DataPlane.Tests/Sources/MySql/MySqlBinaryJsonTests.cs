using System.Text;
using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// MySQL binary JSON to text, from bytes built by hand per the documented format ("json_binary.h" in the MySQL source:
/// type byte, small/large containers with 2/4-byte counts, sizes and offsets measured from the container's start,
/// inlined small values, variable-length string sizes, opaque values with their field type). Checked only this way:
/// MariaDB stores JSON as text and no MySQL server runs here. Date/time packed values were computed with Python from
/// the packed layout (bits 24+: ((y·13+m)·32+d)·2^17 + h·2^12 + mi·2^6 + s; low 24 bits: microseconds).
/// </summary>
public sealed class MySqlBinaryJsonTests
{
    [Theory]
    [InlineData("04 00", "null")]
    [InlineData("04 01", "true")]
    [InlineData("04 02", "false")]
    [InlineData("05 FE FF", "-2")]
    [InlineData("06 FF FF", "65535")]
    [InlineData("07 00 00 00 80", "-2147483648")]
    [InlineData("08 FF FF FF FF", "4294967295")]
    [InlineData("09 00 00 00 00 00 00 00 80", "-9223372036854775808")]
    [InlineData("0A FF FF FF FF FF FF FF FF", "18446744073709551615")]
    [InlineData("0B 00 00 00 00 00 00 04 40", "2.5")]
    [InlineData("0B 00 00 00 00 00 00 08 40", "3.0")]
    [InlineData("0C 00", "\"\"")]
    [InlineData("", "null")]
    public void Scalar_EachTypeAtTopLevel(string hex, string expected) =>
        Assert.Equal(expected, MySqlBinaryJson.ToText(Bytes(hex)));

    [Fact]
    public void Double_ExtremeValueReadsBackExactly()
    {
        var text = MySqlBinaryJson.ToText([0x0B, .. BitConverter.GetBytes(-1e300)]);

        Assert.Equal(-1e300, double.Parse(text, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Contains("E+300", text, StringComparison.Ordinal);
    }

    [Fact]
    public void String_EscapesQuotesBackslashesAndControlsKeepsUnicode()
    {
        var utf8 = Encoding.UTF8.GetBytes("a\"b\\c\nü😀\u0001\t");

        var text = MySqlBinaryJson.ToText([0x0C, (byte)utf8.Length, .. utf8]);

        Assert.Equal("\"a\\\"b\\\\c\\nü😀\\u0001\\t\"", text);
    }

    [Fact]
    public void String_LongerThan127Bytes_HasATwoByteLength()
    {
        // 200 = 0b1_1001000: low 7 bits 0x48 with the continuation bit (0xC8), then 0x01.
        var text = MySqlBinaryJson.ToText([0x0C, 0xC8, 0x01, .. Enumerable.Repeat((byte)'x', 200)]);

        Assert.Equal("\"" + new string('x', 200) + "\"", text);
    }

    [Fact]
    public void SmallObject_KeysInlinedAndOffsetValuesNestedArray()
    {
        // count 4, size 49; key entries (offset, length); value entries (type, inlined value or offset); keys; values.
        const string hex = """
            00
            04 00 31 00
            20 00 01 00  21 00 02 00  23 00 01 00  24 00 01 00
            05 01 00  0C 25 00  04 01 00  02 27 00
            61  62 62  63  64
            01 78
            02 00 0A 00 05 01 00 04 00 00
            """;

        Assert.Equal("{\"a\": 1, \"bb\": \"x\", \"c\": true, \"d\": [1, null]}", MySqlBinaryJson.ToText(Bytes(hex)));
    }

    [Fact]
    public void LargeObject_FourByteOffsetsAndUInt32Inlined()
    {
        // count 2, size 40; key entries of 4+2 bytes; value entries of 1+4 bytes: uint32 inlined, int64 at offset 32.
        const string hex = """
            01
            02 00 00 00 28 00 00 00
            1E 00 00 00 01 00  1F 00 00 00 01 00
            08 FF FF FF FF  09 20 00 00 00
            6B 6E
            FB FF FF FF FF FF FF FF
            """;

        Assert.Equal("{\"k\": 4294967295, \"n\": -5}", MySqlBinaryJson.ToText(Bytes(hex)));
    }

    [Fact]
    public void SmallArray_Int32AndDoubleAndStringAtOffsets()
    {
        // In the small form only literals and 16-bit integers are inlined; int32 sits at an offset.
        const string hex = """
            02
            05 00 25 00
            05 01 00  07 13 00  0C 17 00  0B 19 00  07 21 00
            A0 86 01 00
            01 73
            00 00 00 00 00 00 04 40
            F9 FF FF FF
            """;

        Assert.Equal("[1, 100000, \"s\", 2.5, -7]", MySqlBinaryJson.ToText(Bytes(hex)));
    }

    [Fact]
    public void LargeArray_Int32InlinedLiteralAndEmptyObject()
    {
        const string hex = """
            03
            04 00 00 00 20 00 00 00
            07 FF FF FF FF  06 07 00 00 00  04 02 00 00 00  00 1C 00 00 00
            00 00 04 00
            """;

        Assert.Equal("[-1, 7, false, {}]", MySqlBinaryJson.ToText(Bytes(hex)));
    }

    [Theory]
    // DECIMAL(4,2): precision, scale, then the binlog decimal (12 → 0x0C with the sign bit flipped on, 34 → 0x22).
    [InlineData("0F F6 04 04 02 8C 22", "12.34")]
    [InlineData("0F F6 04 04 02 73 DD", "-12.34")]
    [InlineData("0F 0A 08 00 00 00 00 00 1E 95 19", "\"2015-01-15\"")]
    [InlineData("0F 0C 08 40 E2 01 19 76 1F 95 19", "\"2015-01-15 23:24:25.123456\"")]
    [InlineData("0F 07 08 40 E2 01 19 76 1F 95 19", "\"2015-01-15 23:24:25.123456\"")]
    [InlineData("0F 0B 08 E0 5E F8 47 37 FF FF FF", "\"-12:34:56.500000\"")]
    [InlineData("0F 0B 08 00 00 00 FB 6E 34 00 00", "\"838:59:59.000000\"")]
    [InlineData("0F 0F 03 61 62 63", "\"base64:type15:YWJj\"")]
    public void Opaque_DecimalDateTimeAndOtherTypes(string hex, string expected) =>
        Assert.Equal(expected, MySqlBinaryJson.ToText(Bytes(hex)));

    [Theory]
    [InlineData("0D 00", "unknown type 0x0D")]
    [InlineData("00 04 00 31 00", "says it has 49 bytes; 4 are there")]
    [InlineData("04 07", "literal has unknown value 0x07")]
    [InlineData("0C 05 61", "needs 5 bytes; 1 remain")]
    public void Malformed_RefusedWithTheReason(string hex, string expected)
    {
        var error = Assert.Throws<MySqlProtocolException>(() => MySqlBinaryJson.ToText(Bytes(hex)));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    private static byte[] Bytes(string hex) =>
        Convert.FromHexString(string.Concat(hex.Where(Uri.IsHexDigit)));
}
