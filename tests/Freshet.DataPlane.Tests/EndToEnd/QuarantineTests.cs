using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>A table whose rows the destination keeps refusing is quarantined with the error; the other tables keep flowing.</summary>
public sealed class QuarantineTests
{
    [Fact]
    public async Task DestinationRejectsOneTablesRows_ThatTableIsQuarantined_OthersContinue()
    {
        await using var harness = await PipelineHarness.CreateAsync(Target.Postgres, "quarantine");
        await harness.ExecuteAsync("CREATE TABLE a (id integer PRIMARY KEY, v integer); CREATE TABLE b (id integer PRIMARY KEY, v integer)");
        await using var worker = WorkerProcess.Start(await harness.WriteSpecAsync(harness.Spec(tables: [new TableSpec("public", "a"), new TableSpec("public", "b")])));
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        // Someone adds a rule to the destination that the source's rows break.
        await harness.ScalarAsync<object>("ALTER TABLE analytics.b ADD CONSTRAINT small_v CHECK (v < 100); SELECT 1", harness.DestinationConnectionString);

        await harness.ExecuteAsync("INSERT INTO a VALUES (1, 1); INSERT INTO b VALUES (1, 500); INSERT INTO a VALUES (2, 2)");
        var report = await worker.WaitForReportAsync(r => r.Tables.TryGetValue("public.b", out var t) && t.QuarantineReason is not null, TimeSpan.FromSeconds(60));
        await harness.ExecuteAsync("INSERT INTO a VALUES (3, 3); INSERT INTO b VALUES (2, 1)");
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(30), worker);

        Assert.Contains("small_v", report.Tables["public.b"].QuarantineReason);
        Assert.Equal("", await harness.DifferencesAsync("a", ["id", "v"], ["id"]));
        Assert.Equal(0L, await harness.ScalarAsync<long>("SELECT count(*) FROM analytics.b", harness.DestinationConnectionString));
    }
}
