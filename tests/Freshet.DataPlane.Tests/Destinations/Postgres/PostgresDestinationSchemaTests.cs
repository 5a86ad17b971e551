using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.Postgres;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>What each schema change policy does to an existing target when the source table changes.</summary>
public sealed class PostgresDestinationSchemaTests(PostgresDestinationFixture fixture) : IClassFixture<PostgresDestinationFixture>
{
    /// <summary>Version 1: id, a text, b integer, c text.</summary>
    private static readonly TableSchema V1 = Table("evolving", Key("id"), Column("a", ValueKind.Text), Column("b", ValueKind.Int32), Column("c", ValueKind.Text));

    /// <summary>Version 2: c dropped, b widened to bigint, d numeric(10,2) added.</summary>
    private static readonly TableSchema V2 = Table("evolving", Key("id"), Column("a", ValueKind.Text), Column("b", ValueKind.Int64),
        Column("d", ValueKind.Decimal, "numeric(10,2)", precision: 10, scale: 2));

    [Fact]
    public async Task EnsureTableAsync_SameSchemaTwice_CreatesOnceAndChangesNothing()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();

        var first = await destination.EnsureTableAsync(V1, SchemaChangePolicy.Quarantine, CancellationToken.None);
        var second = await destination.EnsureTableAsync(V1, SchemaChangePolicy.Quarantine, CancellationToken.None);

