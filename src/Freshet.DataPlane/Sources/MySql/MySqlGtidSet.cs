using System.Buffers.Binary;
using System.Globalization;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// A MySQL GTID set (<c>@@gtid_executed</c>): per source server UUID, the transaction numbers seen, as inclusive
/// ranges — <c>3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,…</c>. Streaming from MySQL resumes after such a set
/// (COM_BINLOG_DUMP_GTID). MariaDB's GTIDs are another thing (<see cref="MariaDbGtidState"/>).
/// </summary>
internal sealed class MySqlGtidSet
{
    // Per UUID, disjoint inclusive ranges in ascending order, neighbours merged.
    // UUIDs in the order of their text, as MySQL prints them.
    private readonly SortedDictionary<Guid, List<(long Start, long End)>> _ranges =
        new(Comparer<Guid>.Create(static (a, b) => string.CompareOrdinal(a.ToString("D"), b.ToString("D"))));

    public bool IsEmpty => _ranges.Count == 0;

    /// <summary>Whether a position's GTID text is a MySQL set (UUIDs with colons) rather than MariaDB's domain-server-sequence list.</summary>
    public static bool IsMySqlForm(string text) => text.Contains(':', StringComparison.Ordinal);

    public static MySqlGtidSet Parse(string text)
    {
        var set = new MySqlGtidSet();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var pieces = part.Split(':');
            if (pieces.Length < 2 || !Guid.TryParseExact(pieces[0], "D", out var uuid))
            {
                throw new FormatException($"'{part}' is not a MySQL GTID set member (uuid:start-end[:start-end…]).");
            }

            foreach (var range in pieces[1..])
            {
                var dash = range.IndexOf('-');
                var startText = dash < 0 ? range : range[..dash];
                var endText = dash < 0 ? range : range[(dash + 1)..];
                if (!long.TryParse(startText, NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                    || !long.TryParse(endText, NumberStyles.None, CultureInfo.InvariantCulture, out var end)
                    || start < 1 || end < start)
                {
                    throw new FormatException($"'{range}' in '{part}' is not a GTID range (n or n-m with 1 ≤ n ≤ m).");
                }

                set.AddRange(uuid, start, end);
            }
        }

        return set;
    }

    /// <summary>Records transaction <paramref name="number"/> of source <paramref name="uuid"/> (a GTID event's).</summary>
    public void Add(Guid uuid, long number) => AddRange(uuid, number, number);

    public bool Contains(Guid uuid, long number) =>
        _ranges.TryGetValue(uuid, out var ranges) && ranges.Exists(r => r.Start <= number && number <= r.End);

    /// <summary>
    /// The binary form COM_BINLOG_DUMP_GTID carries (MySQL's Gtid_set::encode): the number of UUIDs(8), then per UUID
    /// its 16 bytes as written in the text form, the number of ranges(8), and per range start(8) and end(8) with the
    /// end exclusive. All integers little-endian.
    /// </summary>
    public byte[] Encode()
    {
        var size = 8 + _ranges.Sum(r => 16 + 8 + 16 * r.Value.Count);
        var bytes = new byte[size];
        var at = 0;
        BinaryPrimitives.WriteInt64LittleEndian(bytes, _ranges.Count);
        at += 8;
        foreach (var (uuid, ranges) in _ranges)
        {
            uuid.TryWriteBytes(bytes.AsSpan(at, 16), bigEndian: true, out _);
            at += 16;
            BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), ranges.Count);
            at += 8;
            foreach (var (start, end) in ranges)
            {
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at), start);
                BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(at + 8), end + 1);
                at += 16;
            }
        }

        return bytes;
    }

    /// <summary>MySQL's text form: UUIDs in order, ranges joined by colons, a single number for a range of one.</summary>
    public override string ToString() => string.Join(',', _ranges.Select(r =>
        r.Key.ToString("D") + string.Concat(r.Value.Select(range => range.Start == range.End
            ? string.Create(CultureInfo.InvariantCulture, $":{range.Start}")
            : string.Create(CultureInfo.InvariantCulture, $":{range.Start}-{range.End}")))));

    private void AddRange(Guid uuid, long start, long end)
    {
        if (!_ranges.TryGetValue(uuid, out var ranges))
        {
            _ranges[uuid] = ranges = [];
        }

        ranges.Add((start, end));
        ranges.Sort();
        // Merge overlapping and adjacent ranges, so that 1-3 and 4 become 1-4.
        var merged = new List<(long Start, long End)>(ranges.Count);
        foreach (var range in ranges)
        {
            if (merged.Count > 0 && range.Start <= merged[^1].End + 1)
            {
                merged[^1] = (merged[^1].Start, Math.Max(merged[^1].End, range.End));
            }
            else
            {
                merged.Add(range);
            }
        }

        ranges.Clear();
        ranges.AddRange(merged);
    }
}
