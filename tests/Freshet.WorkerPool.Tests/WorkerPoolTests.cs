using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.Testing.Pool;
using Npgsql;
using Xunit.Abstractions;

namespace Freshet.WorkerPool.Tests;

/// <summary>
/// The worker pool end to end, every part a real process: control-plane hosts (the first leads the scheduler), workers
/// that reach them over HTTP and RabbitMQ, pipelines created through the REST API from a PostgreSQL source into DuckDB
/// files (which enforce no key, so a change applied twice would show as a duplicate row), and steady source traffic.
/// </summary>
public sealed class WorkerPoolTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task KilledWorker_AndKilledLeader_LoseAndDuplicateNothing()
    {
        await using var cluster = await PoolCluster.StartAsync(controlPlanes: 2, workers: 3);
        var tables = Enumerable.Range(0, 6).Select(i => $"orders_{i}").ToList();
        var pipelines = new List<PoolPipeline>();
        foreach (var table in tables)
        {
            await cluster.CreateSourceTableAsync(table);
            pipelines.Add(await cluster.CreatePipelineAsync(table));
        }

        // Spread: three workers, six pipelines, two each, all streaming.
        var placed = await cluster.WaitForPlacementsAsync(
            p => pipelines.All(x => p.TryGetValue(x.Id, out var row) && row.State == "Streaming"), Settle, "every pipeline streaming");
        Assert.All(placed.Values.GroupBy(p => p.Worker), g => Assert.Equal(2, g.Count()));

        await using var load = SourceLoad.Start(cluster.SourceConnectionString, tables, TimeSpan.FromMilliseconds(100));
        await Task.Delay(TimeSpan.FromSeconds(3));

        // 1. SIGKILL a worker: its two pipelines stream again elsewhere, under higher epochs, within seconds.
        var victim = cluster.Workers[0];
        var victims = placed.Where(p => p.Value.Worker == victim.Name).ToDictionary(p => p.Key, p => p.Value.Epoch);
        var killedAt = DateTimeOffset.UtcNow;
        await victim.KillAsync();
        await cluster.WaitForPlacementsAsync(
            p => victims.All(v => p[v.Key].Worker != victim.Name && p[v.Key].Epoch > v.Value && p[v.Key].LastDeliveryAt > killedAt),
            Settle,
            "the killed worker's pipelines delivering elsewhere");
        output.WriteLine($"failover after SIGKILL: {(DateTimeOffset.UtcNow - killedAt).TotalSeconds:F1} s (upper bound, polled)");

        // 2. SIGKILL the scheduler's leader: the standby (which the workers talk to) takes over; nothing moves while it
        // does, and it then fails over a worker killed under it.
        var beforeLeaderKill = await cluster.PlacementsAsync();
        await cluster.ControlPlanes[0].KillAsync();
        await WaitForLeaderAsync(cluster, expectedTerm: 2);
        var afterTakeover = await cluster.PlacementsAsync();
        foreach (var pipeline in pipelines)
        {
            Assert.Equal(beforeLeaderKill[pipeline.Id].Epoch, afterTakeover[pipeline.Id].Epoch);
        }

        var last = cluster.Workers[2];
        var lastPipelines = afterTakeover.Where(p => p.Value.Worker == last.Name).ToDictionary(p => p.Key, p => p.Value.Epoch);
        var survivor = cluster.StartWorker();
        var lastKilledAt = DateTimeOffset.UtcNow;
        await last.KillAsync();
        await cluster.WaitForPlacementsAsync(
            p => lastPipelines.All(v => p[v.Key].Worker != last.Name && p[v.Key].Epoch > v.Value && p[v.Key].LastDeliveryAt > lastKilledAt),
            Settle,
            "the new leader failing over the last killed worker");

        // Every change committed at the source is in the destination exactly once.
        await load.StopAsync();
        output.WriteLine($"source transactions: {load.Transactions}");
        foreach (var pipeline in pipelines)
        {
            var comparison = await SourceLoad.WaitForEqualAsync(cluster.SourceConnectionString, pipeline.Table, () => cluster.DuckDbFileOf(pipeline.Table), Settle);
            output.WriteLine(comparison.ToString());
            Assert.True(comparison.Equal, $"{comparison}\n{cluster.Logs()}");
        }

        Assert.False(survivor.HasExited, cluster.Logs());
    }

    [Fact]
    public async Task FrozenWorker_LosesItsPipelinesWhenItsLeaseExpires_AndWritesNothingOnWaking()
    {
        // PostgreSQL destinations: a frozen process keeps its OS file lock on a DuckDB file, which no epoch can take away
        // (see the README); a database destination is fenced by its checkpoint row alone.
        await using var cluster = await PoolCluster.StartAsync(controlPlanes: 1, workers: 2);
        var tables = Enumerable.Range(0, 4).Select(i => $"events_{i}").ToList();
        var pipelines = new List<PoolPipeline>();
        foreach (var table in tables)
        {
            await cluster.CreateSourceTableAsync(table);
            pipelines.Add(await cluster.CreatePipelineAsync(table, postgresDestination: true));
        }

        var placed = await cluster.WaitForPlacementsAsync(
            p => pipelines.All(x => p.TryGetValue(x.Id, out var row) && row.State == "Streaming"), Settle, "every pipeline streaming");
        await using var load = SourceLoad.Start(cluster.SourceConnectionString, tables, TimeSpan.FromMilliseconds(100));
        await Task.Delay(TimeSpan.FromSeconds(2));

        var frozen = cluster.Workers[0];
        var frozenPipelines = placed.Where(p => p.Value.Worker == frozen.Name).ToDictionary(p => p.Key, p => p.Value.Epoch);
        Assert.NotEmpty(frozenPipelines);
        await frozen.FreezeAsync();
        var frozenAt = DateTimeOffset.UtcNow;
        var moved = await cluster.WaitForPlacementsAsync(
            p => frozenPipelines.All(v => p[v.Key].Worker != frozen.Name && p[v.Key].Epoch > v.Value && p[v.Key].LastDeliveryAt > frozenAt),
            Settle,
            "the frozen worker's pipelines delivering elsewhere");
        output.WriteLine($"failover of a frozen worker: {(DateTimeOffset.UtcNow - frozenAt).TotalSeconds:F1} s (upper bound, polled)");

        // Woken up, the worker finds its lease gone (on its own clock) and stops; had it tried to commit, the destination's
        // checkpoint under the higher epoch would have refused it.
        await frozen.ThawAsync();
        await Task.Delay(TimeSpan.FromSeconds(5));
        await load.StopAsync();
        foreach (var pipeline in pipelines)
        {
            var comparison = await SourceLoad.WaitForEqualInPostgresAsync(cluster.SourceConnectionString, cluster.DestinationConnectionString, pipeline.Table, Settle);
            Assert.True(comparison.Equal, $"{comparison}\n{cluster.Logs()}");
        }

        // The destinations belong to the newest placements (the woken worker may since have been given some back by
        // rebalancing, under yet higher epochs), never to the frozen one's.
        var now = await cluster.PlacementsAsync();
        foreach (var (id, frozenEpoch) in frozenPipelines)
        {
            var epoch = await PostgresCheckpointEpochAsync(cluster.DestinationConnectionString, id);
            Assert.True(epoch >= moved[id].Epoch && epoch > frozenEpoch, $"pipeline {id}: checkpoint epoch {epoch}, frozen under {frozenEpoch}, moved under {moved[id].Epoch}");
            Assert.Equal(now[id].Epoch, epoch);
        }

        Assert.False(frozen.HasExited, "the woken worker stays up and registers again");
    }

    [Fact]
    public async Task PauseResumeSpecChangeAndDelete_ThroughTheApi_ReachTheWorkerWithinSeconds_AndKeepThePosition()
    {
        await using var cluster = await PoolCluster.StartAsync(controlPlanes: 1, workers: 1);
        await cluster.CreateSourceTableAsync("accounts");
        await cluster.CreateSourceTableAsync("ledger");
        var pipeline = await cluster.CreatePipelineAsync("accounts");
        await cluster.WaitForPlacementsAsync(p => p.TryGetValue(pipeline.Id, out var row) && row.State == "Streaming", Settle, "the pipeline streaming");
        await using var load = SourceLoad.Start(cluster.SourceConnectionString, ["accounts", "ledger"], TimeSpan.FromMilliseconds(100));
        var slot = $"freshet_{pipeline.Id:N}";

        // Pause: the worker stops reading (the slot goes idle) but keeps the slot, so nothing is lost.
        var asked = DateTimeOffset.UtcNow;
        Assert.True((await cluster.Api.PostAsync($"/v1/pipelines/{pipeline.Id}/pause", null)).IsSuccessStatusCode);
        await WaitForSlotAsync(cluster, slot, active: false);
        var took = DateTimeOffset.UtcNow - asked;
        output.WriteLine($"pause reached the worker after {took.TotalSeconds:F2} s");
        Assert.True(took <= TimeSpan.FromSeconds(2), $"pause reached the worker after {took.TotalSeconds:F2} s (the bound is 2 s)");
        Assert.Equal("paused", (await RuntimeAsync(cluster, pipeline.Id)).GetProperty("state").GetString());
        Assert.Equal("paused", (await StatusAsync(cluster, pipeline.Id)).GetProperty("health").GetString());
        await Task.Delay(TimeSpan.FromSeconds(2));

        asked = DateTimeOffset.UtcNow;
        Assert.True((await cluster.Api.PostAsync($"/v1/pipelines/{pipeline.Id}/resume", null)).IsSuccessStatusCode);
        await WaitForSlotAsync(cluster, slot, active: true);
        took = DateTimeOffset.UtcNow - asked;
        output.WriteLine($"resume reached the worker after {took.TotalSeconds:F2} s");
        Assert.True(took <= TimeSpan.FromSeconds(2), $"resume reached the worker after {took.TotalSeconds:F2} s (the bound is 2 s)");

        // A spec change (a second table) restarts the pipeline with the new spec, under the same epoch, from its position.
        var epoch = (await cluster.PlacementsAsync())[pipeline.Id].Epoch;
        var patched = await cluster.Api.PatchAsync(
            $"/v1/pipelines/{pipeline.Id}",
            JsonContent.Create(new { tables = new[] { new { schema = "public", name = "accounts" }, new { schema = "public", name = "ledger" } } }));
        Assert.True(patched.IsSuccessStatusCode, await patched.Content.ReadAsStringAsync());
        await Task.Delay(TimeSpan.FromSeconds(3));
        await load.StopAsync();
        foreach (var table in new[] { "accounts", "ledger" })
        {
            var comparison = await SourceLoad.WaitForEqualAsync(cluster.SourceConnectionString, table, () => cluster.DuckDbFileOf("accounts"), Settle);
            Assert.True(comparison.Equal, $"{comparison}\n{cluster.Logs()}");
        }

        Assert.Equal(epoch, (await cluster.PlacementsAsync())[pipeline.Id].Epoch);
        // The state comes from the worker's heartbeat report, which trails the restart by up to a heartbeat.
        var state = "";
        for (var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15); DateTime.UtcNow < deadline && state != "running"; await Task.Delay(200))
        {
            state = (await RuntimeAsync(cluster, pipeline.Id)).GetProperty("state").GetString();
        }

        Assert.Equal("running", state);
        await AssertStatusAsync(cluster, pipeline.Id);

        // Delete: the worker stops the pipeline at once, then drops the slot (and the publication it created) once the
        // walsender has let go of it; the control plane then forgets the pipeline.
        asked = DateTimeOffset.UtcNow;
        Assert.True((await cluster.Api.DeleteAsync($"/v1/pipelines/{pipeline.Id}")).IsSuccessStatusCode);
        await WaitForSlotAsync(cluster, slot, active: false, orGone: true);
        took = DateTimeOffset.UtcNow - asked;
        output.WriteLine($"delete reached the worker after {took.TotalSeconds:F2} s");
        Assert.True(took <= TimeSpan.FromSeconds(2), $"delete reached the worker after {took.TotalSeconds:F2} s (the bound is 2 s)");
        await WaitForSlotAsync(cluster, slot, active: null);
        output.WriteLine($"delete dropped the slot after {(DateTimeOffset.UtcNow - asked).TotalSeconds:F2} s");
        await cluster.WaitForPlacementsAsync(p => !p.ContainsKey(pipeline.Id), Settle, "the deleted pipeline forgotten");
    }

    [Fact]
    public async Task Resnapshot_ThroughTheApi_CopiesTheTableAgainUnderTheSameEpoch_AndCompletesTheRequest()
    {
        await using var cluster = await PoolCluster.StartAsync(controlPlanes: 1, workers: 1);
        await cluster.CreateSourceTableAsync("accounts");
        var pipeline = await cluster.CreatePipelineAsync("accounts", postgresDestination: true);
        await cluster.WaitForPlacementsAsync(p => p.TryGetValue(pipeline.Id, out var row) && row.State == "Streaming", Settle, "the pipeline streaming");
        await using var load = SourceLoad.Start(cluster.SourceConnectionString, ["accounts"], TimeSpan.FromMilliseconds(100));
        await Task.Delay(TimeSpan.FromSeconds(3));
        var epoch = (await cluster.PlacementsAsync())[pipeline.Id].Epoch;

        // Someone edits the destination by hand: the stream alone never puts these rows right.
        await using (var destination = new NpgsqlConnection(cluster.DestinationConnectionString))
        {
            await destination.OpenAsync();
            await using var tamper = new NpgsqlCommand("DELETE FROM freshet.accounts WHERE id % 2 = 0; UPDATE freshet.accounts SET v = 'tampered'", destination);
            await tamper.ExecuteNonQueryAsync();
        }

        Assert.False((await SourceLoad.CompareWithPostgresAsync(cluster.SourceConnectionString, cluster.DestinationConnectionString, "accounts")).Equal);

        var asked = DateTimeOffset.UtcNow;
        var response = await cluster.Api.PostAsync(
            $"/v1/pipelines/{pipeline.Id}/resnapshot", JsonContent.Create(new { tables = new[] { new { schema = "public", name = "accounts" } } }));
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var request = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement[0].GetProperty("id").GetGuid();
        var deadline = DateTime.UtcNow + Settle;
        while (true)
        {
            var listed = JsonDocument.Parse(await cluster.Api.GetStringAsync($"/v1/pipelines/{pipeline.Id}/resnapshots")).RootElement.GetProperty("items");
            if (listed.EnumerateArray().Any(r => r.GetProperty("id").GetGuid() == request && r.GetProperty("completed_at").ValueKind != JsonValueKind.Null))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the re-snapshot request was not completed within {Settle}\n{cluster.Logs()}");
            await Task.Delay(200);
        }

        output.WriteLine($"re-snapshot completed {(DateTimeOffset.UtcNow - asked).TotalSeconds:F2} s after the request");
        await Task.Delay(TimeSpan.FromSeconds(2));
        await load.StopAsync();
        var comparison = await SourceLoad.WaitForEqualInPostgresAsync(cluster.SourceConnectionString, cluster.DestinationConnectionString, "accounts", Settle);
        Assert.True(comparison.Equal, $"{comparison}\n{cluster.Logs()}");
        Assert.Equal(epoch, (await cluster.PlacementsAsync())[pipeline.Id].Epoch);
        Assert.Equal(2, JsonDocument.Parse(await cluster.Api.GetStringAsync($"/v1/pipelines/{pipeline.Id}")).RootElement.GetProperty("generation").GetInt64());
    }

    [Fact]
    public async Task DrainedWorker_HandsBackEachPipeline_WithNoDeliveryPauseOverTwoSeconds_AndExits()
    {
        await using var cluster = await PoolCluster.StartAsync(controlPlanes: 1, workers: 1);
        var tables = Enumerable.Range(0, 3).Select(i => $"items_{i}").ToList();
        var pipelines = new List<PoolPipeline>();
        foreach (var table in tables)
        {
            await cluster.CreateSourceTableAsync(table);
            pipelines.Add(await cluster.CreatePipelineAsync(table));
        }

        var draining = cluster.Workers[0];
        await cluster.WaitForPlacementsAsync(p => pipelines.All(x => p.TryGetValue(x.Id, out var row) && row.State == "Streaming" && row.Worker == draining.Name), Settle, "every pipeline streaming on the first worker");
        var standby = cluster.StartWorker();
        await using var load = SourceLoad.Start(cluster.SourceConnectionString, tables, TimeSpan.FromMilliseconds(50));
        await Task.Delay(TimeSpan.FromSeconds(3));

        var drainStarted = DateTimeOffset.UtcNow;
        Assert.True(await draining.TerminateAsync(TimeSpan.FromSeconds(60)), $"the drained worker did not exit\n{cluster.Logs()}");
        var drainEnded = DateTimeOffset.UtcNow;
        Assert.Equal(0, draining.ExitCode);
        await cluster.WaitForPlacementsAsync(p => pipelines.All(x => p[x.Id].Worker == standby.Name && p[x.Id].LastDeliveryAt > drainEnded), Settle, "every pipeline delivering on the standby");
        await Task.Delay(TimeSpan.FromSeconds(2));
        var windowEnd = DateTimeOffset.UtcNow;
        await load.StopAsync();

        foreach (var pipeline in pipelines)
        {
            var comparison = await SourceLoad.WaitForEqualAsync(cluster.SourceConnectionString, pipeline.Table, () => cluster.DuckDbFileOf(pipeline.Table), Settle);
            Assert.True(comparison.Equal, $"{comparison}\n{cluster.Logs()}");
            // From before the drain until the standby has delivered for a while: the load never stops, so any pause in
            // delivery on the way (stop, hand-back, placement, start elsewhere) shows as a gap between commits.
            var pause = await LongestDeliveryGapAsync(cluster.DuckDbFileOf(pipeline.Table)!, pipeline.Table, drainStarted.AddSeconds(-1), windowEnd);
            output.WriteLine($"{pipeline.Table}: longest pause in delivery around the drain {pause.TotalSeconds:F2} s (drain took {(drainEnded - drainStarted).TotalSeconds:F1} s)");
            Assert.True(pause <= TimeSpan.FromSeconds(2), $"{pipeline.Table} paused {pause.TotalSeconds:F2} s\n{cluster.Logs()}");
        }
    }

    private static async Task<long> PostgresCheckpointEpochAsync(string connectionString, Guid pipelineId)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT max(epoch) FROM freshet._freshet_checkpoints WHERE pipeline_id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = pipelineId });
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The longest time between two consecutive destination commits (rows' <c>_freshet_synced_at</c>) inside a window.</summary>
    private static async Task<TimeSpan> LongestDeliveryGapAsync(string file, string table, DateTimeOffset from, DateTimeOffset to)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(file, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT coalesce(max(gap), 0) FROM (
                SELECT epoch(t) - epoch(lag(t) OVER (ORDER BY t)) AS gap
                FROM (SELECT DISTINCT _freshet_synced_at AS t FROM "{table}"
                      WHERE _freshet_synced_at BETWEEN '{from.UtcDateTime:O}'::TIMESTAMPTZ AND '{to.UtcDateTime:O}'::TIMESTAMPTZ))
            """;
        return TimeSpan.FromSeconds(Convert.ToDouble(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture));
    }

    private static async Task<JsonElement> StatusAsync(PoolCluster cluster, Guid pipeline)
    {
        var response = await cluster.Api.GetAsync($"/v1/pipelines/{pipeline}/status");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    /// <summary>
    /// The status API over the heartbeats' reports: a streaming pipeline that delivered rows is healthy with figures from
    /// its worker, its events tell its life (started, restarted after the resume, streaming), its series has points, and
    /// bad input is a 400.
    /// </summary>
    private static async Task AssertStatusAsync(PoolCluster cluster, Guid pipeline)
    {
        var status = await StatusAsync(cluster, pipeline);
        Assert.Equal("healthy", status.GetProperty("health").GetString());
        Assert.Equal(0, status.GetProperty("reasons").GetArrayLength());
        Assert.NotEqual(JsonValueKind.Null, status.GetProperty("worker_id").ValueKind);
        Assert.True(status.GetProperty("committed_position").GetInt64() > 0, status.ToString());
        Assert.True(status.GetProperty("tables").TryGetProperty("public.accounts", out _), status.ToString());

        var events = JsonDocument.Parse(await cluster.Api.GetStringAsync($"/v1/pipelines/{pipeline}/events?page_size=100")).RootElement.GetProperty("items");
        var messages = events.EnumerateArray().Select(e => e.GetProperty("kind").GetString() + ": " + e.GetProperty("message").GetString()).ToList();
        Assert.Contains(messages, m => m.StartsWith("started: Started on worker", StringComparison.Ordinal));
        // The pause let go of the placement and the resume placed it again, under a higher epoch.
        Assert.Contains(messages, m => m.StartsWith("restarted: Restarted on worker", StringComparison.Ordinal));
        // An empty table's snapshot ends before the first heartbeat, so a run's first reported state may be streaming.
        Assert.Contains(messages, m => m.StartsWith("state_changed: ", StringComparison.Ordinal) && m.EndsWith("streaming", StringComparison.Ordinal));

        var metrics = JsonDocument.Parse(await cluster.Api.GetStringAsync($"/v1/pipelines/{pipeline}/metrics?step=10")).RootElement;
        Assert.Equal(10, metrics.GetProperty("step_seconds").GetInt32());
        Assert.True(metrics.GetProperty("points").GetArrayLength() > 0, metrics.ToString());

        var bad = await cluster.Api.GetAsync($"/v1/pipelines/{pipeline}/metrics?step=7");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("\"step\"", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await cluster.Api.GetAsync($"/v1/pipelines/{Guid.NewGuid()}/status")).StatusCode);

        var overview = JsonDocument.Parse(await cluster.Api.GetStringAsync("/v1/status")).RootElement;
        Assert.Equal(1, overview.GetProperty("counts").GetProperty("healthy").GetInt32());
    }

    private static async Task<JsonElement> RuntimeAsync(PoolCluster cluster, Guid pipeline)
    {
        var body = await cluster.Api.GetStringAsync($"/v1/pipelines/{pipeline}");
        return JsonDocument.Parse(body).RootElement.GetProperty("runtime");
    }

    /// <summary>Waits (up to 10 s) until the slot is active, idle, or (null) gone.</summary>
    private static async Task WaitForSlotAsync(PoolCluster cluster, string slot, bool? active, bool orGone = false)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        object? state = null;
        while (DateTime.UtcNow < deadline)
        {
            await using var connection = new NpgsqlConnection(cluster.SourceConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT active FROM pg_replication_slots WHERE slot_name = $1", connection);
            command.Parameters.Add(new NpgsqlParameter { Value = slot });
            state = await command.ExecuteScalarAsync();
            if ((state is null && (active is null || orGone)) || (active is { } expected && state is bool actual && actual == expected))
            {
                return;
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"Slot {slot} did not become {(active is null ? "dropped" : active.Value ? "active" : "idle")} within 10 s (it is {state ?? "gone"}).\n{cluster.Logs()}");
    }

    private static async Task WaitForLeaderAsync(PoolCluster cluster, long expectedTerm)
    {
        var deadline = DateTime.UtcNow + Settle;
        while (DateTime.UtcNow < deadline)
        {
            await using var connection = new NpgsqlConnection(cluster.ControlConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("SELECT term FROM scheduler_leader WHERE expires_at > now()", connection);
            if (await command.ExecuteScalarAsync() is long term && term >= expectedTerm)
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"No scheduler took over (term {expectedTerm}).\n{cluster.Logs()}");
    }
}
