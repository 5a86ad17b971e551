using System.Globalization;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// A place in a MySQL/MariaDB binlog, as the MySQL source stores it in the destination checkpoint:
/// <c>gtid=0-1-7;file=binlog.000003;pos=1234</c>. Streaming resumes after the GTID state on MariaDB (it survives a
/// change of primary and a renumbered file), from file and offset when the state is empty (a server that has written
/// no GTID yet). The GTID part may also hold a MySQL GTID set (<c>gtid=uuid:1-7;…</c>), which BinlogStream resumes
/// from with COM_BINLOG_DUMP_GTID.
/// </summary>
/// <remarks>
/// The numeric position the engine orders changes by is <see cref="Numeric"/>: the binlog file's index in the high 32
/// bits and the byte offset in the low 32 (binlog files are at most 1 GiB, max_binlog_size). Event groups are written
/// to the binlog whole and in commit order, so the start offset of a group orders transactions as the server committed
/// them, and a consistent snapshot's binlog position lies between groups. RESET MASTER restarting the file numbering
/// breaks that order: <see cref="BinlogPositionLoss"/> detects it (and purged files), and the pipeline then needs a new
/// snapshot, whose positions start a new order (the checkpoint's applied point is cleared with it).
/// </remarks>
internal sealed record BinlogPosition(string GtidState, string File, uint Offset)
{
    public long Numeric => ToNumeric(File, Offset);

    public static long ToNumeric(string file, uint offset) => (FileIndex(file) << 32) | offset;

    /// <summary>The number after the last dot of a binlog file name (<c>binlog.000003</c> → 3).</summary>
    public static long FileIndex(string file)
    {
        var dot = file.LastIndexOf('.');
        return dot >= 0 && long.TryParse(file.AsSpan(dot + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var index) && index < int.MaxValue
            ? index
            : throw new FormatException($"'{file}' is not a binlog file name ending in a number.");
    }

    public static BinlogPosition Parse(string text)
    {
        string? gtid = null, file = null;
        uint? offset = null;
        foreach (var part in text.Split(';', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = part.IndexOf('=');
            var (name, value) = equals < 0 ? (part, "") : (part[..equals], part[(equals + 1)..]);
            switch (name)
            {
                case "gtid":
                    gtid = value;
                    break;
                case "file":
                    file = value;
                    break;
                case "pos":
                    offset = uint.Parse(value, NumberStyles.None, CultureInfo.InvariantCulture);
                    break;
                default:
                    throw new FormatException($"'{text}' is not a MySQL source position (unknown part '{name}').");
            }
        }

        return gtid is null || file is null || offset is null
            ? throw new FormatException($"'{text}' is not a MySQL source position (gtid=…;file=…;pos=…).")
            : new BinlogPosition(gtid, file, offset.Value);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"gtid={GtidState};file={File};pos={Offset}");
}
