using DuckDB.NET.Data;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;
using Npgsql;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// After a resumed snapshot the stream replays changes the later chunks already hold, and the source fills their
/// TOAST-unchanged values from the row as it is now. A row that moved from a chunk not yet copied into the range of one
/// already copied is in neither, so its key change has no target row to take the unchanged value from; if the row has
/// moved on again by the time the change is read, the source cannot fill it either, and the next key change took the
/// hole over as a NULL for good (seen once in the crash-safety test on a PostgreSQL destination).
/// </summary>
public sealed class ResumedSnapshotFillTests
{
    private static readonly string[] Columns = ["id", "qty", "notes"];

    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task RowMovedTwiceAcrossChunksOfAResumedSnapshot_KeepsItsToastedValue(Target target)
    {
        await using var harness = await PipelineHarness.CreateAsync(target, "fill");
        // EXTERNAL: long values are stored out of line uncompressed, so an update that leaves them alone sends them as unchanged.
        await harness.ExecuteAsync("""
            CREATE TABLE moves (id bigint PRIMARY KEY, qty integer, notes text);
            ALTER TABLE moves ALTER COLUMN notes SET STORAGE EXTERNAL;
            INSERT INTO moves SELECT i, i, repeat(md5(i::text), 300) FROM generate_series(1, 3) i;
            """);
        var spec = await harness.WriteSpecAsync(harness.Spec(tables: [new TableSpec("public", "moves")]));
        await using (var first = WorkerProcess.Start(spec))
        {
            await first.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
            await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), first);
            await first.KillAsync();
        }

        // While the worker is down: row 1 moves to 101 (the change to replay), then on to 201.
        var start = await harness.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");
        await harness.ExecuteAsync("UPDATE moves SET id = 101, qty = qty + 1 WHERE id = 1");
        var fillUntil = await harness.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");
        await harness.ExecuteAsync("UPDATE moves SET id = 201, qty = qty + 1 WHERE id = 101");

        // The destination as a resumed snapshot leaves it when row 1's chunk was copied after the first move and 101's
        // before it: the row under neither key, and the stream to fill from the source up to the resumed snapshot.
        await CraftResumedSnapshotAsync(harness, $"{start};fill-until={fillUntil}");

        await using var second = WorkerProcess.Start(spec);
        await second.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), second);

        var differences = await harness.DifferencesAsync("moves", Columns, ["id"]);
        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + second.Output);
    }

    private static async Task CraftResumedSnapshotAsync(PipelineHarness harness, string position)
    {
        if (harness.Target == Target.DuckDb)
        {
            await using var connection = new DuckDBConnection($"Data Source={harness.DuckDbPath}");
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = $"DELETE FROM moves WHERE id = 1; UPDATE main.{MetadataColumns.CheckpointTable} SET position = '{position}'";
            await command.ExecuteNonQueryAsync();
        }
        else
        {
            await using var connection = new NpgsqlConnection(harness.DestinationConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(
                $"DELETE FROM analytics.moves WHERE id = 1; UPDATE analytics.{MetadataColumns.CheckpointTable} SET position = '{position}'",
                connection);
            await command.ExecuteNonQueryAsync();
        }
    }
}
