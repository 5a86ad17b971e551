using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.Postgres;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>How a batch folds per key, and how the (position, sequence) guard protects newer target rows.</summary>
public sealed class PostgresDestinationApplyTests(PostgresDestinationFixture fixture) : IClassFixture<PostgresDestinationFixture>
{
    private static readonly TableSchema Items = Table("items", Key("id"), Column("name", ValueKind.Text), Column("body", ValueKind.Text), Column("qty", ValueKind.Int32));

    [Fact]
    public async Task ApplyAsync_UpdateThenDeleteInOneBatch_LeavesOnlyTheLatestChangePerKey()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope);

        await destination.ApplyAsync(Batch(
            Insert(Items, 10, 0, 1, "one", "b1", 1),
            Update(Items, 10, 1, 1, "one v2", "b1", 2),
            Insert(Items, 10, 2, 2, "two", "b2", 2),
            Delete(Items, 11, 0, 1),
            Update(Items, 11, 1, 2, "two v2", "b2", 3)), CancellationToken.None);

        var rows = await RowsAsync(scope);
        var row = Assert.Single(rows);
        Assert.Equal(Row(2, "two v2", "b2", 3, 11L, 1L, At(11)), row);
        var checkpoint = await scope.CheckpointAsync();
        Assert.Equal(("resume-11", 11L, 1L), (checkpoint.Position, checkpoint.AppliedPosition, checkpoint.AppliedSequence));
        var synced = (DateTime)(await scope.ScalarAsync($"SELECT {MetadataColumns.SyncedAt} FROM {scope.Qualified("items")}"))!;
        Assert.Equal(DestinationScope.Now, new DateTimeOffset(synced));
    }

    [Fact]
    public async Task ApplyAsync_StaleOrEqualReplay_IsIgnored()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope);
        await destination.ApplyAsync(Batch(Insert(Items, 20, 5, 1, "current", "b", 1), Insert(Items, 20, 6, 2, "keep", "b", 2)), CancellationToken.None);

        await destination.ApplyAsync(Batch(
            Update(Items, 15, 0, 1, "older", "x", 0),
            Insert(Items, 20, 5, 1, "same position", "x", 0),
            Delete(Items, 20, 6, 2),
            Insert(Items, 19, 0, 3, "new key", "b", 3)), CancellationToken.None);

        Assert.Equal(
            new[] { Row(1, "current", "b", 1, 20L, 5L, At(20)), Row(2, "keep", "b", 2, 20L, 6L, At(20)), Row(3, "new key", "b", 3, 19L, 0L, At(19)) },
            await RowsAsync(scope));
    }

    [Fact]
    public async Task ApplyAsync_UnchangedValues_KeepTheTargetOrTakeTheKeysEarlierChange()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "big body 1", 1), Insert(Items, 10, 1, 2, "two", "big body 2", 2)), CancellationToken.None);

        await destination.ApplyAsync(Batch(
            Update(Items, 20, 0, 1, "one v2", Unchanged, 10),
            Update(Items, 20, 1, 2, "two v2", "big body 2 v2", 20),
            Update(Items, 20, 2, 2, Unchanged, Unchanged, 21),
            Update(Items, 20, 3, 3, "three", Unchanged, 3)), CancellationToken.None);

        Assert.Equal(
            new[] { Row(1, "one v2", "big body 1", 10, 20L, 0L, At(20)), Row(2, "two v2", "big body 2 v2", 21, 20L, 2L, At(20)), Row(3, "three", null, 3, 20L, 3L, At(20)) },
            await RowsAsync(scope));
    }

    [Fact]
    public async Task ApplyAsync_KeyChange_DeletesTheOldKeyAndCarriesUnchangedValues()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "body 1", 1), Insert(Items, 10, 1, 2, "two", "body 2", 2)), CancellationToken.None);

        await destination.ApplyAsync(Batch(
            KeyChange(Items, 20, 0, [1], 5, "five", Unchanged, Unchanged),
            KeyChange(Items, 20, 1, [2], 6, Unchanged, Unchanged, 60),
            KeyChange(Items, 20, 2, [6], 7, "seven", Unchanged, Unchanged)), CancellationToken.None);

        Assert.Equal(
            new[] { Row(5, "five", "body 1", 1, 20L, 0L, At(20)), Row(7, "seven", "body 2", 60, 20L, 2L, At(20)) },
            await RowsAsync(scope));
    }

    [Fact]
    public async Task ApplyAsync_Truncate_RemovesOlderRowsDropsEarlierChangesAndAppliesLaterOnes()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "old", "b", 1), Insert(Items, 50, 0, 2, "newer than the truncate", "b", 2)), CancellationToken.None);

        await destination.ApplyAsync(Batch(
            Insert(Items, 40, 0, 3, "before truncate", "b", 3),
            Truncate(Items, 40, 1),
            Insert(Items, 40, 2, 4, "after truncate", "b", 4)), CancellationToken.None);

        Assert.Equal(
            new[] { Row(2, "newer than the truncate", "b", 2, 50L, 0L, At(50)), Row(4, "after truncate", "b", 4, 40L, 2L, At(40)) },
            await RowsAsync(scope));
    }

    [Fact]
    public async Task ApplyAsync_SoftDeletes_MarkRowsKeepValuesAndRevive()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope, DeleteMode.Soft);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "b1", 1), Insert(Items, 10, 1, 2, "two", "b2", 2), Insert(Items, 10, 2, 3, "three", "b3", 3)),
            CancellationToken.None);

        await destination.ApplyAsync(Batch(
            Delete(Items, 20, 0, 1),
            Insert(Items, 20, 1, 4, "four", "b4", 4),
            Delete(Items, 20, 2, 4),
            Delete(Items, 5, 0, 2)), CancellationToken.None);

        Assert.Equal(
            new[]
            {
                Row(1, "one", "b1", 1, 20L, 0L, At(20), true, At(20)),
                Row(2, "two", "b2", 2, 10L, 1L, At(10), false, null),
                Row(3, "three", "b3", 3, 10L, 2L, At(10), false, null),
                Row(4, "four", "b4", 4, 20L, 2L, At(20), true, At(20)),
            },
            await RowsAsync(scope, withDeleted: true));

        await destination.ApplyAsync(Batch(Insert(Items, 30, 0, 1, "one again", "b1'", 11), Truncate(Items, 30, 1), Insert(Items, 30, 2, 5, "five", "b5", 5)),
            CancellationToken.None);

        Assert.Equal(
            new[]
            {
                Row(1, "one", "b1", 1, 20L, 0L, At(20), true, At(20)),
                Row(2, "two", "b2", 2, 30L, 1L, At(30), true, At(30)),
                Row(3, "three", "b3", 3, 30L, 1L, At(30), true, At(30)),
                Row(4, "four", "b4", 4, 20L, 2L, At(20), true, At(20)),
                Row(5, "five", "b5", 5, 30L, 2L, At(30), false, null),
            },
            await RowsAsync(scope, withDeleted: true));

        await destination.ApplyAsync(Batch(Update(Items, 40, 0, 1, "revived", Unchanged, 12)), CancellationToken.None);

        Assert.Equal(Row(1, "revived", "b1", 12, 40L, 0L, At(40), false, null), (await RowsAsync(scope, withDeleted: true))[0]);
    }

    [Fact]
    public async Task ApplyAsync_ChangesOfAnotherShape_MatchColumnsByNameAndLeaveMissingOnesAloneOnUpdate()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "body 1", 1)), CancellationToken.None);
        var reshaped = new TableSchema(Items.Source, Items.DestinationName,
            [Column("qty", ValueKind.Int32), Column("extra", ValueKind.Text), Key("id"), Column("name", ValueKind.Text)]);

        await destination.ApplyAsync(Batch(Update(reshaped, 20, 0, 10, "not in the target", 1, "one v2"), Insert(reshaped, 20, 1, 2, "x", 2, "two")),
            CancellationToken.None);

        Assert.Equal(
            new[] { Row(1, "one v2", "body 1", 10, 20L, 0L, At(20)), Row(2, "two", null, 2, 20L, 1L, At(20)) },
            await RowsAsync(scope));
    }

    [Fact]
    public async Task ApplyAsync_OneTableFails_ThrowsTableApplyExceptionNamingItAndCommitsNothing()
    {
        var scope = fixture.NewScope();
        await using var destination = await ReadyAsync(scope);
        var narrow = Table("narrow", Key("id"), Column("code", ValueKind.Text, "character varying(3)"));
        await destination.EnsureTableAsync(narrow, SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(Items, 10, 0, 1, "one", "b", 1)), CancellationToken.None);

        var failure = await Assert.ThrowsAsync<TableApplyException>(() => destination.ApplyAsync(Batch(
            Insert(Items, 20, 0, 2, "two", "b", 2),
            Update(Items, 20, 1, 1, "one v2", "b", 2),
            Insert(narrow, 20, 2, 1, "abc"),
            Insert(narrow, 20, 3, 2, "too long")), CancellationToken.None));

        Assert.Equal(narrow.Source, failure.Table);
        Assert.Equal(new[] { Row(1, "one", "b", 1, 10L, 0L, At(10)) }, await RowsAsync(scope));
        Assert.Equal(0L, await scope.ScalarAsync($"SELECT count(*) FROM {scope.Qualified("narrow")}"));
        Assert.Equal("resume-10", (await scope.CheckpointAsync()).Position);

        await destination.ApplyAsync(Batch(Insert(Items, 20, 0, 2, "two", "b", 2)), CancellationToken.None);
        Assert.Equal(2, (await RowsAsync(scope)).Count);
    }

    private static object?[] Row(params object?[] values) => values;

    private static async Task<PostgresDestination> ReadyAsync(DestinationScope scope, DeleteMode deleteMode = DeleteMode.Hard)
    {
        var destination = await scope.ClaimedAsync(deleteMode: deleteMode);
        await destination.EnsureTableAsync(Items, SchemaChangePolicy.Propagate, CancellationToken.None);
        return destination;
    }

    private static async Task<List<object?[]>> RowsAsync(DestinationScope scope, bool withDeleted = false)
    {
        var deleted = withDeleted ? $", {MetadataColumns.Deleted}, {MetadataColumns.DeletedAt}" : "";
        var rows = await scope.QueryAsync(
            $"SELECT id, name, body, qty, {MetadataColumns.Position}, {MetadataColumns.Sequence}, {MetadataColumns.CommittedAt}{deleted} FROM {scope.Qualified("items")} ORDER BY id");
        return [.. rows.Select(r => r.Select(v => v is DateTime t ? (object)new DateTimeOffset(t) : v).ToArray())];
    }
}
