using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Npgsql;

namespace Freshet.ControlPlane.Api.Tests.Workers;

/// <summary>Platform staff's view of the pool (list, drain, move) and the runtime state tenants see on their pipelines.</summary>
public sealed class WorkersPlatformTests(WorkerPoolFactory factory) : IClassFixture<WorkerPoolFactory>
{
    [Fact]
    public async Task Support_ListsAndReadsWorkers_ButCannotDrainOrMove()
    {
        var worker = factory.Pool.AddWorker($"support-view-{Guid.NewGuid():N}");
        var support = factory.Seed.SupportUser;
        using var http = await UserSignIn.UserClientAsync(factory, support.Email, support.Password);
        var list = await HttpAssert.OkAsync(await http.GetAsync("/v1/workers?page_size=100"));
        var listed = Assert.Single(list.GetProperty("items").EnumerateArray(), w => w.GetProperty("id").GetGuid() == worker.Id);
        Assert.Equal(worker.Name, listed.GetProperty("name").GetString());
        Assert.Equal(10, listed.GetProperty("capacity").GetInt32());
        Assert.True(listed.GetProperty("live").GetBoolean());
        Assert.Equal("zone-a", listed.GetProperty("labels").GetProperty("zone").GetString());
        foreach (var field in new[] { "registered_at", "last_heartbeat_at", "lease_expires_at", "draining", "pipelines", "version", "zone" })
        {
            Assert.True(listed.TryGetProperty(field, out _), $"{field} is missing");
        }

        var read = await HttpAssert.OkAsync(await http.GetAsync($"/v1/workers/{worker.Id}"));
        Assert.Equal(worker.Name, read.GetProperty("name").GetString());
        await HttpAssert.ProblemAsync(await http.GetAsync($"/v1/workers/{Guid.NewGuid()}"), HttpStatusCode.NotFound);

        await HttpAssert.ProblemAsync(await http.PostAsync($"/v1/workers/{worker.Id}/drain", null), HttpStatusCode.Forbidden);
        await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = Guid.NewGuid() }), HttpStatusCode.Forbidden);
        Assert.False(factory.Pool.Workers[worker.Id].Draining);
    }

    [Fact]
    public async Task PlatformAdmin_DrainsAWorker_AndItIsAudited()
    {
        var worker = factory.Pool.AddWorker($"to-drain-{Guid.NewGuid():N}");
        using var http = await PlatformAdminAsync();
        var response = await http.PostAsync($"/v1/workers/{worker.Id}/drain", null);
        var drained = await HttpAssert.OkAsync(response, HttpStatusCode.Accepted);
        Assert.True(drained.GetProperty("draining").GetBoolean());
        Assert.Equal($"/v1/workers/{worker.Id}", response.Headers.Location?.ToString());
        Assert.True(factory.Pool.Workers[worker.Id].Draining);
        await HttpAssert.ProblemAsync(await http.PostAsync($"/v1/workers/{Guid.NewGuid()}/drain", null), HttpStatusCode.NotFound);
        Assert.Equal(1, await CountAuditAsync("worker.drain_requested", worker.Id.ToString()));
    }

    [Fact]
    public async Task PlatformAdmin_Moves_202_409_404_AsTheSchedulerAnswers()
    {
        var from = factory.Pool.AddWorker($"from-{Guid.NewGuid():N}");
        var to = factory.Pool.AddWorker($"to-{Guid.NewGuid():N}");
        var draining = factory.Pool.AddWorker($"draining-{Guid.NewGuid():N}", draining: true);
        var placed = await factory.CreateDemoPipelineAsync("pw");
        var unplaced = await factory.CreateDemoPipelineAsync("pw");
        factory.Pool.Place(placed, from, epoch: 2);
        using var http = await PlatformAdminAsync();

        var moved = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = placed, to_worker_id = to.Id }), HttpStatusCode.Accepted);
        Assert.Equal("requested", moved.GetProperty("status").GetString());
        Assert.Contains((placed, (Guid?)to.Id), factory.Pool.Moves);
        await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = placed, to_worker_id = (Guid?)null }), HttpStatusCode.Accepted);

        await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = unplaced, to_worker_id = to.Id }), HttpStatusCode.Conflict);
        await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = placed, to_worker_id = draining.Id }), HttpStatusCode.Conflict);
        await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = placed, to_worker_id = Guid.NewGuid() }), HttpStatusCode.NotFound);
        await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = Guid.NewGuid() }), HttpStatusCode.NotFound);
        var invalid = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/workers/move", new { to_worker_id = to.Id }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(invalid, "pipeline_id"));

        // The tenant sees in its own audit log that platform staff moved its pipeline.
        using var demo = await factory.DemoAdminClientAsync();
        var audit = await HttpAssert.OkAsync(await demo.GetAsync("/v1/audit-events?action=pipeline.move_requested&page_size=100"));
        Assert.Equal(2, audit.GetProperty("items").EnumerateArray().Count(e => e.GetProperty("resource_id").GetString() == placed.ToString()));
    }

    [Fact]
    public async Task TenantCallers_Get404_OnWorkers()
    {
        using var demo = await factory.DemoAdminClientAsync();
        await HttpAssert.ProblemAsync(await demo.GetAsync("/v1/workers"), HttpStatusCode.NotFound);
        await HttpAssert.ProblemAsync(await demo.PostAsJsonAsync("/v1/workers/move", new { pipeline_id = Guid.NewGuid() }), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task PipelineRuntime_FollowsPlacementAndTheReportOfItsEpoch()
    {
        var worker = factory.Pool.AddWorker($"runtime-{Guid.NewGuid():N}");
        var pending = await factory.CreateDemoPipelineAsync("pw");
        var running = await factory.CreateDemoPipelineAsync("pw");
        var stale = await factory.CreateDemoPipelineAsync("pw");
        var failed = await factory.CreateDemoPipelineAsync("pw");
        var paused = await factory.CreateDemoPipelineAsync("pw", desiredState: "paused");
        var retryAt = DateTimeOffset.UtcNow.AddMinutes(1);
        factory.Pool.Place(running, worker, epoch: 3, PipelineRunState.Streaming);
        factory.Pool.Place(stale, worker, epoch: 5, PipelineRunState.Streaming, reportedEpoch: 4);
        factory.Pool.Place(failed, worker, epoch: 2, PipelineRunState.Failed, reason: "connection refused", nextAttemptAt: retryAt);

        using var demo = await factory.DemoAdminClientAsync();
        var pendingRuntime = await RuntimeAsync(demo, pending);
        Assert.Equal("pending", pendingRuntime.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, pendingRuntime.GetProperty("worker_id").ValueKind);

        var runningRuntime = await RuntimeAsync(demo, running);
        Assert.Equal("running", runningRuntime.GetProperty("state").GetString());
        Assert.Equal(worker.Id, runningRuntime.GetProperty("worker_id").GetGuid());
        Assert.Equal(worker.Name, runningRuntime.GetProperty("worker_name").GetString());
        Assert.Equal(3, runningRuntime.GetProperty("epoch").GetInt64());
        Assert.NotEqual(JsonValueKind.Null, runningRuntime.GetProperty("reported_at").ValueKind);

        var staleRuntime = await RuntimeAsync(demo, stale);
        Assert.Equal("starting", staleRuntime.GetProperty("state").GetString());
        Assert.Equal(5, staleRuntime.GetProperty("epoch").GetInt64());
        Assert.Equal(JsonValueKind.Null, staleRuntime.GetProperty("reported_at").ValueKind);

        var failedRuntime = await RuntimeAsync(demo, failed);
        Assert.Equal("failed", failedRuntime.GetProperty("state").GetString());
        Assert.Equal("connection refused", failedRuntime.GetProperty("reason").GetString());
        Assert.Equal(retryAt.ToUnixTimeMilliseconds(), failedRuntime.GetProperty("next_attempt_at").GetDateTimeOffset().ToUnixTimeMilliseconds());

        Assert.Equal("paused", (await RuntimeAsync(demo, paused)).GetProperty("state").GetString());

        // The list shows the same, with one call to the pool per page.
        var callsBefore = factory.Pool.PlacementCalls;
        var list = await HttpAssert.OkAsync(await demo.GetAsync("/v1/pipelines?page_size=100"));
        Assert.Equal(callsBefore + 1, factory.Pool.PlacementCalls);
        var states = list.GetProperty("items").EnumerateArray().ToDictionary(p => p.GetProperty("id").GetGuid(), p => p.GetProperty("runtime").GetProperty("state").GetString());
        Assert.Equal("pending", states[pending]);
        Assert.Equal("running", states[running]);
        Assert.Equal("starting", states[stale]);
        Assert.Equal("failed", states[failed]);
        Assert.Equal("paused", states[paused]);

        // Runtime changes without a new version: a conditional read with the current ETag still gets the document.
        var first = await demo.GetAsync($"/v1/pipelines/{running}");
        var conditional = new HttpRequestMessage(HttpMethod.Get, $"/v1/pipelines/{running}");
        conditional.Headers.TryAddWithoutValidation("If-None-Match", first.Headers.ETag!.Tag);
        await HttpAssert.OkAsync(await demo.SendAsync(conditional));
    }

    private static async Task<JsonElement> RuntimeAsync(HttpClient http, Guid pipelineId) =>
        (await HttpAssert.OkAsync(await http.GetAsync($"/v1/pipelines/{pipelineId}"))).GetProperty("runtime");

    private Task<HttpClient> PlatformAdminAsync() => factory.ClientForAsync(factory.Seed.PlatformClient.ClientId, factory.Seed.PlatformClient.ClientSecret);

    private async Task<long> CountAuditAsync(string action, string resourceId)
    {
        await using var connection = new NpgsqlConnection(factory.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM audit_events WHERE action = @action AND resource_id = @id AND tenant_id IS NULL", connection);
        command.Parameters.AddWithValue("action", action);
        command.Parameters.AddWithValue("id", resourceId);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
