using System.Globalization;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Decides whether a stored binlog position can still be read from the server, from what the server says about its
/// binlog now: the files <c>SHOW BINARY LOGS</c> lists (with their sizes) and, on MariaDB, <c>@@gtid_binlog_state</c>.
/// </summary>
/// <remarks>
/// Two ways the position is lost: the file holding it was purged (retention, <c>PURGE BINARY LOGS</c>), or the server's
/// binlog started over (<c>RESET MASTER</c>, a server restored from an older backup). A restart of the numbering can
/// leave a file of the same name, so the file list alone does not tell; the GTID state does: the server's last sequence
/// number in each of the position's domains is at least the position's while the history is the same one, and behind
/// it once the binlog was reset or rolled back. Pure, so every case is tested without a server.
/// </remarks>
internal static class BinlogPositionLoss
{
    /// <summary>The advice every reason ends with: what recovers.</summary>
    public const string Recovery =
        "The changes since that position can no longer be read; re-snapshot the pipeline (all its tables) to copy them again and stream from a new position.";

    /// <summary>Why <paramref name="position"/> cannot be read any more, or null when it can.</summary>
    /// <param name="position">The stored position.</param>
    /// <param name="files">The server's binlog files, oldest first, with their sizes in bytes.</param>
    /// <param name="serverGtidState">MariaDB's <c>@@gtid_binlog_state</c> (every domain-server's last GTID); null on MySQL.</param>
    /// <param name="gtidStateAtPosition">
    /// MariaDB's <c>BINLOG_GTID_POS(file, offset)</c> of the position (null when the server finds no such place, or on
    /// MySQL): while the binlog is the one the position was read from, it names the position's own GTIDs.
    /// </param>
    public static string? Explain(BinlogPosition position, IReadOnlyList<(string Name, long Size)> files, string? serverGtidState, string? gtidStateAtPosition = null)
    {
        var at = $"the pipeline's position ({position})";
        if (serverGtidState is not null && position.GtidState.Length > 0)
        {
            var server = MariaDbGtidState.ParseAll(serverGtidState);
            foreach (var ours in MariaDbGtidState.Parse(position.GtidState).Gtids)
            {
                var newest = server.Where(g => g.DomainId == ours.DomainId).Select(g => (ulong?)g.Sequence).Max();
                if (newest is null || newest < ours.Sequence)
                {
                    var theirs = newest is null ? "has no transaction in GTID domain " + ours.DomainId.ToString(CultureInfo.InvariantCulture) : $"is at sequence {newest} in domain {ours.DomainId}";
                    return $"the server's binlog started over (RESET MASTER, or a server restored from an older backup): its GTID state ({Show(serverGtidState)}) {theirs}, behind {at}";
                }
            }
        }

        if (files.Count == 0)
        {
            return $"the server lists no binlog file (is log_bin off?), so {at} cannot be read";
        }

        var index = BinlogPosition.FileIndex(position.File);
        var (first, last) = (files[0].Name, files[^1].Name);
        if (index > BinlogPosition.FileIndex(last))
        {
            return $"the server's binlog numbering started over (RESET MASTER, or a server restored from an older backup): {at} is in {position.File}, but the server's binlog ends at {last}";
        }

        var file = files.FirstOrDefault(f => string.Equals(f.Name, position.File, StringComparison.Ordinal));
        if (file.Name is null)
        {
            return $"the binlog file {position.File} holding {at} was purged from the server, which keeps {first} to {last} now";
        }

        if (position.Offset > file.Size)
        {
            return $"the server's binlog started over (RESET MASTER, or a server restored from an older backup): {position.File} is {file.Size} bytes now, shorter than {at}";
        }

        // A binlog that started over and has grown past the old offset again, with GTID sequence numbers past the old
        // ones: only what is at that place now tells it apart.
        if (serverGtidState is not null && position.GtidState.Length > 0)
        {
            var there = gtidStateAtPosition is null ? [] : MariaDbGtidState.ParseAll(gtidStateAtPosition);
            if (MariaDbGtidState.Parse(position.GtidState).Gtids.Any(ours => !there.Contains(ours)))
            {
                return $"the server's binlog started over (RESET MASTER, or a server restored from an older backup): at {position.File}:{position.Offset} it now has "
                    + $"the GTID state {(gtidStateAtPosition is null ? "of no event boundary" : Show(gtidStateAtPosition))}, not {at}";
            }
        }

        return null;
    }

    /// <summary>The full text of a lost position's failure: what happened, then what recovers.</summary>
    public static string Message(string reason) => $"The MySQL source cannot resume: {reason}. {Recovery}";

    private static string Show(string state) => state.Length == 0 ? "empty" : state;
}
