using MudBlazor;

namespace Freshet.Console.Components.Shared;

/// <summary>How the console shows the API's health states: a label, a colour, and the order worst-first.</summary>
internal static class Health
{
    /// <summary>Every state the API knows, worst first (as the API sorts its overview).</summary>
    public static readonly IReadOnlyList<string> States = ["failing", "stale", "degraded", "lagging", "pending", "starting", "snapshotting", "healthy", "paused"];

    public static string Label(string state) => state switch
    {
        "" => "Unknown",
        _ => char.ToUpperInvariant(state[0]) + state[1..].Replace('_', ' '),
    };

    public static Color Color(string state) => state switch
    {
        "healthy" => MudBlazor.Color.Success,
        "failing" => MudBlazor.Color.Error,
        "stale" or "degraded" or "lagging" => MudBlazor.Color.Warning,
        "snapshotting" or "starting" => MudBlazor.Color.Info,
        _ => MudBlazor.Color.Default,
    };

    public static int Rank(string state)
    {
        var index = States.IndexOf(state);
        return index < 0 ? States.Count : index;
    }

    private static int IndexOf(this IReadOnlyList<string> list, string value)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (string.Equals(list[i], value, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }
}