        Assert.True(first.Created);
        Assert.False(second.Changed);
        Assert.Null(second.QuarantineReason);
        Assert.Empty(second.Ignored);
    }

    [Fact]
    public async Task EnsureTableAsync_TypeSpellings_MatchTheCatalogSoASecondCallSeesNoDifference()
    {
        var scope = fixture.NewScope();
        await using var destination = await scope.ClaimedAsync();
        var table = Table(
            "spellings",
            Key("id", ValueKind.Text, "character varying(20)"),
            Column("n5", ValueKind.Decimal, "numeric(5)"),
            Column("n", ValueKind.NumericText, "numeric"),
            Column("m", ValueKind.Decimal, "money"),
            Column("vc", ValueKind.Text, "character varying"),
            Column("bp", ValueKind.Text, "bpchar"),
            Column("c1", ValueKind.Text, "character(1)"),
            Column("nm", ValueKind.Text, "name"),
            Column("t3", ValueKind.Time, "time(3) without time zone"),
            Column("ts0", ValueKind.Timestamp, "timestamp(0) without time zone"),
            Column("tstz3", ValueKind.TimestampTz, "timestamp(3) with time zone"),
            Column("i2", ValueKind.Interval, "interval(2)"),
            Column("f", ValueKind.Float64, "double"),
            Column("e", ValueKind.Enum, "public.mood[]", isArray: true),
            Column("vca", ValueKind.Text, "character varying(7)[]", isArray: true),
            Column("tstza", ValueKind.TimestampTz, "timestamp(6) with time zone[]", isArray: true));

        var first = await destination.EnsureTableAsync(table, SchemaChangePolicy.Quarantine, CancellationToken.None);
        var second = await destination.EnsureTableAsync(table, SchemaChangePolicy.Quarantine, CancellationToken.None);

        Assert.True(first.Created);
        Assert.Null(second.QuarantineReason);
        Assert.False(second.Changed);
        var columns = await scope.ColumnsAsync("spellings");
        Assert.Equal(("numeric(5,0)", "bpchar", "time(3) without time zone", "text[]", "timestamp(6) with time zone[]"), (columns["n5"], columns["bp"], columns["t3"], columns["e"], columns["tstza"]));
    }

    [Fact]
    public async Task EnsureTableAsync_Propagate_AddsDropsAndRetypesColumns()
    {
        var scope = fixture.NewScope();
        await using var destination = await PreparedAsync(scope);

        var setup = await destination.EnsureTableAsync(V2, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(V2, 20, 0, 2, "two", 5_000_000_000L, 12.5m)), CancellationToken.None);

        Assert.Null(setup.QuarantineReason);
        Assert.Equal(["d"], setup.Added);
        Assert.Equal(["c"], setup.Dropped);
        Assert.Equal(["b"], setup.Retyped);
        var columns = await scope.ColumnsAsync("evolving");
        Assert.Equal(("bigint", "numeric(10,2)", false), (columns["b"], columns["d"], columns.ContainsKey("c")));
        Assert.Equal(
            new[] { new object?[] { 1, "one", 1L, null }, [2, "two", 5_000_000_000L, 12.5m] },
            await scope.QueryAsync($"SELECT id, a, b, d FROM {scope.Qualified("evolving")} ORDER BY id"));
    }

    [Fact]
    public async Task EnsureTableAsync_PropagateWithValuesThatDoNotConvert_ReturnsAReasonAndChangesNothing()
    {
        var scope = fixture.NewScope();
        await using var destination = await PreparedAsync(scope);
        var retyped = Table("evolving", Key("id"), Column("a", ValueKind.Int32), Column("b", ValueKind.Int32), Column("c", ValueKind.Text), Column("e", ValueKind.Text));

        var setup = await destination.EnsureTableAsync(retyped, SchemaChangePolicy.Propagate, CancellationToken.None);

        Assert.Contains("a (text → integer)", setup.QuarantineReason, StringComparison.Ordinal);
        var columns = await scope.ColumnsAsync("evolving");
        Assert.Equal(("text", false), (columns["a"], columns.ContainsKey("e")));
        await Assert.ThrowsAsync<TableApplyException>(() => destination.ApplyAsync(Batch(Insert(retyped, 20, 0, 2, 2, 2, "c", "e")), CancellationToken.None));
    }

    [Fact]
    public async Task EnsureTableAsync_AddColumnsOnly_AddsNewColumnsKeepsDroppedOnesAndOldTypes()
    {
        var scope = fixture.NewScope();
        await using var destination = await PreparedAsync(scope);

        var setup = await destination.EnsureTableAsync(V2, SchemaChangePolicy.AddColumnsOnly, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(V2, 20, 0, 2, "two", 7L, 1.25m), Update(V2, 20, 1, 1, "one v2", 8L, 2.5m)), CancellationToken.None);

        Assert.Null(setup.QuarantineReason);
        Assert.Equal(["d"], setup.Added);
        Assert.Empty(setup.Dropped);
        Assert.Empty(setup.Retyped);
        Assert.Empty(setup.Ignored);
        var columns = await scope.ColumnsAsync("evolving");
        Assert.Equal(("integer", "text", "numeric(10,2)"), (columns["b"], columns["c"], columns["d"]));
        Assert.Equal(
            new[] { new object?[] { 1, "one v2", 8, "c1", 2.5m }, [2, "two", 7, null, 1.25m] },
            await scope.QueryAsync($"SELECT id, a, b, c, d FROM {scope.Qualified("evolving")} ORDER BY id"));
    }

    [Fact]
    public async Task EnsureTableAsync_Ignore_ChangesNothingAndDoesNotWriteNewColumns()
    {
        var scope = fixture.NewScope();
        await using var destination = await PreparedAsync(scope);
        var before = await scope.ColumnsAsync("evolving");

        var setup = await destination.EnsureTableAsync(V2, SchemaChangePolicy.Ignore, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(V2, 20, 0, 2, "two", 7L, 1.25m)), CancellationToken.None);

        Assert.Null(setup.QuarantineReason);
        Assert.False(setup.Changed);
        Assert.Equal(["d"], setup.Ignored);
        Assert.Equal(before, await scope.ColumnsAsync("evolving"));
        Assert.Equal(
            new[] { new object?[] { 1, "one", 1, "c1" }, [2, "two", 7, null] },
            await scope.QueryAsync($"SELECT id, a, b, c FROM {scope.Qualified("evolving")} ORDER BY id"));
    }

    [Fact]
    public async Task EnsureTableAsync_KeptTypeWithoutAConversion_IgnoresThatColumn()
    {
        var scope = fixture.NewScope();
        await using var destination = await PreparedAsync(scope);
        var dated = Table("evolving", Key("id"), Column("a", ValueKind.Text), Column("b", ValueKind.Date), Column("c", ValueKind.Text));

        var setup = await destination.EnsureTableAsync(dated, SchemaChangePolicy.AddColumnsOnly, CancellationToken.None);
        await destination.ApplyAsync(Batch(Update(dated, 20, 0, 1, "one v2", new DateOnly(2024, 1, 1), "c1 v2")), CancellationToken.None);

        Assert.Null(setup.QuarantineReason);
        Assert.Equal(["b"], setup.Ignored);
        Assert.Equal(
            new[] { new object?[] { 1, "one v2", 1, "c1 v2" } },
            await scope.QueryAsync($"SELECT id, a, b, c FROM {scope.Qualified("evolving")} ORDER BY id"));
    }

    [Fact]
    public async Task EnsureTableAsync_Quarantine_RefusesAnyDifferenceAndChangesNothing()
    {
        var scope = fixture.NewScope();
        await using var destination = await PreparedAsync(scope);
        var before = await scope.ColumnsAsync("evolving");

        var setup = await destination.EnsureTableAsync(V2, SchemaChangePolicy.Quarantine, CancellationToken.None);
        var rekeyed = await destination.EnsureTableAsync(
            Table("evolving", Key("id"), Key("a", ValueKind.Text), Column("b", ValueKind.Int32), Column("c", ValueKind.Text)), SchemaChangePolicy.Quarantine, CancellationToken.None);

        Assert.Equal("the source table changed: added d; dropped c; retyped b (integer → bigint)", setup.QuarantineReason);
        Assert.Contains("key (id) → (a, id)", rekeyed.QuarantineReason, StringComparison.Ordinal);
        Assert.Equal(before, await scope.ColumnsAsync("evolving"));
        Assert.Null((await destination.EnsureTableAsync(V1, SchemaChangePolicy.Quarantine, CancellationToken.None)).QuarantineReason);
    }

    [Fact]
    public async Task EnsureTableAsync_PropagateKeyChange_RebuildsThePrimaryKey()
    {
        var scope = fixture.NewScope();
        await using var destination = await PreparedAsync(scope);
        var rekeyed = Table("evolving", Key("id"), Key("a", ValueKind.Text), Column("b", ValueKind.Int32), Column("c", ValueKind.Text));

        var setup = await destination.EnsureTableAsync(rekeyed, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(rekeyed, 20, 0, 1, "other", 2, "c2")), CancellationToken.None);

        Assert.Null(setup.QuarantineReason);
        Assert.Equal("PRIMARY KEY (id, a)", await scope.ScalarAsync(
            $"SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = '{scope.Qualified("evolving")}'::regclass AND contype = 'p'"));
        Assert.Equal(2L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("evolving")}"));
    }

    /// <summary>A target created from V1 holding row (1, "one", 1, "c1").</summary>
    private static async Task<PostgresDestination> PreparedAsync(DestinationScope scope)
    {
        var destination = await scope.ClaimedAsync();
        await destination.EnsureTableAsync(V1, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(V1, 10, 0, 1, "one", 1, "c1")), CancellationToken.None);
        return destination;
    }
}
