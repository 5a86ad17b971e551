namespace Freshet.Contracts;

/// <summary>How one check of a connection test came out.</summary>
public enum ConnectionProbeStatus
{
    /// <summary>What was checked works.</summary>
    Passed,
    /// <summary>What was checked does not work; the check's fix says what to change.</summary>
    Failed,
    /// <summary>Not tried, because an earlier check it needs failed.</summary>
    Skipped,
}

/// <summary>One check of a connection test: its name, outcome, what was found, and what to do about a failure.</summary>
public sealed record ConnectionProbeCheck(string Name, ConnectionProbeStatus Status, string Detail, string? Fix = null);

/// <summary>
/// Tests a connection of one type by reaching the service with its settings and secrets, check by check. Implemented
/// where the type's client lives (the data plane, for the warehouses) and handed to the API's connection test by the host
/// that composes both, so the API module needs no reference to the data plane.
/// </summary>
public interface IConnectionProbe
{
    /// <summary>The connection type it tests.</summary>
    ConnectionType Type { get; }

    /// <summary>Runs the checks in order; a check that cannot run because an earlier one failed is reported as skipped.</summary>
    Task<IReadOnlyList<ConnectionProbeCheck>> ProbeAsync(EndpointSpec endpoint, ConnectionKind kind, CancellationToken cancellationToken);
}
