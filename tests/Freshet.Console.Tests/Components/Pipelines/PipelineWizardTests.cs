using System.Text.Json.Nodes;
using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Components.Shared;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;

namespace Freshet.Console.Tests.Components.Pipelines;

public sealed class PipelineWizardTests
{
    private static readonly Connection Source = Connection("orders db", "source", "postgres");
    private static readonly Connection OtherSource = Connection("billing db", "source", "mysql");
    private static readonly Connection Destination = Connection("warehouse", "destination", "duckdb");

    private static readonly SourceSchema Schema = new([
        new SchemaInfo("public", [
            new TableInfo("orders", ["id"], [new ColumnInfo("id", "bigint", false)], "default", 1200),
            new TableInfo("audit_log", [], [new ColumnInfo("at", "timestamptz", false)], "default", 50),
            new TableInfo("customers", ["id"], [new ColumnInfo("id", "bigint", false)], "default", 300),
        ]),
    ]);

    private static Connection Connection(string name, string kind, string type) =>
        new(Guid.NewGuid(), name, kind, type, new JsonObject(), new Dictionary<string, SecretState>(), DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, 1);

    private static BunitContext NewContext()
    {
        var context = new BunitContext();
        context.Services.AddMudServices();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        context.Render<MudPopoverProvider>();
        return context;
    }

    private static IRenderedComponent<PipelineWizard> Render(BunitContext context, IReadOnlyList<Connection> sources, List<PipelineDraft> sent, PipelineForEdit? initial = null) =>
        context.Render<PipelineWizard>(p => p
            .Add(w => w.Sources, sources)
            .Add(w => w.Destinations, [Destination])
            .Add(w => w.Initial, initial)
            .Add(w => w.LoadSchema, _ => Task.FromResult(Schema))
            .Add(w => w.OnSubmit, draft =>
            {
                sent.Add(draft);
                return Task.FromResult<ApiProblem?>(null);
            }));

    private static string Step(IRenderedComponent<PipelineWizard> cut) => cut.Find("[data-testid=wizard-step]").GetAttribute("data-step")!;

    private static void Next(IRenderedComponent<PipelineWizard> cut) => cut.Find("[data-testid=wizard-next]").Click();

    private static void Check(IRenderedComponent<PipelineWizard> cut, string table) => cut.Find($"tr[data-table='{table}'] input[type=checkbox]").Change(true);

    [Fact]
    public async Task SourceStep_DoesNotOpenTables_UntilASourceIsChosen()
    {
        await using var context = NewContext();
        var cut = Render(context, [Source, OtherSource], []);

        Next(cut);

        cut.WaitForAssertion(() => Assert.Equal("Choose the source the changes come from.", cut.Find("[data-testid=step-error]").TextContent.Trim()));
        Assert.Equal("Source", Step(cut));
    }

