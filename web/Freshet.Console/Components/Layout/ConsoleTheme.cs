using MudBlazor;

namespace Freshet.Console.Components.Layout;

internal static class ConsoleTheme
{
    public static readonly MudTheme Theme = new()
    {
        PaletteLight = new PaletteLight
        {
            Primary = "#0b6e99",
            AppbarBackground = "#0b4f6c",
            Success = "#2e7d32",
            Warning = "#b26a00",
            Error = "#c62828",
        },
    };
}
