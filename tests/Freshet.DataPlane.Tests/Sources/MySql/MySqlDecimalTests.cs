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
}
