namespace Freshet.DataPlane.Runtime;

/// <summary>
/// How a worker driven by a control plane introduces itself, holds its lease and drains (section <c>Freshet:Worker</c>,
/// beside <see cref="DataPlaneOptions"/>).
/// </summary>
public sealed class WorkerAgentOptions
{
    public const string Section = DataPlaneOptions.Section;

    /// <summary>For people: host or pod name; machine name and process id when empty.</summary>
    public string? Name { get; set; }

    /// <summary>Failure domain (offered as the label <c>zone</c>), or null.</summary>
    public string? Zone { get; set; }

    /// <summary>What this worker offers to pipelines that require labels.</summary>
    public Dictionary<string, string> Labels { get; set; } = [];

    /// <summary>Pipelines it may run at once.</summary>
    public int Capacity { get; set; } = 8;

    /// <summary>On shutdown (SIGTERM), hand every pipeline back one by one before exiting.</summary>
    public bool DrainOnShutdown { get; set; } = true;

    /// <summary>The longest a drain takes; what is still running then is stopped without being handed back.</summary>
    public TimeSpan DrainTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How much earlier than the control plane's view the worker considers its lease gone: time to stop writing before
    /// the scheduler may place its pipelines elsewhere.
    /// </summary>
    public TimeSpan LeaseSafetyMargin { get; set; } = TimeSpan.FromSeconds(1.5);

    /// <summary>Where the control plane is and how this worker authenticates to it (standalone workers).</summary>
    public ControlPlaneClientOptions ControlPlane { get; set; } = new();

    /// <summary>How long the host waits for the hosted services to stop: the drain plus time to stop what remains.</summary>
    public TimeSpan ShutdownTimeout => DrainTimeout + TimeSpan.FromSeconds(15);

    /// <summary>Throws with the setting's name and what it must be when a value cannot work.</summary>
    public void Validate(bool requireControlPlane)
    {
        List<string> errors = [];
        if (Capacity < 1)
        {
            errors.Add($"{Section}:Capacity must be at least 1; it is {Capacity}.");
        }

        if (DrainTimeout <= TimeSpan.Zero)
        {
            errors.Add($"{Section}:DrainTimeout must be positive; it is {DrainTimeout}.");
        }

        if (LeaseSafetyMargin < TimeSpan.Zero)
        {
            errors.Add($"{Section}:LeaseSafetyMargin must not be negative; it is {LeaseSafetyMargin}.");
        }

        if (requireControlPlane)
        {
            if (!Uri.TryCreate(ControlPlane.Url, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
            {
                errors.Add($"{Section}:ControlPlane:Url must be an absolute http(s) URL; it is '{ControlPlane.Url}'.");
            }

            if (string.IsNullOrWhiteSpace(ControlPlane.ClientId))
            {
                errors.Add($"{Section}:ControlPlane:ClientId must be set (the worker pool's OAuth2 client).");
            }

            if (string.IsNullOrWhiteSpace(ControlPlane.ClientSecret))
            {
                errors.Add($"{Section}:ControlPlane:ClientSecret must be set (the worker pool's OAuth2 client secret).");
            }
        }

        if (errors.Count > 0)
        {
            throw new InvalidOperationException("Invalid worker settings: " + string.Join(" ", errors));
        }
    }
}

/// <summary>The control plane a standalone worker talks to (section <c>Freshet:Worker:ControlPlane</c>).</summary>
public sealed class ControlPlaneClientOptions
{
    /// <summary>Base URL of the control plane, e.g. <c>https://freshet.internal</c>.</summary>
    public string? Url { get; set; }

    /// <summary>OAuth2 client id of the worker pool (client credentials).</summary>
    public string? ClientId { get; set; }

    /// <summary>Its secret; never logged.</summary>
    public string? ClientSecret { get; set; }
}
