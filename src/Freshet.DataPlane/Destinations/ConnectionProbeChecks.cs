using Freshet.Contracts;

namespace Freshet.DataPlane.Destinations;

/// <summary>What the warehouses' connection probes share: the checks an early failure leaves untried.</summary>
internal static class ConnectionProbeChecks
{
    /// <summary>
    /// Adds every check of <paramref name="order"/> that <paramref name="checks"/> does not report yet as skipped, so a
    /// failed test still lists every check and points at the first thing to fix.
    /// </summary>
    public static List<ConnectionProbeCheck> SkipRest(IEnumerable<string> order, List<ConnectionProbeCheck> checks)
    {
        var done = checks.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        checks.AddRange(order.Where(name => !done.Contains(name))
            .Select(name => new ConnectionProbeCheck(name, ConnectionProbeStatus.Skipped, "Not checked: an earlier check failed.")));
        return checks;
    }
}
