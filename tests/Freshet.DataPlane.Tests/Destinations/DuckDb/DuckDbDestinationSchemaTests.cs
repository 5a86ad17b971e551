using Freshet.Contracts;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.DuckDb.Make;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

public sealed class DuckDbDestinationSchemaTests
{
    // Version 1: id, name, price INTEGER, legacy.  Version 2: legacy dropped, price BIGINT, color added.
    private static readonly TableSchema Version1 = Table(
        "products", Key("id"), Column("name", ValueKind.Text), Column("price", ValueKind.Int32), Column("legacy", ValueKind.Text));

    private static readonly TableSchema Version2 = Table(
        "products", Key("id"), Column("name", ValueKind.Text), Column("price", ValueKind.Int64), Column("color", ValueKind.Text));

    [Fact]
    public async Task EnsureTableAsync_SameSchemaAgain_ChangesNothing()
    {
        using var file = new TempDuckDbFile();
        await using var destination = file.Destination();
        await destination.ClaimAsync(CancellationToken.None);

        var created = await destination.EnsureTableAsync(Version1, SchemaChangePolicy.Propagate, CancellationToken.None);
        var again = await destination.EnsureTableAsync(Version1, SchemaChangePolicy.Propagate, CancellationToken.None);
        var withQuarantinePolicy = await destination.EnsureTableAsync(Version1, SchemaChangePolicy.Quarantine, CancellationToken.None);

        Assert.True(created.Created);
        Assert.Equal(["id", "name", "price", "legacy"], created.Added);
        Assert.False(again.Changed);
        Assert.Null(again.QuarantineReason);
        Assert.False(withQuarantinePolicy.Changed);
        Assert.Null(withQuarantinePolicy.QuarantineReason);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await ColumnsAsync(file));
    }

    [Fact]
    public async Task Propagate_AddsDropsAndRetypes_KeepingTheData()
    {
        using var file = new TempDuckDbFile();
        await using var destination = await SeededAsync(file);

        var setup = await destination.EnsureTableAsync(Version2, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(Version2, 20, 0, 2, "lamp", 5_000_000_000L, "red")), CancellationToken.None);

        Assert.False(setup.Created);
        Assert.Equal(["color"], setup.Added);
        Assert.Equal(["legacy"], setup.Dropped);
        Assert.Equal(["price"], setup.Retyped);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price BIGINT", "color VARCHAR"], await ColumnsAsync(file));
        Assert.Equal(
            [[1, "chair", 12L, null], [2, "lamp", 5_000_000_000L, "red"]],
            await file.QueryAsync("SELECT id, name, price, color FROM products ORDER BY id"));
    }

    [Fact]
    public async Task Propagate_RetypeTheStoredDataCannotTake_ReportsAQuarantineReasonAndChangesNothing()
    {
        using var file = new TempDuckDbFile();
        await using var destination = await SeededAsync(file);
        var nameAsNumber = Table(
            "products", Key("id"), Column("name", ValueKind.Int32), Column("price", ValueKind.Int32), Column("legacy", ValueKind.Text),
            Column("color", ValueKind.Text));

        var setup = await destination.EnsureTableAsync(nameAsNumber, SchemaChangePolicy.Propagate, CancellationToken.None);

        Assert.NotNull(setup.QuarantineReason);
        Assert.Contains("name", setup.QuarantineReason, StringComparison.Ordinal);
        Assert.False(setup.Changed);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await ColumnsAsync(file));
    }

    [Fact]
    public async Task AddColumnsOnly_AddsNewColumns_KeepsDroppedOnesAndOldTypes()
    {
        using var file = new TempDuckDbFile();
        await using var destination = await SeededAsync(file);

        var setup = await destination.EnsureTableAsync(Version2, SchemaChangePolicy.AddColumnsOnly, CancellationToken.None);
        await destination.ApplyAsync(
            Batch(Update(Version2, 20, 0, 1, "chair v2", 13L, "blue"), Insert(Version2, 20, 1, 2, "lamp", 7L, "red")),
            CancellationToken.None);

        Assert.Equal(["color"], setup.Added);
        Assert.Empty(setup.Dropped);
        Assert.Empty(setup.Retyped);
        Assert.Empty(setup.Ignored);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR", "color VARCHAR"], await ColumnsAsync(file));
        Assert.Equal(
            [[1, "chair v2", 13, "old", "blue"], [2, "lamp", 7, null, "red"]],
            await file.QueryAsync("SELECT id, name, price, legacy, color FROM products ORDER BY id"));
    }

    [Fact]
    public async Task Ignore_ChangesNothing_AndNewColumnsAreNotWritten()
    {
        using var file = new TempDuckDbFile();
        await using var destination = await SeededAsync(file);

        var setup = await destination.EnsureTableAsync(Version2, SchemaChangePolicy.Ignore, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(Version2, 20, 0, 2, "lamp", 7L, "red")), CancellationToken.None);

        Assert.False(setup.Changed);
        Assert.Equal(["color"], setup.Ignored);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await ColumnsAsync(file));
        Assert.Equal(
            [[1, "chair", 12, "old"], [2, "lamp", 7, null]],
            await file.QueryAsync("SELECT id, name, price, legacy FROM products ORDER BY id"));
    }

    [Fact]
    public async Task Quarantine_AnyDifference_ReturnsAReasonAndChangesNothing()
    {
        using var file = new TempDuckDbFile();
        await using var destination = await SeededAsync(file);

        var setup = await destination.EnsureTableAsync(Version2, SchemaChangePolicy.Quarantine, CancellationToken.None);

        Assert.False(setup.Changed);
        Assert.NotNull(setup.QuarantineReason);
        Assert.Contains("color", setup.QuarantineReason, StringComparison.Ordinal);
        Assert.Contains("legacy", setup.QuarantineReason, StringComparison.Ordinal);
        Assert.Contains("price", setup.QuarantineReason, StringComparison.Ordinal);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await ColumnsAsync(file));
    }

    [Fact]
    public async Task SourceColumnNamedLikeAMetadataColumn_InAnyCase_QuarantinesOnlyThatTable_AndACaseChangeIsNoDifference()
    {
        using var file = new TempDuckDbFile();
        await using var destination = await SeededAsync(file);

        // DuckDB's names ignore case, so _FRESHET_SYNCED_AT would be the metadata column itself.
        var colliding = Table("audits", Key("id"), Column("_FRESHET_SYNCED_AT", ValueKind.Text));
        var refused = await destination.EnsureTableAsync(colliding, SchemaChangePolicy.Propagate, CancellationToken.None);
        Assert.Equal("column _FRESHET_SYNCED_AT has the name of a Freshet metadata column", refused.QuarantineReason);
        Assert.Empty(await file.QueryAsync("SELECT table_name FROM duckdb_tables() WHERE table_name = 'audits'"));

        // The same table with its columns' names in another case is the same table to DuckDB.
        var recased = Table("products", Key("ID"), Column("Name", ValueKind.Text), Column("price", ValueKind.Int32), Column("LEGACY", ValueKind.Text));
        var setup = await destination.EnsureTableAsync(recased, SchemaChangePolicy.Quarantine, CancellationToken.None);
        Assert.Null(setup.QuarantineReason);
        Assert.False(setup.Changed);
        Assert.Equal(["id INTEGER", "name VARCHAR", "price INTEGER", "legacy VARCHAR"], await ColumnsAsync(file));
    }

    private static async Task<Freshet.DataPlane.Destinations.DuckDb.DuckDbDestination> SeededAsync(TempDuckDbFile file)
    {
        var destination = await file.ReadyAsync(DeleteMode.Hard, Version1);
        await destination.ApplyAsync(Batch(Insert(Version1, 10, 0, 1, "chair", 12, "old")), CancellationToken.None);
        return destination;
    }

    private static async Task<List<string>> ColumnsAsync(TempDuckDbFile file) =>
        [.. (await file.QueryAsync(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'products' AND column_name NOT LIKE '\\_freshet\\_%' ESCAPE '\\' ORDER BY column_index"))
            .Select(c => $"{c[0]} {c[1]}")];
}
