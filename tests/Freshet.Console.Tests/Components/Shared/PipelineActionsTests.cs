using Bunit;
using Freshet.Console.Components.Shared;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;

namespace Freshet.Console.Tests.Components.Shared;

public sealed class PipelineActionsTests
{
    /// <summary>bUnit with MudBlazor's services; disposed asynchronously, as MudBlazor's services require.</summary>
    private static BunitContext NewContext()
    {
        var context = new BunitContext();
        context.Services.AddMudServices();
        // MudBlazor calls into its JavaScript for focus and popovers; there is no browser here, and nothing asserted depends on it.
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        return context;
    }

    [Fact]
    public async Task Viewer_SeesPauseDisabledWithTheReason()
    {
        await using var context = NewContext();
        var cut = context.Render<PipelineActions>(p => p
            .Add(a => a.PipelineName, "orders")
            .Add(a => a.CanChange, false)
            .Add(a => a.DisabledReason, "Your role in Demo Co is viewer: only an editor, admin or owner can pause or resume pipelines."));

        Assert.True(cut.Find("[data-testid=pause]").HasAttribute("disabled"));
        Assert.Equal(
            "Your role in Demo Co is viewer: only an editor, admin or owner can pause or resume pipelines.",
            cut.Find("[data-testid=actions-disabled-reason]").TextContent.Trim());
    }

    [Fact]
    public async Task Editor_OfPausedPipeline_SeesResumeEnabledAndNoReason()
    {
        await using var context = NewContext();
        var cut = context.Render<PipelineActions>(p => p.Add(a => a.PipelineName, "orders").Add(a => a.CanChange, true).Add(a => a.Paused, true));

        Assert.False(cut.Find("[data-testid=resume]").HasAttribute("disabled"));
        Assert.Empty(cut.FindAll("[data-testid=pause]"));
        Assert.Empty(cut.FindAll("[data-testid=actions-disabled-reason]"));
    }

    [Fact]
    public async Task Pause_AsksForConfirmation_AndActsOnlyWhenConfirmed()
    {
        await using var context = NewContext();
        var dialogs = context.Render<MudDialogProvider>();
        var decisions = new List<bool>();
        var cut = context.Render<PipelineActions>(p => p
            .Add(a => a.PipelineName, "orders")
            .Add(a => a.CanChange, true)
            .Add(a => a.OnConfirmed, (bool pause) => decisions.Add(pause)));

        cut.Find("[data-testid=pause]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Pause pipeline?", dialogs.Markup, StringComparison.Ordinal));
        Assert.Empty(decisions);
        ButtonIn(dialogs, "Cancel").Click();
        dialogs.WaitForAssertion(() => Assert.DoesNotContain("Pause pipeline?", dialogs.Markup, StringComparison.Ordinal));
        Assert.Empty(decisions);

        cut.Find("[data-testid=pause]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Pause pipeline?", dialogs.Markup, StringComparison.Ordinal));
        ButtonIn(dialogs, "Pause").Click();
        cut.WaitForAssertion(() => Assert.Equal([true], decisions));
    }

    private static AngleSharp.Dom.IElement ButtonIn(IRenderedComponent<MudDialogProvider> dialogs, string text) =>
        dialogs.FindAll("button").Single(b => string.Equals(b.TextContent.Trim(), text, StringComparison.Ordinal));
}
