using MudBlazor;

namespace Freshet.Console.Components.Shared;

/// <summary>How the console shows the API's health states: a label, a colour, and the order worst-first.</summary>
internal static class Health
{
    /// <summary>Every state the API knows, worst first (as the API sorts its overview).</summary>
    public static IReadOnlyList<string> States => WorstFirst;

    private static readonly string[] WorstFirst = ["failing", "stale", "degraded", "lagging", "pending", "starting", "snapshotting", "healthy", "paused"];

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

    /// <summary>0 is the worst; a state this console does not know yet sorts last.</summary>
    public static int Rank(string state)
    {
        var index = Array.IndexOf(WorstFirst, state);
        return index < 0 ? WorstFirst.Length : index;
    }
}