    [Fact]
    public async Task TablesStep_CannotProceedWithoutATable_AndWarnsAboutATableWithoutPrimaryKey()
    {
        await using var context = NewContext();
        var cut = Render(context, [Source], []);
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal("Tables", Step(cut)));
        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("tr[data-table]").Count));

        // Keys are shown; the keyless table is flagged in the list before anyone selects it.
        Assert.Contains("id", cut.Find("tr[data-table='public.orders']").TextContent, StringComparison.Ordinal);
        Assert.Contains("no primary key", cut.Find("tr[data-table='public.audit_log']").TextContent, StringComparison.Ordinal);
        Assert.Empty(cut.FindAll("[data-testid=no-key-warning]"));

        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal("Select at least one table.", cut.Find("[data-testid=step-error]").TextContent.Trim()));
        Assert.Equal("Tables", Step(cut));

        Check(cut, "public.audit_log");
        cut.WaitForAssertion(() => Assert.Contains("Selected without a primary key: public.audit_log.", cut.Find("[data-testid=no-key-warning]").TextContent, StringComparison.Ordinal));
        Assert.Empty(cut.FindAll("[data-testid=step-error]"));

        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal("Destination", Step(cut)));
    }

    [Fact]
    public async Task Search_NarrowsTheList_AndSelectAllTakesOnlyWhatIsShown()
    {
        await using var context = NewContext();
        var cut = Render(context, [Source], []);
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("tr[data-table]").Count));

        cut.Find("[data-testid=table-search] input").Input("ord");
        cut.WaitForAssertion(() => Assert.Single(cut.FindAll("tr[data-table]")));
        cut.Find("[data-testid=select-all] input").Change(true);
        cut.WaitForAssertion(() => Assert.Equal("1 selected", cut.Find("[data-testid=selected-count]").TextContent.Trim()));

        cut.Find("[data-testid=table-search] input").Input("");
        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("tr[data-table]").Count));
        cut.Find("[data-testid=select-all] input").Change(true);
        cut.WaitForAssertion(() => Assert.Equal("3 selected", cut.Find("[data-testid=selected-count]").TextContent.Trim()));
    }

    [Fact]
    public async Task AllSteps_SendTheDraftAsReviewed()
    {
        await using var context = NewContext();
        var sent = new List<PipelineDraft>();
        var cut = Render(context, [Source], sent);
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("tr[data-table]").Count));
        Check(cut, "public.orders");
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal("Destination", Step(cut)));
        Next(cut); // the only destination is chosen already
        cut.WaitForAssertion(() => Assert.Equal("Options", Step(cut)));

        Next(cut);
        cut.WaitForAssertion(() => Assert.Contains("A name is required.", cut.Markup, StringComparison.Ordinal));
        Assert.Equal("Options", Step(cut));

        cut.Find("[data-testid=pipeline-name-input] input").Change("orders to warehouse");
        cut.Find("[data-testid=lag-threshold] input").Change("90");
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal("Review", Step(cut)));
        var review = cut.Find("[data-testid=review]").TextContent;
        Assert.Contains("orders db", review, StringComparison.Ordinal);
        Assert.Contains("public.orders", review, StringComparison.Ordinal);
        Assert.Contains("warehouse", review, StringComparison.Ordinal);

        cut.Find("[data-testid=wizard-submit]").Click();
        cut.WaitForAssertion(() => Assert.Single(sent));
        var draft = sent[0];
        Assert.Equal(("orders to warehouse", Source.Id, Destination.Id, 90, "hard", "propagate", "running"),
            (draft.Name, draft.SourceConnectionId, draft.DestinationConnectionId, draft.LagThresholdSeconds, draft.DeleteMode, draft.SchemaChangePolicy, draft.DesiredState));
        Assert.Equal(["public.orders"], draft.Tables.Select(t => t.Key));
        Assert.True(draft.Tables[0].Options!.Snapshot);
    }

    [Fact]
    public async Task Editing_StartsFromTheSpec_AndTheReviewShowsWhatChanges()
    {
        await using var context = NewContext();
        var sent = new List<PipelineDraft>();
        var initial = new PipelineForEdit(
            Guid.NewGuid(), "orders", Source.Id, Destination.Id,
            [new SelectedTable("public", "orders", new TableOptions(null, ["secret"], false))],
            "soft", "ignore", 300, "running", 4, 7);
        var cut = Render(context, [Source, OtherSource], sent, initial);

        Assert.Equal("orders db", cut.Find("[data-testid=fixed-source]").TextContent.Trim());
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal(3, cut.FindAll("tr[data-table]").Count));
        Assert.Equal("1 selected", cut.Find("[data-testid=selected-count]").TextContent.Trim());
        cut.Find("tr[data-table='public.orders'] input[type=checkbox]").Change(false);
        Check(cut, "public.customers");
        Next(cut);
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal("Options", Step(cut)));
        Next(cut);
        cut.WaitForAssertion(() => Assert.Equal("Review", Step(cut)));

        var changes = cut.FindAll("[data-testid=spec-changes] tr").Select(r => (r.GetAttribute("data-change"), r.TextContent)).ToList();
        Assert.Equal(2, changes.Count);
        Assert.Contains(changes, c => c.Item1 == "added" && c.TextContent.Contains("Table public.customers", StringComparison.Ordinal));
        Assert.Contains(changes, c => c.Item1 == "removed" && c.TextContent.Contains("Table public.orders", StringComparison.Ordinal) && c.TextContent.Contains("without secret", StringComparison.Ordinal));

        cut.Find("[data-testid=wizard-submit]").Click();
        cut.WaitForAssertion(() => Assert.Single(sent));
        Assert.Equal(("orders", "soft", "ignore"), (sent[0].Name, sent[0].DeleteMode, sent[0].SchemaChangePolicy));
        Assert.Equal(["public.customers"], sent[0].Tables.Select(t => t.Key));
    }
}
