using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// MySQL GTID sets and COM_BINLOG_DUMP_GTID. The encoded set and the command are checked only against bytes built by
/// hand from the documented format (MySQL's Gtid_set::encode, "COM_BINLOG_DUMP_GTID"): no MySQL server runs here.
/// That a MariaDB refuses a MySQL set is checked on the real server.
/// </summary>
public sealed class MySqlGtidSetTests
{
    private const string Uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";

    [Fact]
    public void Parse_MergesAdjacentAndOverlappingRangesAndPrintsAsMySqlDoes()
    {
        var set = MySqlGtidSet.Parse($" {Uuid}:1-3:4:10-12:11-15, 00000000-0000-0000-0000-000000000001:7");
        set.Add(Guid.Parse(Uuid), 16);

        Assert.Equal($"00000000-0000-0000-0000-000000000001:7,{Uuid}:1-4:10-16", set.ToString());
        Assert.True(set.Contains(Guid.Parse(Uuid), 12));
        Assert.False(set.Contains(Guid.Parse(Uuid), 5));
    }

    [Theory]
    [InlineData("not-a-uuid:1-2", "is not a MySQL GTID set member")]
    [InlineData(Uuid + ":5-2", "is not a GTID range")]
    [InlineData(Uuid + ":0", "is not a GTID range")]
    [InlineData(Uuid, "is not a MySQL GTID set member")]
    public void Parse_Malformed_RefusedWithTheReason(string text, string expected)
    {
        var error = Assert.Throws<FormatException>(() => MySqlGtidSet.Parse(text));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Encode_CountUuidBytesRangesWithExclusiveEnds()
    {
        var encoded = MySqlGtidSet.Parse($"{Uuid}:1-5:7").Encode();

        var expected = Hex($"""
            01 00 00 00 00 00 00 00
            3E 11 FA 47 71 CA 11 E1 9E 33 C8 0A A9 42 95 62
            02 00 00 00 00 00 00 00
            01 00 00 00 00 00 00 00  06 00 00 00 00 00 00 00
            07 00 00 00 00 00 00 00  08 00 00 00 00 00 00 00
            """);
        Assert.Equal(expected, encoded);
    }

    [Fact]
    public void BinlogDumpGtidCommand_FlagsServerIdEmptyNamePositionFourAndTheSet()
    {
        var set = MySqlGtidSet.Parse($"{Uuid}:1-5");

        var command = MySqlProtocolConnection.BinlogDumpGtidCommand(set, serverId: 0x01020304, nonBlocking: true).Written.ToArray();

        var expected = Hex("""
            1E
            05 00
            04 03 02 01
            00 00 00 00
            04 00 00 00 00 00 00 00
            30 00 00 00
            """).Concat(set.Encode()).ToArray();
        Assert.Equal(expected, command);
        Assert.Equal(8 + 16 + 8 + 16, set.Encode().Length);
    }

    [Fact]
    public async Task Open_MySqlGtidSetAgainstMariaDb_RefusedAsAnotherServersPosition()
    {
        var source = await MariaDbSource.CreateAsync("gtidset");

        var error = await Assert.ThrowsAsync<BinlogUnsupportedException>(() =>
            source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), GtidState: $"{Uuid}:1-5")));

        Assert.Contains("are a MySQL GTID set, but", error.Message, StringComparison.Ordinal);
        Assert.Contains("is MariaDB", error.Message, StringComparison.Ordinal);
    }

    private static byte[] Hex(string hex) => Convert.FromHexString(string.Concat(hex.Where(Uri.IsHexDigit)));
}
