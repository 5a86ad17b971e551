using System.Globalization;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>A MariaDB global transaction id, written <c>domain-server-sequence</c>.</summary>
internal readonly record struct MariaDbGtid(uint DomainId, uint ServerId, ulong Sequence)
{
    public static MariaDbGtid Parse(string text)
    {
        var parts = text.Trim().Split('-');
        if (parts.Length != 3
            || !uint.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var domain)
            || !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var server)
            || !ulong.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var sequence))
        {
            throw new FormatException($"'{text}' is not a MariaDB GTID (domain-server-sequence).");
        }

        return new MariaDbGtid(domain, server, sequence);
    }

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{DomainId}-{ServerId}-{Sequence}");
}

/// <summary>
/// A MariaDB replication position: the last GTID applied in each domain, as <c>@@gtid_binlog_pos</c> and
/// <c>@slave_connect_state</c> write it (<c>0-1-7,1-2-40</c>). Streaming resumes after these.
/// </summary>
internal sealed class MariaDbGtidState
{
    private readonly SortedDictionary<uint, MariaDbGtid> _byDomain = [];

    public IEnumerable<MariaDbGtid> Gtids => _byDomain.Values;

    public static MariaDbGtidState Parse(string text)
    {
        var state = new MariaDbGtidState();
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            state.Advance(MariaDbGtid.Parse(part));
        }

        return state;
    }

    /// <summary>
    /// Every GTID of a list such as <c>@@gtid_binlog_state</c>, which keeps the last one of each domain and server (so a
    /// domain can appear more than once, unlike in a position).
    /// </summary>
    public static IReadOnlyList<MariaDbGtid> ParseAll(string text) =>
        [.. text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(MariaDbGtid.Parse)];

    /// <summary>Records <paramref name="gtid"/> as the last one applied in its domain.</summary>
    public void Advance(MariaDbGtid gtid) => _byDomain[gtid.DomainId] = gtid;

    public override string ToString() => string.Join(',', _byDomain.Values);
}
