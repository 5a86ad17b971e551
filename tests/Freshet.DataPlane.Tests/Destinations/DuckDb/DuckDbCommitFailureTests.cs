using DuckDB.NET.Data;
using Freshet.DataPlane.Destinations.DuckDb;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

/// <summary>
/// A commit that fails may leave rows of the failed transaction in DuckDB's memory that a checkpoint would write into the
/// file (a batch retried after its commit ran out of memory landed twice in the crash-safety test). The instance is
/// therefore discarded: closed without a checkpoint, and the file opened afresh from what was committed.
/// A key conflict found at commit is the failure DuckDB lets a test cause at will; it reverts that one cleanly, so this
/// test shows the discard itself (the error, the held-back writer, the fresh instance, the committed rows), not the leak.
/// </summary>
public sealed class DuckDbCommitFailureTests
{
    [Fact]
    public async Task FailedCommit_DiscardsTheInstanceWithoutCheckpoint_NextWriteSeesOnlyWhatWasCommitted()
    {
        using var temp = new TempDuckDbFile();
        var resources = new DuckDbResources(MemoryLimitMb: 64, MaxMemoryLimitMb: 256, Threads: 1, CheckpointThresholdMb: 64);
        var file = SharedDuckDbFile.For(temp.Path, resources);
        await using (var setup = await file.AcquireAsync(exclusive: true, NullLogger.Instance, CancellationToken.None))
        {
            await ExecuteAsync(setup.Connection, "CREATE TABLE keyed (id INTEGER PRIMARY KEY); CREATE TABLE rows (id INTEGER)");
        }

        // A transaction writes 1,000 rows and a key that another writer commits first: its commit fails on the key.
        var failing = await file.AcquireAsync(exclusive: false, NullLogger.Instance, CancellationToken.None);
        var other = await file.AcquireAsync(exclusive: false, NullLogger.Instance, CancellationToken.None);
        Task<SharedDuckDbFile.Lease> next;
        await using (failing)
        {
            await using var transaction = await failing.Connection.BeginTransactionAsync();
            await ExecuteAsync(failing.Connection, "INSERT INTO rows SELECT range FROM range(1000); INSERT INTO keyed VALUES (1)");
            await ExecuteAsync(other.Connection, "INSERT INTO keyed VALUES (1); INSERT INTO rows VALUES (-1)");

            var failure = await Assert.ThrowsAsync<DuckDbCommitFailedException>(() => failing.CommitAsync(transaction, CancellationToken.None));
            Assert.IsType<DuckDBException>(failure.InnerException);

            // No write starts on the discarded instance: the next waits until its last user is done.
            next = file.AcquireAsync(exclusive: true, NullLogger.Instance, CancellationToken.None);
            await Task.Delay(300);
            Assert.False(next.IsCompleted);
        }

        // The other writer, still on the discarded instance, commits to the WAL as ever.
        await ExecuteAsync(other.Connection, "INSERT INTO rows VALUES (-2)");
        Assert.False(next.IsCompleted);
        await other.DisposeAsync();

        await using (var lease = await next.WaitAsync(TimeSpan.FromSeconds(30)))
        {
            await AssertFreshInstanceAsync(lease);
        }

        await file.CloseIfUnusedAsync();
    }

    private static async Task AssertFreshInstanceAsync(SharedDuckDbFile.Lease lease)
    {
        // A fresh instance (the discarded one had its checkpoint threshold raised out of reach) with exactly what was committed.
        // (64 MB reads as 61.0 MiB; the discarded instance's reads in TiB.)
        Assert.Equal("61.0 MiB", await ScalarAsync(lease.Connection, "SELECT current_setting('checkpoint_threshold')"));
        Assert.Equal("2 -3 1", await ScalarAsync(lease.Connection, "SELECT count(*) || ' ' || sum(id) || ' ' || (SELECT count(*) FROM keyed) FROM rows"));
        await ExecuteAsync(lease.Connection, "INSERT INTO rows VALUES (-4)");
        lease.KeepConnection();
    }

    private static async Task ExecuteAsync(DuckDBConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<string?> ScalarAsync(DuckDBConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
