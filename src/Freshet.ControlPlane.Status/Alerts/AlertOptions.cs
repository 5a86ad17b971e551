using System.ComponentModel.DataAnnotations;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>Alert evaluation and webhook delivery (<c>Freshet:Status:Alerts</c>).</summary>
internal sealed class AlertOptions
{
    public const string Section = "Freshet:Status:Alerts";

    /// <summary>How often every enabled rule is evaluated against every pipeline it watches.</summary>
    [Range(typeof(TimeSpan), "00:00:00.200", "00:10:00", ErrorMessage = "Freshet:Status:Alerts:EvaluationInterval must be between 00:00:00.200 and 00:10:00.")]
    public TimeSpan EvaluationInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Retries after a failed delivery (a connection error, a timeout, 408, 429 or 5xx); 0 tries once.</summary>
    [Range(0, 10, ErrorMessage = "Freshet:Status:Alerts:Retries must be between 0 and 10.")]
    public int Retries { get; set; } = 5;

    /// <summary>The first retry's delay; each next one doubles it (with jitter), unless the receiver sends <c>Retry-After</c>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:05:00", ErrorMessage = "Freshet:Status:Alerts:RetryDelay must be between 00:00:00.010 and 00:05:00.")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long one delivery attempt may take.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "00:01:00", ErrorMessage = "Freshet:Status:Alerts:AttemptTimeout must be between 00:00:01 and 00:01:00.")]
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether webhooks may be posted to loopback, private and link-local addresses. Off by default for the same reason
    /// as <c>Freshet:Connections:AllowPrivateNetworks</c>: a tenant's webhook must not become a way into the platform's
    /// own network. Local runs and self-hosted installations turn it on.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }
}
