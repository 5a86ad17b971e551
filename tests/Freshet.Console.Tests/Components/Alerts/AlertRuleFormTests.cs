using AngleSharp.Dom;
using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Components.Alerts;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;

namespace Freshet.Console.Tests.Components.Alerts;

public sealed class AlertRuleFormTests
{
    private static BunitContext NewContext()
    {
        var context = new BunitContext();
        context.Services.AddMudServices();
        // MudBlazor calls into its JavaScript for focus and popovers; there is no browser here, and nothing asserted depends on it.
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        return context;
    }

    [Theory]
    [InlineData(AlertRuleDraft.LagAbove, true, false, "Lag above (seconds)")]
    [InlineData(AlertRuleDraft.RetainedWalAbove, true, false, "Retained WAL above (bytes)")]
    [InlineData(AlertRuleDraft.HealthState, false, true, null)]
    [InlineData(AlertRuleDraft.TableQuarantined, false, false, null)]
    public async Task EachCondition_ShowsItsOwnFields(string condition, bool threshold, bool states, string? thresholdLabel)
    {
        await using var context = NewContext();
        var cut = context.Render<AlertRuleForm>(p => p.Add(f => f.Draft, new AlertRuleDraft { Condition = condition }).Add(f => f.IsNew, true));

        Assert.Equal(threshold, cut.FindAll("[data-testid=field-threshold]").Count > 0);
        Assert.Equal(states, cut.FindAll("[data-testid=field-states]").Count > 0);
        Assert.Equal(condition == AlertRuleDraft.TableQuarantined, cut.FindAll("[data-testid=quarantine-note]").Count > 0);
        if (thresholdLabel is not null)
        {
            Assert.Contains(thresholdLabel, cut.Find("[data-testid=alert-rule-form]").TextContent, StringComparison.Ordinal);
        }

        // Every rule has these, whatever it watches.
        foreach (var field in new[] { "field-name", "field-for-seconds", "field-quiet-period", "field-pipeline", "field-webhook-url", "field-enabled" })
        {
            Assert.NotEmpty(cut.FindAll($"[data-testid={field}]"));
        }
    }

