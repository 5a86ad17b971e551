using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.DuckDb.Make;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

public sealed class DuckDbDestinationSnapshotTests
{
    [Fact]
    public async Task Snapshot_BeginCopyFinish_ReplacesTheRowsAndRecordsProgress()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        var other = People("other");
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people, other);
        await destination.ApplyAsync(Batch(Insert(people, 10, 0, 1, "before", "x"), Insert(other, 10, 1, 1, "stays", "s")), CancellationToken.None);
        var takenAt = new DateTimeOffset(2025, 2, 2, 2, 2, 2, TimeSpan.Zero).AddTicks(1230);

        await destination.BeginSnapshotAsync([people], "plan-1", CancellationToken.None);
        Assert.Empty(await file.QueryAsync("SELECT * FROM people"));
        Assert.Equal("plan-1", (await file.QueryAsync("SELECT snapshot FROM _freshet_checkpoints"))[0][0]);

        var first = await destination.CopySnapshotChunkAsync(
            people, new SnapshotChunk(0, 50, takenAt), Rows([[1, "ann", "a"], [2, "bob", null], [3, "cy", "c"]]), CancellationToken.None);
        var second = await destination.CopySnapshotChunkAsync(
            people, new SnapshotChunk(1, 50, takenAt), Rows([[4, "dee", "d"]]), CancellationToken.None);
        var completed = await destination.ReadCompletedChunksAsync(CancellationToken.None);

        Assert.Equal((3L, 1L), (first, second));
        Assert.Equal([(people.Source, 0), (people.Source, 1)], completed.OrderBy(c => c.Chunk));
        Assert.Equal(
            [[1, "ann", "a", 50L, 0L, takenAt.UtcDateTime, file.Time.GetUtcNow().UtcDateTime, false, null]],
            await file.QueryAsync(
                "SELECT id, name, note, _freshet_position, _freshet_sequence, _freshet_committed_at, _freshet_synced_at, _freshet_deleted, _freshet_deleted_at FROM people WHERE id = 1"));
        Assert.Equal([[1, "stays"]], await file.QueryAsync("SELECT id, name FROM other"));

        // Changes from before the snapshot position are already in it; later ones apply.
        await destination.FinishSnapshotAsync("0/32", CancellationToken.None);
        await destination.ApplyAsync(Batch(Update(people, 40, 0, 1, "older", "a"), Update(people, 60, 0, 2, "newer", "b")), CancellationToken.None);
        Assert.Equal(
            [[1, "ann"], [2, "newer"], [3, "cy"], [4, "dee"]],
            await file.QueryAsync("SELECT id, name FROM people ORDER BY id"));

        await using var restarted = file.Destination();
        var checkpoint = await restarted.ClaimAsync(CancellationToken.None);
        Assert.Null(checkpoint.Snapshot);
        Assert.Equal("resume-60", checkpoint.Position);

        await restarted.EnsureTableAsync(people, SchemaChangePolicy.Propagate, CancellationToken.None);
        await restarted.BeginSnapshotAsync([people], "plan-2", CancellationToken.None);
        Assert.Empty(await restarted.ReadCompletedChunksAsync(CancellationToken.None));
        Assert.Empty(await file.QueryAsync("SELECT * FROM people"));
    }

    [Fact]
    public async Task CopySnapshotChunkAsync_ResumedChunk_ReplacesRowsAnEarlierAttemptLeft()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using (var destination = await file.ReadyAsync(DeleteMode.Hard, people))
        {
            await destination.BeginSnapshotAsync([people], "plan-1", CancellationToken.None);
            await destination.CopySnapshotChunkAsync(
                people, new SnapshotChunk(0, 50, Epoch), Rows([[1, "ann", "a"], [2, "bob", null], [3, "cy", "c"]]), CancellationToken.None);
        }

        // What a DuckDB commit that failed can leave behind: the chunk's rows without its done record.
        await using (var connection = new DuckDB.NET.Data.DuckDBConnection(Freshet.DataPlane.Destinations.DuckDb.DuckDbFile.ConnectionString(file.Path, readOnly: false)))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = $"DELETE FROM {MetadataColumns.SnapshotChunkTable}";
            await command.ExecuteNonQueryAsync();
        }

        await using var resumed = await file.ReadyAsync(DeleteMode.Hard, people);
        Assert.Empty(await resumed.ReadCompletedChunksAsync(CancellationToken.None));
        // Read again from a later snapshot: bob is gone, dee is new, cy changed.
        var copied = await resumed.CopySnapshotChunkAsync(
            people, new SnapshotChunk(0, 50, Epoch, Resumed: true), Rows([[1, "ann", "a"], [3, "cy", "changed"], [4, "dee", "d"]]), CancellationToken.None);

        Assert.Equal(3, copied);
        // Bob's leftover stays until the stream replays his delete (the stream starts at the snapshot's position).
        Assert.Equal(
            [[1, "ann", "a"], [2, "bob", null], [3, "cy", "changed"], [4, "dee", "d"]],
            await file.QueryAsync("SELECT id, name, note FROM people ORDER BY id"));
        Assert.Equal([(people.Source, 0)], await resumed.ReadCompletedChunksAsync(CancellationToken.None));
    }

    [Fact]
    public async Task CopySnapshotChunkAsync_SeveralChunksAtOnce_AppendInParallel()
    {
        using var file = new TempDuckDbFile();
        var table = Table("events", Key("id", ValueKind.Int64), Column("payload", ValueKind.Text), Column("at", ValueKind.TimestampTz));
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, table);
        await destination.BeginSnapshotAsync([table], "plan", CancellationToken.None);
        const int Half = 20_000;
        var atBarrier = 0;
        var bothStreaming = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Each chunk stops halfway until the other one is streaming too: serialised chunks would never get there.
        async IAsyncEnumerable<object?[]> ChunkRows(int chunk)
        {
            for (var i = 0; i < 2 * Half; i++)
            {
                if (i == Half)
                {
                    if (Interlocked.Increment(ref atBarrier) == 2)
                    {
                        bothStreaming.SetResult();
                    }

                    await bothStreaming.Task.WaitAsync(TimeSpan.FromSeconds(30));
                }

                yield return [(long)chunk * 2 * Half + i, $"payload {i}", new DateTime(2025, 1, 1, 0, 0, 0, DateTimeKind.Utc).AddTicks(i * 10L)];
            }
        }

        var counts = await Task.WhenAll(Enumerable.Range(0, 3).Select(chunk => Task.Run(() =>
            destination.CopySnapshotChunkAsync(table, new SnapshotChunk(chunk, 7, Epoch), ChunkRows(chunk), CancellationToken.None))));

        Assert.Equal([2L * Half, 2L * Half, 2L * Half], counts);
        Assert.Equal(
            [[6L * Half, 6L * Half, 3L]],
            await file.QueryAsync("SELECT count(*), count(DISTINCT id), (SELECT count(*) FROM _freshet_snapshot_chunks) FROM events"));
    }

    [Fact]
    public async Task CopySnapshotChunkAsync_ABadValueFailsTheTable_ASourceFailureDoesNot_AndNeitherCommits()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        await destination.BeginSnapshotAsync([people], "plan", CancellationToken.None);

        var bad = await Assert.ThrowsAsync<TableApplyException>(() => destination.CopySnapshotChunkAsync(
            people, new SnapshotChunk(0, 5, Epoch), Rows([[1, "ann", "a"], [2, 42, "not text"]]), CancellationToken.None));
        await Assert.ThrowsAsync<IOException>(() => destination.CopySnapshotChunkAsync(
            people, new SnapshotChunk(0, 5, Epoch), FailingSource(), CancellationToken.None));

        Assert.Equal(people.Source, bad.Table);
        Assert.Empty(await file.QueryAsync("SELECT * FROM people"));
        Assert.Empty(await destination.ReadCompletedChunksAsync(CancellationToken.None));
    }

    private static async IAsyncEnumerable<object?[]> FailingSource()
    {
        yield return [1, "ann", "a"];
        await Task.Yield();
        throw new IOException("the source connection was lost");
    }
}
