using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Runtime;
using Freshet.DataPlane.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>What the PostgreSQL source checks, keeps and cleans up at the source.</summary>
public sealed class SourceTests
{
    [Fact]
    public async Task IdleSource_OtherDatabaseWritesHeavily_SlotKeepsUpThanksToHeartbeats()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.DuckDb, "idle");
        await harness.ExecuteAsync("CREATE TABLE quiet (id integer PRIMARY KEY); INSERT INTO quiet VALUES (1)");
        await using var worker = WorkerProcess.Start(await harness.WriteSpecAsync(harness.Spec(tables: [new TableSpec("public", "quiet")])));
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        // A slot nobody consumes, created now, shows what the pipeline's slot would retain without heartbeats.
        var control = $"control_{Guid.NewGuid():N}";
        await harness.ExecuteAsync($"SELECT pg_create_logical_replication_slot('{control}', 'pgoutput')");
        try
        {
            await using var other = new Npgsql.NpgsqlConnection((await Freshet.Testing.PostgresServer.SharedAsync()).ConnectionString("postgres"));
            await other.OpenAsync();
            await using (var command = new Npgsql.NpgsqlCommand("CREATE TABLE junk_" + Guid.NewGuid().ToString("N") + " AS SELECT g, md5(g::text) || repeat('x', 400) AS v FROM generate_series(1, 150000) g", other))
            {
                await command.ExecuteNonQueryAsync();
            }

            await harness.ExecuteAsync("CHECKPOINT");
            // The walsender still reads (and skips) the other database's WAL before it reaches the next heartbeat.
            long retained = long.MaxValue;
            for (var wait = 0; wait < 60 && retained >= 2_000_000; wait++)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500));
                retained = await harness.ScalarAsync<long>(
                    $"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '{harness.SlotName}'");
            }

            var retainedWithoutHeartbeat = await harness.ScalarAsync<long>(
                $"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '{control}'");
            Assert.True(retainedWithoutHeartbeat > 20_000_000, $"the other database wrote only {retainedWithoutHeartbeat} bytes of WAL");
            Assert.True(retained < 2_000_000, $"the idle pipeline's slot is {retained} bytes behind (an unconsumed slot: {retainedWithoutHeartbeat})");
        }
        finally
        {
            await harness.ExecuteAsync($"SELECT pg_drop_replication_slot('{control}')");
        }
    }

    [Fact]
    public async Task TablesThatCannotBeReplicated_AreQuarantinedWithTheFix_OthersFlow()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.DuckDb, "prereq");
        await harness.ExecuteAsync("""
            CREATE TABLE good (id integer PRIMARY KEY, v text);
            CREATE TABLE nokey (a integer, b text);
            CREATE TABLE places (id integer PRIMARY KEY, name text, location point);
            CREATE TABLE excluded (id integer PRIMARY KEY, name text, location point);
            INSERT INTO good VALUES (1, 'a'); INSERT INTO nokey VALUES (1, 'x');
            INSERT INTO places VALUES (1, 'here', '(1,2)'); INSERT INTO excluded VALUES (1, 'there', '(3,4)');
            """);
        var spec = harness.Spec(tables:
        [
            new TableSpec("public", "good"), new TableSpec("public", "nokey"), new TableSpec("public", "places"),
            new TableSpec("public", "excluded", ExcludedColumns: ["location"]), new TableSpec("public", "missing"),
        ]);
        await using var worker = WorkerProcess.Start(await harness.WriteSpecAsync(spec));
        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        await harness.ExecuteAsync("INSERT INTO good VALUES (2, 'b'); INSERT INTO excluded VALUES (2, 'elsewhere', '(5,6)')");
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(30), worker);

        Assert.Contains("no primary key", report.Tables["public.nokey"].QuarantineReason);
        Assert.Contains("REPLICA IDENTITY USING INDEX", report.Tables["public.nokey"].QuarantineReason);
        Assert.Contains("point", report.Tables["public.places"].QuarantineReason);
        Assert.Contains("does not exist", report.Tables["public.missing"].QuarantineReason);
        Assert.Equal("", await harness.DifferencesAsync("good", ["id", "v"], ["id"]));
        Assert.Equal("", await harness.DifferencesAsync("excluded", ["id", "name"], ["id"]));
    }

    [Fact]
    public async Task LoginWithoutReplication_FailsWithTheFixAndRetries()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.DuckDb, "norepl");
        var role = $"norepl_{Guid.NewGuid():N}"[..20];
        await harness.ExecuteAsync($"CREATE ROLE {role} LOGIN; CREATE TABLE t (id integer PRIMARY KEY); GRANT SELECT ON t TO {role}");
        await using var worker = WorkerProcess.Start(await harness.WriteSpecAsync(harness.Spec(tables: [new TableSpec("public", "t")], username: role)));

        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Failed, TimeSpan.FromSeconds(60));
        Assert.Contains($"ALTER ROLE {role} WITH REPLICATION", report.Reason);
        Assert.NotNull(report.NextAttemptAt);
    }

    [Fact]
    public async Task DeletedPipeline_DropsItsSlotAndPublication_PausedOneKeepsThem()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.DuckDb, "delete");
        await harness.ExecuteAsync("CREATE TABLE t (id integer PRIMARY KEY); INSERT INTO t VALUES (1)");
        var spec = harness.Spec(tables: [new TableSpec("public", "t")]);
        await using var runtime = new WorkerRuntime(new DataPlaneOptions(), TimeProvider.System, NullLoggerFactory.Instance);

        await runtime.ReconcileAsync([new PipelineAssignment(spec, DesiredState.Running)], CancellationToken.None);
        await WaitAsync(() => runtime.Reports().Any(r => r.State == PipelineRunState.Streaming));
        await runtime.ReconcileAsync([new PipelineAssignment(spec, DesiredState.Paused)], CancellationToken.None);
        Assert.Equal(1L, await harness.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{harness.SlotName}'"));
        var paused = Assert.Single(runtime.Reports());
        Assert.Equal(PipelineRunState.Paused, paused.State);
        Assert.True(paused.RetainedWalBytes > 0, "a paused pipeline reports the WAL its slot holds back");
        // The test cluster leaves max_slot_wal_keep_size unlimited: no limit to report (the disk is the limit).
        Assert.Equal(-1L, await harness.ScalarAsync<long>("SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'"));
        Assert.Null(paused.RetainedWalLimitBytes);

        await runtime.ReconcileAsync([], CancellationToken.None);
        Assert.Equal(0L, await harness.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{harness.SlotName}'"));
        Assert.Equal(0L, await harness.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{harness.SlotName}'"));
    }

    [Fact]
    public async Task SourceWithAWalDiskBudget_UnlimitedMaxSlotWalKeepSize_ReportsTheBudgetAsTheSlotsWalLimit()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.DuckDb, "budget");
        await harness.ExecuteAsync("CREATE TABLE t (id integer PRIMARY KEY); INSERT INTO t VALUES (1)");
        var spec = harness.Spec(tables: [new TableSpec("public", "t")]);
        spec = spec with
        {
            Source = spec.Source with { Settings = new Dictionary<string, string>(spec.Source.Settings) { ["wal_disk_budget_mb"] = "2048" } },
        };
        const long budgetBytes = 2048L * 1024 * 1024;
        // Short heartbeats: the slot is measured with each one.
        var options = new DataPlaneOptions { SourceHeartbeatInterval = TimeSpan.FromMilliseconds(200) };
        await using var runtime = new WorkerRuntime(options, TimeProvider.System, NullLoggerFactory.Instance);

        await runtime.ReconcileAsync([new PipelineAssignment(spec, DesiredState.Running)], CancellationToken.None);
        await WaitAsync(() => runtime.Reports().Any(r => r.State == PipelineRunState.Streaming && r.RetainedWalBytes is not null));
        Assert.Equal(-1L, await harness.ScalarAsync<long>("SELECT setting::bigint FROM pg_settings WHERE name = 'max_slot_wal_keep_size'"));
        var streaming = Assert.Single(runtime.Reports());
        Assert.Equal(budgetBytes, streaming.RetainedWalLimitBytes);
        Assert.Equal(RetainedWalLimitKind.WalDiskBudget, streaming.RetainedWalLimitKind);

        // A paused pipeline's slot keeps holding WAL, so its report keeps the limit too.
        await runtime.ReconcileAsync([new PipelineAssignment(spec, DesiredState.Paused)], CancellationToken.None);
        var paused = Assert.Single(runtime.Reports());
        Assert.Equal(PipelineRunState.Paused, paused.State);
        Assert.Equal(budgetBytes, paused.RetainedWalLimitBytes);
        Assert.Equal(RetainedWalLimitKind.WalDiskBudget, paused.RetainedWalLimitKind);

        await runtime.ReconcileAsync([], CancellationToken.None);
        Assert.Equal(0L, await harness.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{harness.SlotName}'"));
    }

    private static async Task WaitAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out");
            await Task.Delay(100);
        }
    }
}
