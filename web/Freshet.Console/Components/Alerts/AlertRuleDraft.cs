using System.Globalization;
using Freshet.Console.Api;

namespace Freshet.Console.Components.Alerts;

/// <summary>
/// An alert rule as the form edits it, checked here the way the API checks it (so most mistakes show before a round
/// trip); the API's own field errors are shown on the same fields. Keys are the API's field names.
/// </summary>
public sealed class AlertRuleDraft
{
    public const string LagAbove = "lag_above";
    public const string HealthState = "health_state";
    public const string RetainedWalAbove = "retained_wal_above";
    public const string TableQuarantined = "table_quarantined";

    /// <summary>The conditions a rule can watch, with how the form names them.</summary>
    public static readonly IReadOnlyList<(string Value, string Label)> Conditions =
    [
        (LagAbove, "Lag above a threshold"),
        (HealthState, "Health in chosen states"),
        (RetainedWalAbove, "Retained WAL above a size (PostgreSQL)"),
        (TableQuarantined, "A table is quarantined"),
    ];

    /// <summary>States a health_state rule can watch; the API defaults to failing and stale.</summary>
    public static readonly IReadOnlyList<string> HealthStates = ["failing", "stale", "degraded", "lagging", "pending", "starting", "snapshotting", "paused", "healthy"];

    // The API's limits (AlertRulesApi): a week of lag, a petabyte of WAL, a day of for/quiet seconds, 2,000-character URLs.
    private const double MaxLagSeconds = 7 * 86_400;
    private const double MaxWalBytes = 1e15;
    private const int MaxSeconds = 86_400;
    private const int MaxUrlLength = 2_000;
    private const int MaxNameLength = 200;

    public string Name { get; set; } = "";

    public string Condition { get; set; } = LagAbove;

    /// <summary>Seconds for lag_above, bytes for retained_wal_above; unused otherwise.</summary>
    public double? Threshold { get; set; }

    public IReadOnlyCollection<string> States { get; set; } = ["failing", "stale"];

    public int? ForSeconds { get; set; } = 0;

    public int? QuietPeriodSeconds { get; set; } = 900;

    /// <summary>Null: every pipeline of the tenant.</summary>
    public Guid? PipelineId { get; set; }

    public string WebhookUrl { get; set; } = "";

    public bool Enabled { get; set; } = true;

    public bool TakesThreshold => Condition is LagAbove or RetainedWalAbove;

    public string ThresholdLabel => Condition == RetainedWalAbove ? "Retained WAL above (bytes)" : "Lag above (seconds)";

    public static AlertRuleDraft From(AlertRule rule) => new()
    {
        Name = rule.Name,
        Condition = rule.Condition,
        Threshold = rule.Threshold,
        States = rule.States.ToList(),
        ForSeconds = rule.ForSeconds,
        QuietPeriodSeconds = rule.QuietPeriodSeconds,
        PipelineId = rule.PipelineId,
        WebhookUrl = rule.WebhookUrl,
        Enabled = rule.Enabled,
    };

    /// <summary>Each field's first problem, by API field name; empty when the draft can be sent.</summary>
    public Dictionary<string, string> Validate()
    {
        var errors = new Dictionary<string, string>(StringComparer.Ordinal);
        var name = Name.Trim();
        if (name.Length == 0)
        {
            errors["name"] = "Give the rule a name.";
        }
        else if (name.Length > MaxNameLength)
        {
            errors["name"] = $"At most {MaxNameLength} characters.";
        }

        if (!Conditions.Any(c => c.Value == Condition))
        {
            errors["condition"] = "Choose what the rule watches.";
        }

        if (TakesThreshold)
        {
            var (max, unit) = Condition == LagAbove ? (MaxLagSeconds, "seconds") : (MaxWalBytes, "bytes");
            if (Threshold is not { } threshold)
            {
                errors["threshold"] = $"This condition needs a threshold, in {unit}.";
            }
            else if (!double.IsFinite(threshold) || threshold <= 0 || threshold > max)
            {
                errors["threshold"] = string.Create(CultureInfo.InvariantCulture, $"Must be above 0 and at most {max:N0} {unit}.");
            }
        }

        if (Condition == HealthState && States.Count == 0)
        {
            errors["states"] = "Choose at least one state.";
        }

        CheckSeconds(errors, "for_seconds", ForSeconds);
        CheckSeconds(errors, "quiet_period_seconds", QuietPeriodSeconds);

        var url = WebhookUrl.Trim();
        if (url.Length == 0)
        {
            errors["webhook_url"] = "Where should notices be sent? An https:// URL.";
        }
        else if (url.Length > MaxUrlLength)
        {
            errors["webhook_url"] = $"At most {MaxUrlLength} characters.";
        }
        else if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || string.IsNullOrEmpty(uri.Host))
        {
            errors["webhook_url"] = "Must be an absolute https:// (or http://) URL.";
        }
        else if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            errors["webhook_url"] = "Must not carry a user name or password; every notice is signed with the rule's secret instead.";
        }
        else if (!string.IsNullOrEmpty(uri.Fragment))
        {
            errors["webhook_url"] = "Must not have a #fragment.";
        }

        return errors;
    }

    /// <summary>The body of <c>POST /v1/alert-rules</c>: threshold and states only where the condition takes them.</summary>
    public Dictionary<string, object?> ToCreateBody() => new()
    {
        ["name"] = Name.Trim(),
        ["condition"] = Condition,
        ["threshold"] = TakesThreshold ? Threshold : null,
        ["states"] = Condition == HealthState ? States.ToList() : null,
        ["for_seconds"] = ForSeconds,
        ["quiet_period_seconds"] = QuietPeriodSeconds,
        ["pipeline_id"] = PipelineId,
        ["webhook_url"] = WebhookUrl.Trim(),
        ["enabled"] = Enabled,
    };

    /// <summary>
    /// The body of <c>PATCH /v1/alert-rules/{id}</c>. The condition cannot change after create; a rule that named a
    /// pipeline is widened to all of them with <c>all_pipelines</c>.
    /// </summary>
    public Dictionary<string, object?> ToUpdateBody()
    {
        var body = new Dictionary<string, object?>
        {
            ["name"] = Name.Trim(),
            ["for_seconds"] = ForSeconds,
            ["quiet_period_seconds"] = QuietPeriodSeconds,
            ["webhook_url"] = WebhookUrl.Trim(),
            ["enabled"] = Enabled,
        };
        if (TakesThreshold)
        {
            body["threshold"] = Threshold;
        }

        if (Condition == HealthState)
        {
            body["states"] = States.ToList();
        }

        if (PipelineId is { } pipeline)
        {
            body["pipeline_id"] = pipeline;
        }
        else
        {
            body["all_pipelines"] = true;
        }

        return body;
    }

    private static void CheckSeconds(Dictionary<string, string> errors, string field, int? value)
    {
        if (value is < 0 or > MaxSeconds)
        {
            errors[field] = $"Between 0 and {MaxSeconds:N0} seconds (a day).";
        }
    }
}
