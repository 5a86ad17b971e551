using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations;

/// <summary>The schema-change policy's decision, which the PostgreSQL, Snowflake and BigQuery destinations share.</summary>
public sealed class SchemaChangePlanTests
{
    // The target has id, name, qty (as INT) and gone; the source dropped gone, added added and turned qty into text.
    private static readonly TableSchema Source = Table("items", Key("id"), Column("name", ValueKind.Text), Column("qty", ValueKind.Text), Column("added", ValueKind.Date));

    private static readonly string[] Target = ["id", "name", "qty", "gone"];

    [Theory]
    [InlineData(SchemaChangePolicy.Propagate, "added", "gone", "qty", "", null)]
    [InlineData(SchemaChangePolicy.AddColumnsOnly, "added", "", "", "", null)]
    [InlineData(SchemaChangePolicy.Ignore, "", "", "", "added", null)]
    [InlineData(SchemaChangePolicy.Quarantine, "", "", "", "", "the source table changed: added added; dropped gone; retyped qty (INT → TEXT)")]
    public void Decide_FollowsEachPolicy(SchemaChangePolicy policy, string add, string drop, string retype, string ignored, string? quarantine)
    {
        var plan = SchemaChangePlan.Decide(Source, Target, Retyped, policy);

        Assert.Equal(add, string.Join(",", plan.Add.Select(c => c.Name)));
        Assert.Equal(drop, string.Join(",", plan.Drop));
        Assert.Equal(retype, string.Join(",", plan.Retype.Select(c => c.Name)));
        Assert.Equal(ignored, string.Join(",", plan.Ignored));
        Assert.Equal(quarantine, plan.QuarantineReason);
        Assert.Equal("added added; dropped gone; retyped qty (INT → TEXT)", plan.Differences);
    }

    [Fact]
    public void KeyChange_OnlyPropagateFollowsIt_AndAnUnchangedTableHasNoDifferences()
    {
        var same = Table("items", Key("id"), Column("name", ValueKind.Text));

        var propagate = SchemaChangePlan.Decide(same, ["id", "name"], _ => null, SchemaChangePolicy.Propagate, keyChange: "(name) → (id)");
        var addOnly = SchemaChangePlan.Decide(same, ["id", "name"], _ => null, SchemaChangePolicy.AddColumnsOnly, keyChange: "(name) → (id)");
        var unchanged = SchemaChangePlan.Decide(same, ["id", "name"], _ => null, SchemaChangePolicy.Quarantine);

        Assert.Null(propagate.QuarantineReason);
        Assert.Equal("the source table's key changed, which policy AddColumnsOnly cannot follow: key (name) → (id)", addOnly.QuarantineReason);
        Assert.Equal(("", (string?)null), (unchanged.Differences, unchanged.QuarantineReason));
        Assert.Equal("column _freshet_position has the name of a Freshet metadata column",
            SchemaChangePlan.MetadataCollision(Table("t", Key("id"), Column(MetadataColumns.Position, ValueKind.Int64))));
    }

    private static string? Retyped(ColumnSchema column) => column.Name == "qty" ? "INT → TEXT" : null;
}
