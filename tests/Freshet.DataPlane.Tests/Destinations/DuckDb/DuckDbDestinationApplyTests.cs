using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.DuckDb.Make;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

public sealed class DuckDbDestinationApplyTests
{
    private static readonly UnchangedValue Unchanged = UnchangedValue.Instance;

    [Fact]
    public async Task ApplyAsync_LatestChangePerKeyWins_WithinAndAcrossBatches()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);

        await destination.ApplyAsync(
            Batch(
                Insert(people, 10, 0, 1, "ann", "a"),
                Insert(people, 10, 1, 2, "bob", "b"),
                Update(people, 10, 2, 1, "anna", "a2"),
                Insert(people, 11, 0, 3, "cy", "c"),
                Update(people, 11, 1, 3, "cyd", "c2"),
                Delete(people, 11, 2, 3)),
            CancellationToken.None);
        await destination.ApplyAsync(
            Batch(Update(people, 12, 0, 2, "bobby", "b2"), Insert(people, 12, 1, 4, "dee", "d")),
            CancellationToken.None);

        Assert.Equal(
            [Row(1, "anna", "a2", 10, 2), Row(2, "bobby", "b2", 12, 0), Row(4, "dee", "d", 12, 1)],
            await PeopleAsync(file));
    }

    [Fact]
    public async Task ApplyAsync_InsertsWhoseKeysStopAscending_StillFoldToOneRowPerKey()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);

        // The folder skips its key index while inserted keys ascend; a lower key, a key inserted again and an update
        // of a key from that run must still meet the rows before them. New keys only, so the batch is appended
        // directly: a key folded twice would land twice.
        await destination.ApplyAsync(
            Batch(
                Insert(people, 10, 0, 1, "ann", "a"),
                Insert(people, 10, 1, 5, "eve", "e"),
                Insert(people, 10, 2, 9, "ivy", "i"),
                Insert(people, 10, 3, 3, "cy", "c"),
                Insert(people, 10, 4, 5, "eva", "e2"),
                Update(people, 10, 5, 9, "ivo", "i2"),
                Insert(people, 10, 6, 12, "lu", "l")),
            CancellationToken.None);
        // A run of ascending inserts ended by a delete of one of them.
        await destination.ApplyAsync(
            Batch(
                Insert(people, 11, 0, 20, "tia", "t"),
                Insert(people, 11, 1, 21, "uma", "u"),
                Delete(people, 11, 2, 20),
                Insert(people, 11, 3, 22, "vic", "v")),
            CancellationToken.None);

        Assert.Equal(
            [Row(1, "ann", "a", 10, 0), Row(3, "cy", "c", 10, 3), Row(5, "eva", "e2", 10, 4), Row(9, "ivo", "i2", 10, 5),
             Row(12, "lu", "l", 10, 6), Row(21, "uma", "u", 11, 1), Row(22, "vic", "v", 11, 3)],
            await PeopleAsync(file));
    }

    [Fact]
    public async Task ApplyAsync_BatchTooLargeForTheMemoryLimit_GrowsTheLimitAndLandsEveryRow()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = file.Destination(resources: new DuckDbResources(MemoryLimitMb: 8, MaxMemoryLimitMb: 1024, Threads: 1));
        await destination.ClaimAsync(CancellationToken.None);
        await destination.EnsureTableAsync(people, SchemaChangePolicy.Propagate, CancellationToken.None);

        // About 40 MB of distinct text: far more than 8 MB of buffer pool can stage and join.
        const int rows = 20_000;
        var note = new string('x', 2_000);
        await destination.ApplyAsync(
            Batch([.. Enumerable.Range(0, rows).Select(i => Insert(people, 10, i, i, $"name {i}", note + i))]),
            CancellationToken.None);

        Assert.True(destination.MemoryLimitMb > 8, $"the limit stayed at {destination.MemoryLimitMb} MB");
        Assert.Equal(
            [[(long)rows, Enumerable.Range(0, rows).Sum(i => (long)(note + i).Length)]],
            await file.QueryAsync("SELECT count(*), sum(length(note))::BIGINT FROM people"));
    }

    [Fact]
    public async Task ApplyAsync_NewKeys_AreAppendedWithTheirMetadata_AndBatchesTouchingTargetRowsOrAHandAddedColumnAreStaged()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Soft, people);

        // Only new keys: upserts land as new rows; deletes of keys the target never had (one inserted and deleted in
        // this batch) leave nothing behind, soft mode included.
        await destination.ApplyAsync(
            Batch(
                Insert(people, 10, 0, 1, "ann", "a"),
                Insert(people, 10, 1, 2, "bob", null),
                Insert(people, 10, 2, 5, "gone", "g"),
                Delete(people, 10, 3, 5),
                Delete(people, 10, 4, 9),
                Insert(people, 11, 0, 3, "cy", "c")),
            CancellationToken.None);
        Assert.Equal(
            [
                [1, "ann", "a", 10L, 0L, CommittedAt(10).UtcDateTime, file.Time.GetUtcNow().UtcDateTime, false, null],
                [2, "bob", null, 10L, 1L, CommittedAt(10).UtcDateTime, file.Time.GetUtcNow().UtcDateTime, false, null],
                [3, "cy", "c", 11L, 0L, CommittedAt(11).UtcDateTime, file.Time.GetUtcNow().UtcDateTime, false, null],
            ],
            await file.QueryAsync(
                """
                SELECT id, name, note, _freshet_position, _freshet_sequence, _freshet_committed_at, _freshet_synced_at,
                    _freshet_deleted, _freshet_deleted_at
                FROM people ORDER BY id
                """));

        // Someone adds a column while the pipeline runs: new keys still land, by name, the new column taking its default.
        await using (var connection = new DuckDB.NET.Data.DuckDBConnection($"Data Source={file.Path}"))
        {
            await connection.OpenAsync();
            await using var alter = connection.CreateCommand();
            alter.CommandText = "ALTER TABLE people ADD COLUMN extra VARCHAR DEFAULT 'default'";
            await alter.ExecuteNonQueryAsync();
        }

        await destination.ApplyAsync(Batch(Insert(people, 12, 0, 10, "dee", "d")), CancellationToken.None);

        // A batch whose key range holds target rows: the newer change to key 2 replaces it, the stale one to key 3 does not.
        await destination.ApplyAsync(
            Batch(Insert(people, 9, 0, 3, "stale", "s"), Insert(people, 13, 0, 2, "bobby", "b2"), Insert(people, 13, 1, 4, "eve", "e")),
            CancellationToken.None);
        Assert.Equal(
            [
                [1, "ann", 10L, false, "default"],
                [2, "bobby", 13L, false, "default"],
                [3, "cy", 11L, false, "default"],
                [4, "eve", 13L, false, "default"],
                [10, "dee", 12L, false, "default"],
            ],
            await file.QueryAsync("SELECT id, name, _freshet_position, _freshet_deleted, extra FROM people ORDER BY id"));
    }

    [Fact]
    public async Task ApplyAsync_StaleOrRepeatedChanges_AreIgnored()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        await destination.ApplyAsync(Batch(Insert(people, 20, 0, 1, "ann", "a"), Insert(people, 20, 1, 2, "bob", "b")), CancellationToken.None);

        // A replay: the same changes again, and older ones (a delete, an update, an insert of a key since deleted).
        await destination.ApplyAsync(
            Batch(
                Insert(people, 5, 0, 3, "old", "gone"),
                Delete(people, 5, 1, 3),
                Update(people, 19, 9, 1, "older", "x"),
                Delete(people, 20, 0, 2),
                Insert(people, 20, 0, 1, "ann again", "a")),
            CancellationToken.None);

        Assert.Equal([Row(1, "ann", "a", 20, 0), Row(2, "bob", "b", 20, 1)], await PeopleAsync(file));
    }

    [Fact]
    public async Task ApplyAsync_UnchangedValues_AreFilledFromEarlierChangesOrKeptFromTheTarget()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        await destination.ApplyAsync(Batch(Insert(people, 10, 0, 1, "ann", "long text 1")), CancellationToken.None);

        await destination.ApplyAsync(
            Batch(
                Update(people, 11, 0, 1, "anna", Unchanged),
                Insert(people, 11, 1, 2, "bob", "long text 2"),
                Update(people, 11, 2, 2, Unchanged, Unchanged),
                Update(people, 11, 3, 2, "bobby", Unchanged),
                Update(people, 11, 4, 3, "no row", Unchanged)),
            CancellationToken.None);

        Assert.Equal(
            [Row(1, "anna", "long text 1", 11, 0), Row(2, "bobby", "long text 2", 11, 3), Row(3, "no row", null, 11, 4)],
            await PeopleAsync(file));
    }

    [Fact]
    public async Task ApplyAsync_KeyChange_DeletesTheOldKeyAndCarriesUnchangedValues()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        await destination.ApplyAsync(
            Batch(Insert(people, 10, 0, 1, "ann", "kept 1"), Insert(people, 10, 1, 5, "eve", "kept 5"), Insert(people, 10, 2, 3, "cy", "kept 3")),
            CancellationToken.None);

        await destination.ApplyAsync(
            Batch(
                KeyChange(people, 11, 0, [1], 2, "ann moved", Unchanged),
                Insert(people, 11, 1, 7, "gil", "kept 7"),
                KeyChange(people, 11, 2, [7], 8, "gil moved", Unchanged),
                KeyChange(people, 11, 3, [5], 6, "eve moved", Unchanged),
                KeyChange(people, 11, 4, [6], 9, Unchanged, Unchanged),
                Update(people, 11, 5, 3, "cy updated", Unchanged),
                KeyChange(people, 11, 6, [3], 4, Unchanged, Unchanged)),
            CancellationToken.None);

        Assert.Equal(
            [
                Row(2, "ann moved", "kept 1", 11, 0), Row(4, "cy updated", "kept 3", 11, 6), Row(8, "gil moved", "kept 7", 11, 2),
                Row(9, "eve moved", "kept 5", 11, 4),
            ],
            await PeopleAsync(file));
    }

    [Fact]
    public async Task ApplyAsync_Truncate_RemovesOlderRowsAndAppliesLaterChanges()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        var other = People("other");
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people, other);
        await destination.ApplyAsync(
            Batch(Insert(people, 10, 0, 1, "ann", "a"), Insert(people, 10, 1, 2, "bob", "b"), Insert(other, 10, 2, 1, "stays", "s")),
            CancellationToken.None);

        await destination.ApplyAsync(
            Batch(
                Insert(people, 20, 0, 3, "cy", "dropped by the truncate"),
                Update(people, 20, 1, 1, "ann2", "dropped by the truncate"),
                Truncate(people, 21, 0),
                Insert(people, 22, 0, 4, "dee", "d"),
                Update(people, 22, 1, 4, "dee2", Unchanged)),
            CancellationToken.None);

        Assert.Equal([Row(4, "dee2", "d", 22, 1)], await PeopleAsync(file));
        Assert.Equal([Row(1, "stays", "s", 10, 2)], await PeopleAsync(file, "other"));
    }

    [Fact]
    public async Task ApplyAsync_SoftDeletes_MarkRowsKeepValuesAndReviveOnUpsert()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Soft, people);
        await destination.ApplyAsync(
            Batch(Insert(people, 10, 0, 1, "ann", "a"), Insert(people, 10, 1, 2, "bob", "b"), Insert(people, 10, 2, 3, "cy", "c")),
            CancellationToken.None);

        await destination.ApplyAsync(Batch(Delete(people, 11, 0, 1), Delete(people, 11, 1, 2), Delete(people, 11, 2, 9)), CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(people, 12, 0, 2, "bob again", "b2")), CancellationToken.None);

        var rows = await file.QueryAsync(
            "SELECT id, name, note, _freshet_position, _freshet_deleted, _freshet_deleted_at FROM people ORDER BY id");
        Assert.Equal(3, rows.Count);
        Assert.Equal([1, "ann", "a", 11L, true, CommittedAt(11).UtcDateTime], rows[0]);
        Assert.Equal([2, "bob again", "b2", 12L, false, null], rows[1]);
        Assert.Equal([3, "cy", "c", 10L, false, null], rows[2]);

        await destination.ApplyAsync(Batch(Truncate(people, 13, 0), Insert(people, 13, 1, 4, "dee", "d")), CancellationToken.None);

        var afterTruncate = await file.QueryAsync(
            "SELECT id, _freshet_deleted, _freshet_deleted_at, _freshet_position FROM people ORDER BY id");
        Assert.Equal([1, true, CommittedAt(11).UtcDateTime, 11L], afterTruncate[0]);
        Assert.Equal([2, true, CommittedAt(13).UtcDateTime, 13L], afterTruncate[1]);
        Assert.Equal([3, true, CommittedAt(13).UtcDateTime, 13L], afterTruncate[2]);
        Assert.Equal([4, false, null, 13L], afterTruncate[3]);
    }

    [Fact]
    public async Task ApplyAsync_WritesMetadataAndMovesTheCheckpoint()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        file.Time.SetUtcNow(new DateTimeOffset(2025, 6, 1, 8, 0, 0, TimeSpan.Zero));

        await destination.ApplyAsync(
            new ChangeBatch
            {
                Changes = [Insert(people, 42, 3, 1, "ann", "a")],
                ResumePosition = "0/2A",
                AppliedThrough = (42, 7),
            },
            CancellationToken.None);

        var row = Assert.Single(await file.QueryAsync(
            "SELECT _freshet_position, _freshet_sequence, _freshet_committed_at, _freshet_synced_at, _freshet_deleted, _freshet_deleted_at FROM people"));
        Assert.Equal([42L, 3L, CommittedAt(42).UtcDateTime, new DateTime(2025, 6, 1, 8, 0, 0, DateTimeKind.Utc), false, null], row);

        await using var restarted = file.Destination();
        var checkpoint = await restarted.ClaimAsync(CancellationToken.None);
        Assert.Equal("0/2A", checkpoint.Position);
        Assert.Equal((42L, 7L), (checkpoint.AppliedPosition, checkpoint.AppliedSequence));
    }

    [Theory]
    [InlineData(DeleteMode.Hard)]
    [InlineData(DeleteMode.Soft)]
    public async Task ApplyAsync_BatchesReplayedAfterTheirRowsCommittedWithoutTheCheckpoint_LeaveTheTargetAsAppliedOnce(DeleteMode deleteMode)
    {
        // The checkpoint moves in a transaction after the rows' (a failed DuckDB commit is not atomic), so a crash between
        // the two replays batches whose rows are already in: the replay may be cut differently and must change nothing.
        var people = People();
        RowChange[][] batches =
        [
            [Insert(people, 10, 0, 1, "ann", "a"), Insert(people, 10, 1, 2, "bob", "b"), Insert(people, 10, 2, 3, "cy", "c")],
            [Update(people, 11, 0, 1, "anna", Unchanged), Delete(people, 11, 1, 2), Insert(people, 11, 2, 4, "dee", "d")],
            [Truncate(people, 12, 0), Insert(people, 12, 1, 5, "eve", "e"), Insert(people, 12, 2, 2, "bob again", "b2")],
            [Update(people, 13, 0, 4, "dee2", "d2"), Delete(people, 13, 1, 5), Insert(people, 13, 2, 6, "fay", "f"), Update(people, 13, 3, 6, "fay2", Unchanged)],
        ];
        const string Everything = "SELECT * EXCLUDE (_freshet_synced_at) FROM people ORDER BY id";

        using var once = new TempDuckDbFile();
        await using (var destination = await once.ReadyAsync(deleteMode, people))
        {
            foreach (var changes in batches)
            {
                await destination.ApplyAsync(Batch(changes), CancellationToken.None);
            }
        }

        using var replayed = new TempDuckDbFile();
        await using (var destination = await replayed.ReadyAsync(deleteMode, people))
        {
            foreach (var changes in batches)
            {
                await destination.ApplyAsync(Batch(changes), CancellationToken.None);
            }

            // The last batch again, as a crash right after its rows' commit replays it; then the last three as one batch.
            await destination.ApplyAsync(Batch(batches[^1]), CancellationToken.None);
            await destination.ApplyAsync(Batch([.. batches.Skip(1).SelectMany(b => b)]), CancellationToken.None);
        }

        var expected = await once.QueryAsync(Everything);
        Assert.Equal(deleteMode == DeleteMode.Soft ? 6 : 3, expected.Count);
        Assert.Equal(expected, await replayed.QueryAsync(Everything));
        await using var restarted = replayed.Destination(deleteMode: deleteMode);
        var checkpoint = await restarted.ClaimAsync(CancellationToken.None);
        Assert.Equal(("resume-13", 13L, 3L), (checkpoint.Position, checkpoint.AppliedPosition, checkpoint.AppliedSequence));
    }

    [Fact]
    public async Task ApplyAsync_TableWhoseRowsFail_ThrowsTableApplyExceptionAndCommitsNothing()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        var scores = Table("scores", Key("id"), Column("points", ValueKind.Text));
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);

        // The target keeps an INTEGER column while the source now sends text (AddColumnsOnly keeps the type and casts).
        await destination.EnsureTableAsync(Table("scores", Key("id"), Column("points", ValueKind.Int32)), SchemaChangePolicy.Propagate, CancellationToken.None);
        await destination.EnsureTableAsync(scores, SchemaChangePolicy.AddColumnsOnly, CancellationToken.None);
        await destination.ApplyAsync(Batch(Insert(people, 10, 0, 1, "ann", "a"), Insert(scores, 10, 1, 1, "12")), CancellationToken.None);

        var failure = await Assert.ThrowsAsync<TableApplyException>(() => destination.ApplyAsync(
            Batch(Update(people, 11, 0, 1, "changed", "a"), Insert(scores, 11, 1, 2, "not a number")),
            CancellationToken.None));
        Assert.Equal(scores.Source, failure.Table);

        var wrongClrType = await Assert.ThrowsAsync<TableApplyException>(() => destination.ApplyAsync(
            Batch(Insert(people, 12, 0, 5, 42, "a")),
            CancellationToken.None));
        Assert.Equal(people.Source, wrongClrType.Table);

        Assert.Equal([Row(1, "ann", "a", 10, 0)], await PeopleAsync(file));
        Assert.Equal([[1, 12]], await file.QueryAsync("SELECT id, points FROM scores"));
        await using var restarted = file.Destination();
        Assert.Equal("resume-10", (await restarted.ClaimAsync(CancellationToken.None)).Position);
    }

    [Fact]
    public async Task ApplyAsync_ColumnsAreMatchedByName_AndMissingOnesKeptOrNull()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        var reordered = Table("people", Column("note", ValueKind.Text), Key("id"), Column("extra", ValueKind.Text));
        await destination.ApplyAsync(Batch(Insert(people, 10, 0, 1, "ann", "a")), CancellationToken.None);

        await destination.ApplyAsync(
            Batch(Update(reordered, 11, 0, "a2", 1, "not in the target"), Insert(reordered, 11, 1, "b", 2, "not in the target")),
            CancellationToken.None);

        Assert.Equal([Row(1, "ann", "a2", 11, 0), Row(2, null, "b", 11, 1)], await PeopleAsync(file));
    }

    private static object?[] Row(int id, string? name, string? note, long position, long sequence) => [id, name, note, position, sequence];

    private static Task<List<object?[]>> PeopleAsync(TempDuckDbFile file, string table = "people") =>
        file.QueryAsync($"SELECT id, name, note, _freshet_position, _freshet_sequence FROM {table} ORDER BY id");
}
