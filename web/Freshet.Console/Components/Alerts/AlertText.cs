using System.Globalization;
using Freshet.Console.Api;

namespace Freshet.Console.Components.Alerts;

/// <summary>Alert rules and deliveries in words.</summary>
internal static class AlertText
{
    public static string Condition(AlertRule rule) => rule.Condition switch
    {
        AlertRuleDraft.LagAbove => string.Create(CultureInfo.InvariantCulture, $"Lag above {rule.Threshold:0.##} s"),
        AlertRuleDraft.RetainedWalAbove => string.Create(CultureInfo.InvariantCulture, $"Retained WAL above {rule.Threshold:N0} bytes"),
        AlertRuleDraft.HealthState => "Health is " + string.Join(" or ", rule.States.Select(Shared.Health.Label)),
        AlertRuleDraft.TableQuarantined => "A table is quarantined",
        _ => rule.Condition.Replace('_', ' '),
    };

    public static string Delivery(AlertDelivery delivery)
    {
        var last = delivery.Attempts.LastOrDefault();
        var outcome = last switch
        {
            null => "no attempt yet",
            { StatusCode: { } code, Error: null } => $"answered HTTP {code}",
            { StatusCode: { } code, Error: { } error } => $"answered HTTP {code}: {error}",
            { Error: { } error } => error,
            _ => "no answer",
        };
        return $"{Shared.Health.Label(delivery.State)} after {delivery.Attempts.Count} attempt{(delivery.Attempts.Count == 1 ? "" : "s")}: {outcome}";
    }

    public static MudBlazor.Color DeliveryColor(string state) => state switch
    {
        "delivered" => MudBlazor.Color.Success,
        "failed" => MudBlazor.Color.Error,
        "dropped" => MudBlazor.Color.Warning,
        _ => MudBlazor.Color.Default,
    };

    public static string ViewerReason(Membership? tenant) => tenant is null
        ? "Only members of the tenant can change its alert rules."
        : $"Your role in {tenant.Name} is {tenant.Role}: only an editor, admin or owner can change alert rules.";
}
