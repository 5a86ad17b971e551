using Freshet.Console.Api;
using Freshet.Console.Components.Shared;

namespace Freshet.Console.Tests.Components.Pipelines;

public sealed class PipelineDiffTests
{
    private static readonly Guid Source = Guid.NewGuid();
    private static readonly Guid DuckDb = Guid.NewGuid();
    private static readonly Guid Snowflake = Guid.NewGuid();

    private static string Name(Guid id) => id == DuckDb ? "duckdb" : id == Snowflake ? "snowflake" : "source";

    [Fact]
    public void Between_ListsTablesAddedRemovedAndChanged_AndEachChangedOption_InWords()
    {
        var before = new PipelineSpecView("orders", Source, DuckDb,
            [new SelectedTable("public", "orders", null), new SelectedTable("public", "audit", null), new SelectedTable("public", "items", new TableOptions(null, [], true))],
            "hard", "propagate", 300);
        var after = before with
        {
            DestinationConnectionId = Snowflake,
            Tables = [new SelectedTable("public", "orders", null), new SelectedTable("public", "items", new TableOptions("line_items", ["price"], true)), new SelectedTable("sales", "refunds", new TableOptions(null, null, false))],
            DeleteMode = "soft",
            LagThresholdSeconds = 600,
        };

        var changes = PipelineDiff.Between(before, after, Name);

        Assert.Equal(
            [
                new SpecChange("changed", "Destination", "duckdb", "snowflake"),
                new SpecChange("added", "Table sales.refunds", null, "no initial copy"),
                new SpecChange("removed", "Table public.audit", "initial copy", null),
                new SpecChange("changed", "Table public.items options", "initial copy", "initial copy, as line_items, without price"),
                new SpecChange("changed", "Deletes", "delete the destination row", "keep the row, marked deleted"),
                new SpecChange("changed", "Lag threshold", "5 min", "10 min"),
            ],
            changes);
        Assert.Empty(PipelineDiff.Between(before, before with { Tables = [.. before.Tables] }, Name));
    }
}