    [Fact]
    public async Task ChoosingAnotherCondition_SwapsTheThresholdForStates()
    {
        await using var context = NewContext();
        var draft = new AlertRuleDraft { Condition = AlertRuleDraft.LagAbove };
        var cut = context.Render<AlertRuleForm>(p => p.Add(f => f.Draft, draft).Add(f => f.IsNew, true));
        Assert.NotEmpty(cut.FindAll("[data-testid=field-threshold]"));

        cut.Find($"input[data-condition={AlertRuleDraft.HealthState}]").Click();

        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=field-threshold]")));
        Assert.NotEmpty(cut.FindAll("[data-testid=field-states]"));
        Assert.Equal(AlertRuleDraft.HealthState, draft.Condition);
    }

    [Fact]
    public async Task Submit_WithMissingFields_ShowsEachProblemOnItsField_AndDoesNotSubmit()
    {
        await using var context = NewContext();
        var submitted = new List<AlertRuleDraft>();
        var cut = context.Render<AlertRuleForm>(p => p
            .Add(f => f.Draft, new AlertRuleDraft { Condition = AlertRuleDraft.LagAbove })
            .Add(f => f.IsNew, true)
            .Add(f => f.OnSubmit, (AlertRuleDraft d) => submitted.Add(d)));

        // Nothing is flagged before the person did anything.
        Assert.DoesNotContain("Give the rule a name.", cut.Markup, StringComparison.Ordinal);

        cut.Find("[data-testid=save-rule]").Click();

        Assert.Empty(submitted);
        Assert.Equal("Give the rule a name.", ErrorText(cut, "field-name"));
        Assert.Equal("This condition needs a threshold, in seconds.", ErrorText(cut, "field-threshold"));
        Assert.Equal("Where should notices be sent? An https:// URL.", ErrorText(cut, "field-webhook-url"));
        Assert.Null(ErrorText(cut, "field-for-seconds"));
    }

    [Fact]
    public async Task InvalidValues_AreFlaggedAsTyped_AndAValidDraftIsSubmitted()
    {
        await using var context = NewContext();
        var submitted = new List<AlertRuleDraft>();
        var cut = context.Render<AlertRuleForm>(p => p
            .Add(f => f.Draft, new AlertRuleDraft { Condition = AlertRuleDraft.LagAbove })
            .Add(f => f.IsNew, true)
            .Add(f => f.OnSubmit, (AlertRuleDraft d) => submitted.Add(d)));

        Input(cut, "field-webhook-url").Input("https://user:pw@hooks.example.com/x");
        Input(cut, "field-threshold").Input("-5");
        Assert.Equal("Must not carry a user name or password; every notice is signed with the rule's secret instead.", ErrorText(cut, "field-webhook-url"));
        Assert.Equal("Must be above 0 and at most 604,800 seconds.", ErrorText(cut, "field-threshold"));

        Input(cut, "field-name").Input("Orders lagging");
        Input(cut, "field-threshold").Input("300");
        Input(cut, "field-webhook-url").Input("https://hooks.example.com/freshet");
        cut.Find("[data-testid=save-rule]").Click();

        var draft = Assert.Single(submitted);
        var body = draft.ToCreateBody();
        Assert.Equal("Orders lagging", body["name"]);
        Assert.Equal(300d, body["threshold"]);
        Assert.Null(body["states"]);
        Assert.Equal("https://hooks.example.com/freshet", body["webhook_url"]);
    }

    [Fact]
    public async Task TheApisFieldErrors_ShowOnTheirFields_AndOthersAsAProblem()
    {
        await using var context = NewContext();
        var draft = new AlertRuleDraft { Name = "Lag", Condition = AlertRuleDraft.LagAbove, Threshold = 60, WebhookUrl = "https://hooks.example.com/a" };
        var fieldProblem = new ApiProblem(400, "One or more validation errors occurred.", null, new Dictionary<string, string[]>
        {
            ["pipeline_id"] = ["No such pipeline in this tenant."],
            ["webhook_url"] = ["Must be at most 2000 characters."],
        });
        var cut = context.Render<AlertRuleForm>(p => p.Add(f => f.Draft, draft).Add(f => f.IsNew, true).Add(f => f.Problem, fieldProblem));

        Assert.Equal("No such pipeline in this tenant.", ErrorText(cut, "field-pipeline"));
        Assert.Equal("Must be at most 2000 characters.", ErrorText(cut, "field-webhook-url"));
        // Every error has its field: no separate problem box repeats them.
        Assert.Empty(cut.FindAll("[data-testid=problem]"));

        // A conflict names no field: it is shown whole.
        var conflict = new ApiProblem(409, "Conflict", "An alert rule named \"Lag\" already exists.", new Dictionary<string, string[]>());
        cut.Render(p => p.Add(f => f.Problem, conflict));
        Assert.Contains("An alert rule named \"Lag\" already exists.", cut.Find("[data-testid=problem]").TextContent, StringComparison.Ordinal);
        Assert.Null(ErrorText(cut, "field-webhook-url"));
    }

    [Fact]
    public async Task Viewer_SeesTheRuleReadOnly_WithTheReason_AndNoSaveButton()
    {
        await using var context = NewContext();
        var cut = context.Render<AlertRuleForm>(p => p
            .Add(f => f.Draft, new AlertRuleDraft { Name = "Lag", Condition = AlertRuleDraft.HealthState, WebhookUrl = "https://hooks.example.com/a" })
            .Add(f => f.ReadOnly, true)
            .Add(f => f.ReadOnlyReason, "Your role in Demo Co is viewer: only an editor, admin or owner can change alert rules."));

        Assert.Empty(cut.FindAll("[data-testid=save-rule]"));
        Assert.Empty(cut.FindAll("[data-testid=field-condition]"));
        Assert.Equal("Your role in Demo Co is viewer: only an editor, admin or owner can change alert rules.", cut.Find("[data-testid=read-only-reason]").TextContent.Trim());
        Assert.True(Input(cut, "field-name").HasAttribute("readonly"));
    }

    [Fact]
    public void UpdateBody_WidensToAllPipelines_AndLeavesOutWhatTheConditionDoesNotTake()
    {
        var body = new AlertRuleDraft { Name = "Health", Condition = AlertRuleDraft.HealthState, States = ["failing"], WebhookUrl = "https://h.example.com", PipelineId = null }.ToUpdateBody();

        Assert.Equal(true, body["all_pipelines"]);
        Assert.False(body.ContainsKey("pipeline_id"));
        Assert.False(body.ContainsKey("threshold"));
        Assert.Equal(new[] { "failing" }, Assert.IsType<List<string>>(body["states"]));
    }

    private static IElement Input(IRenderedComponent<AlertRuleForm> cut, string testId)
    {
        var element = cut.Find($"[data-testid={testId}]");
        return element.TagName == "INPUT" ? element : element.QuerySelector("input") ?? throw new InvalidOperationException($"{testId} has no input.");
    }

    /// <summary>The error MudBlazor shows under a field, or null when it shows none.</summary>
    private static string? ErrorText(IRenderedComponent<AlertRuleForm> cut, string testId)
    {
        var field = cut.Find($"[data-testid={testId}]");
        // The test id sits on the input or on the field's root; the error text is in the field's .mud-input-control.
        var control = field.Closest(".mud-input-control") ?? field.QuerySelector(".mud-input-control") ?? field;
        var error = control.QuerySelector(".mud-input-helper-text.mud-input-error, .mud-input-error .mud-input-helper-text");
        return error?.TextContent.Trim() is { Length: > 0 } text ? text : null;
    }
}
