using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// Each way a stored binlog position is lost, decided from what the server lists; the end-to-end cases on a real
/// MariaDB (PURGE BINARY LOGS, RESET MASTER) are in EndToEnd/MySqlPositionLossTests.
/// </summary>
public sealed class BinlogPositionLossTests
{
    private static readonly BinlogPosition Stored = new("0-1-500", "binlog.000004", 9000);

    [Fact]
    public void SameHistory_IsNotLost()
    {
        (string, long)[] files = [("binlog.000003", 50_000), ("binlog.000004", 9000), ("binlog.000005", 400)];
        Assert.Null(BinlogPositionLoss.Explain(Stored, files, "0-1-730,0-2-12", "0-1-500"));
    }

    [Fact]
    public void FilePurged_SaysPurgedAndWhatIsKept()
    {
        (string, long)[] files = [("binlog.000006", 50_000), ("binlog.000007", 400)];
        var reason = BinlogPositionLoss.Explain(Stored, files, "0-1-730", null);
        Assert.Equal("the binlog file binlog.000004 holding the pipeline's position (gtid=0-1-500;file=binlog.000004;pos=9000) was purged from the server, which keeps binlog.000006 to binlog.000007 now", reason);
    }

    [Fact]
    public void GtidStateBehind_IsAReset()
    {
        (string, long)[] files = [("binlog.000001", 20_000)];
        Assert.Contains("its GTID state (0-1-120) is at sequence 120 in domain 0, behind", BinlogPositionLoss.Explain(Stored, files, "0-1-120", null));
        Assert.Contains("its GTID state (empty) has no transaction in GTID domain 0", BinlogPositionLoss.Explain(Stored, files, "", null));
    }

    [Fact]
    public void NumberingBelowThePosition_WithoutGtids_IsAReset()
    {
        var position = Stored with { GtidState = "" };
        (string, long)[] files = [("binlog.000001", 20_000), ("binlog.000002", 300)];
        Assert.Contains("started over", BinlogPositionLoss.Explain(position, files, "", null));
        // The same file name, now shorter than the offset.
        Assert.Contains("is 300 bytes now", BinlogPositionLoss.Explain(position with { File = "binlog.000002" }, files, "", null));
    }

    [Fact]
    public void ResetThatGrewPastTheOldPlace_IsToldByTheGtidsThere()
    {
        // RESET MASTER, then more transactions than before: file, offset and sequence numbers all look plausible.
        (string, long)[] files = [("binlog.000004", 80_000)];
        var reason = BinlogPositionLoss.Explain(Stored, files, "0-1-900", "0-1-61");
        Assert.Contains("it now has the GTID state 0-1-61, not the pipeline's position", reason);
        Assert.Contains("of no event boundary", BinlogPositionLoss.Explain(Stored, files, "0-1-900", null));
    }

    [Fact]
    public void Message_EndsWithTheRecovery()
    {
        Assert.EndsWith("re-snapshot the pipeline (all its tables) to copy them again and stream from a new position.", BinlogPositionLoss.Message("x"));
    }
}
