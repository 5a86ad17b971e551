using DuckDB.NET.Data;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.DataPlane.Tests.Support;
using Npgsql;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// A re-snapshot request in a new spec generation copies its table again, while the source keeps changing: rows changed
/// or deleted by hand in the destination are put right, and the other table is not copied again.
/// </summary>
public sealed class ResnapshotTests
{
    private static readonly string[] LineKeys = ["order_id", "line"];

    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task ResnapshotRequest_CopiesTheTamperedTableAgain_WhileChangesFlow_AndLeavesTheOtherAlone(Target target)
    {
        await using var harness = await PipelineHarness.CreateAsync(target, "resnap");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        await new TestShop(harness.SourceConnectionString, seed: 21).LoadAsync(items: 10, lines: 3000, events: 300);
        var first = harness.Spec(tables: [new TableSpec("public", "order_lines"), new TableSpec("public", "events")]);
        var specFile = await harness.WriteSpecAsync(first);
        var worker = WorkerProcess.Start(specFile);
        var workers = new List<WorkerProcess> { worker };
        try
        {
            await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
            using var stop = new CancellationTokenSource();
            var workload = Task.Run(() => new TestShop(harness.SourceConnectionString, seed: 22).RunUntilAsync(stop.Token));
            await Task.Delay(1000);

            // A DuckDB file has one writer at a time: tamper with it while the worker is stopped (the source keeps changing).
            if (target == Target.DuckDb)
            {
                await worker.StopAsync();
            }

            await TamperAsync(harness);
            Assert.NotEqual("", await harness.DifferencesAsync("order_lines", TestShop.LineColumns, LineKeys));
            var eventsCopiedAt = await ChunksDoneAtAsync(harness, "public.events");
            var linesCopiedAt = await ChunksDoneAtAsync(harness, "public.order_lines");

            var request = Guid.NewGuid();
            await harness.WriteSpecAsync(first with { Generation = 2, Resnapshots = [new SnapshotRequestSpec(request, "public", "order_lines")] });
            if (target == Target.DuckDb)
            {
                worker = WorkerProcess.Start(specFile);
                workers.Add(worker);
            }

            await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming && r.HandledResnapshots?.Contains(request) == true, TimeSpan.FromSeconds(90));
            await Task.Delay(1000);
            await stop.CancelAsync();
            await workload;
            await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(60), worker);

            var differences = await harness.DifferencesAsync("order_lines", TestShop.LineColumns, LineKeys)
                + await harness.DifferencesAsync("events", TestShop.EventColumns, ["id"]);
            Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
            Assert.Equal(eventsCopiedAt, await ChunksDoneAtAsync(harness, "public.events"));
            Assert.True(await ChunksDoneAtAsync(harness, "public.order_lines") > linesCopiedAt, "order_lines was not copied again");
            Assert.Equal(1L, await HandledCountAsync(harness, request));
        }
        finally
        {
            foreach (var each in workers)
            {
                await each.DisposeAsync();
            }
        }
    }

    private static async Task TamperAsync(PipelineHarness harness)
    {
        const string Sql = "DELETE FROM {0}order_lines WHERE order_id % 3 = 0; UPDATE {0}order_lines SET qty = -1, note = 'tampered' WHERE order_id % 3 = 1";
        if (harness.Target == Target.Postgres)
        {
            await using var pg = new NpgsqlConnection(harness.DestinationConnectionString);
            await pg.OpenAsync();
            await using var tamper = new NpgsqlCommand(string.Format(System.Globalization.CultureInfo.InvariantCulture, Sql, "analytics."), pg);
            await tamper.ExecuteNonQueryAsync();
            return;
        }

        await using var connection = new DuckDBConnection($"Data Source={harness.DuckDbPath}");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = string.Format(System.Globalization.CultureInfo.InvariantCulture, Sql, "main.");
        await command.ExecuteNonQueryAsync();
    }

    private static Task<DateTimeOffset> ChunksDoneAtAsync(PipelineHarness harness, string table) =>
        ScalarAsync<DateTimeOffset>(harness, $"SELECT max(done_at) FROM {{0}}_freshet_snapshot_chunks WHERE pipeline_id = '{harness.PipelineId}' AND source_table = '{table}'");

    private static Task<long> HandledCountAsync(PipelineHarness harness, Guid request) =>
        ScalarAsync<long>(harness, $"SELECT count(*) FROM {{0}}_freshet_resnapshots WHERE pipeline_id = '{harness.PipelineId}' AND request_id = '{request}'");

    private static async Task<T> ScalarAsync<T>(PipelineHarness harness, string sql)
    {
        if (harness.Target == Target.Postgres)
        {
            await using var pg = new NpgsqlConnection(harness.DestinationConnectionString);
            await pg.OpenAsync();
            await using var query = new NpgsqlCommand(string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, "analytics."), pg);
            return Convert<T>(await query.ExecuteScalarAsync());
        }

        await using var connection = await DuckDbFile.OpenReadOnlyAsync(harness.DuckDbPath, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = string.Format(System.Globalization.CultureInfo.InvariantCulture, sql, "main.");
        return Convert<T>(await command.ExecuteScalarAsync());
    }

    private static T Convert<T>(object? value) => value switch
    {
        DateTime time when typeof(T) == typeof(DateTimeOffset) => (T)(object)new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)),
        _ when typeof(T) == typeof(long) => (T)(object)System.Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture),
        _ => (T)value!,
    };
}
