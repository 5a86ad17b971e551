using System.Text.Json;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using Freshet.DataPlane.Destinations.DuckDb;
using Xunit.Abstractions;
using static Freshet.DataPlane.Tests.Destinations.DuckDb.Make;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

public sealed class DuckDbFileTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Writer_HoldsItsNextWriteBack_WhileAReaderAsksForTheFile()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        var marker = file.Path + DuckDbFile.ReadRequestSuffix;
        await File.WriteAllTextAsync(marker, string.Empty);

        var apply = destination.ApplyAsync(Batch(Insert(people, 10, 0, 1, "ann", "a")), CancellationToken.None);
        await Task.Delay(300);
        var waitedForReader = !apply.IsCompleted;
        File.Delete(marker);
        await apply.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(waitedForReader);
        Assert.Equal([[1, "ann"]], await file.QueryAsync("SELECT id, name FROM people"));
    }

    [Fact]
    public async Task Writer_WhileAnotherProcessHoldsTheFile_RetriesUntilItIsReleased()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        await using var reader = await ReaderProcess.StartAsync(file.Path, "hold");

        var apply = destination.ApplyAsync(Batch(Insert(people, 10, 0, 1, "ann", "a")), CancellationToken.None);
        await Task.Delay(300);
        var waitedForReader = !apply.IsCompleted;
        await reader.StopAsync();
        await apply.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.True(waitedForReader);
        Assert.Equal([[1, "ann"]], await file.QueryAsync("SELECT id, name FROM people"));
    }

    [Fact]
    public async Task SnapshotChunk_WhoseSourceIsSlowToStart_DoesNotHoldTheFileMeanwhile()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        await destination.BeginSnapshotAsync([people], "plan", CancellationToken.None);

        // A source that has no row yet, as a COPY queued for its table's lock behind a TRUNCATE.
        var firstRow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async IAsyncEnumerable<object?[]> SlowRows()
        {
            await firstRow.Task;
            yield return [1, "ann", "a"];
        }

        var copy = destination.CopySnapshotChunkAsync(people, new SnapshotChunk(0, 5, Epoch), SlowRows(), CancellationToken.None);
        await Task.Delay(500);

        // The reader holds the file until told to stop; it fails to start when the file stays locked for 30 s.
        var starting = ReaderProcess.StartAsync(file.Path, "hold");
        var gotIn = await Task.WhenAny(starting, Task.Delay(TimeSpan.FromSeconds(20))) == starting;
        Assert.True(gotIn, "another process could not open the file while a snapshot chunk waited for its source");
        await using (var reader = await starting)
        {
            await reader.StopAsync();
        }

        firstRow.SetResult();
        Assert.Equal(1L, await copy.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal([[1, "ann"]], await file.QueryAsync("SELECT id, name FROM people"));
    }

    [Fact]
    public async Task ReaderInAnotherProcess_GetsInRepeatedly_WhileTheWriterAppliesInATightLoop()
    {
        using var file = new TempDuckDbFile();
        var people = People();
        await using var destination = await file.ReadyAsync(DeleteMode.Hard, people);
        await destination.ApplyAsync(Batch(Insert(people, 1, 0, 0, "seed", null)), CancellationToken.None);
        await using var reader = await ReaderProcess.StartAsync(file.Path, "poll");

        // Progress, not speed, is the point: the writer keeps going until it has written ten batches and the reader has
        // had at least 8 s of turns, and only a writer that cannot finish ten batches in a minute fails (on a loaded
        // 2-core machine a fixed 4 s once saw six).
        var batches = 0;
        var readerTime = TimeSpan.FromSeconds(8);
        var deadline = TimeSpan.FromSeconds(60);
        var started = DateTime.UtcNow;
        while ((batches < 10 || DateTime.UtcNow - started < readerTime) && DateTime.UtcNow - started < deadline)
        {
            batches++;
            var position = 1 + batches;
            await destination.ApplyAsync(
                Batch([.. Enumerable.Range(0, 10).Select(i => Insert(people, position, i, (batches * 10) + i, "row", null))]),
                CancellationToken.None);
        }

        var summary = JsonSerializer.Deserialize<ReaderSummary>(await reader.StopAsync())!;
        output.WriteLine($"{batches} batches written; the reader got in {summary.Opens} times, waiting at most {summary.LongestWaitMilliseconds:F0} ms");

        Assert.Equal(0, summary.Timeouts);
        Assert.True(summary.Opens >= 5, $"the reader got in {summary.Opens} times in {DateTime.UtcNow - started} while {batches} batches were written");
        Assert.True(summary.RowCounts[^1] > summary.RowCounts[0], "the reader saw the writer's progress");
        Assert.True(batches >= 10, $"the writer wrote {batches} batches");
    }

    [Fact]
    public async Task SeveralPipelinesInOneProcess_WriteTheSameFileAtOnce()
    {
        using var file = new TempDuckDbFile();
        using var second = new TempDuckDbFile();
        var people = People();
        var events = Table("events", Key("id"), Column("name", ValueKind.Text));
        await using var first = await file.ReadyAsync(DeleteMode.Hard, people);
        await using var other = new DuckDbDestination(
            new DestinationContext(
                second.PipelineId,
                1,
                DeleteMode.Hard,
                new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string> { ["path"] = file.Path }, new Dictionary<string, string>()),
                file.Time),
            NullLoggerFactory.Instance);
        await other.ClaimAsync(CancellationToken.None);
        await other.EnsureTableAsync(events, SchemaChangePolicy.Propagate, CancellationToken.None);
        await other.BeginSnapshotAsync([events], "plan", CancellationToken.None);

        var streaming = Task.Run(async () =>
        {
            for (var i = 1; i <= 30; i++)
            {
                await first.ApplyAsync(Batch(Insert(people, i, 0, i, "person", null)), CancellationToken.None);
            }
        });
        var snapshotting = Task.WhenAll(Enumerable.Range(0, 4).Select(chunk => Task.Run(() => other.CopySnapshotChunkAsync(
            events, new SnapshotChunk(chunk, 5, Epoch), Rows(Enumerable.Range(chunk * 1000, 1000).Select(i => new object?[] { i, "event" })), CancellationToken.None))));
        await Task.WhenAll(streaming, snapshotting);
        await other.FinishSnapshotAsync("5", CancellationToken.None);

        Assert.Equal([[30L, 4000L]], await file.QueryAsync("SELECT (SELECT count(*) FROM people), (SELECT count(*) FROM events)"));
        Assert.Equal(
            [[file.PipelineId.ToString(), "resume-30"], [second.PipelineId.ToString(), "5"]],
            await file.QueryAsync($"SELECT pipeline_id, position FROM _freshet_checkpoints ORDER BY pipeline_id = '{second.PipelineId}'"));
    }
}
