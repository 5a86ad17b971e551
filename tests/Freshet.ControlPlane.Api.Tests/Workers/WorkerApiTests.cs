using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Workers;

/// <summary>The worker protocol over HTTPS: who gets in, what a worker gets, what a bad body earns.</summary>
public sealed class WorkerApiTests(WorkerPoolFactory factory) : IClassFixture<WorkerPoolFactory>
{
    private static readonly string[] WorkerRoutes =
    [
        "POST /v1/worker/register",
        "POST /v1/worker/heartbeat",
        "GET /v1/worker/{w}/assignments",
        "GET /v1/worker/{w}/pipelines/{p}/spec?epoch=1",
        "POST /v1/worker/{w}/pipelines/{p}/release?epoch=1",
        "POST /v1/worker/{w}/pipelines/{p}/dropped",
    ];

    [Fact]
    public async Task WorkerToken_RegistersHeartbeatsReadsAssignments_AndGetsTheSpecWithSecrets()
    {
        using var http = await factory.WorkerClientAsync();
        var workerId = Guid.NewGuid();
        var grant = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/worker/register", new
        {
            worker_id = workerId,
            name = "worker-a",
            zone = "zone-a",
            labels = new Dictionary<string, string> { ["zone"] = "zone-a", ["disk"] = "ssd" },
            capacity = 20,
            version = "1.2.3",
        }));
        Assert.Equal(workerId, grant.GetProperty("worker_id").GetGuid());
        Assert.True(grant.GetProperty("held").GetBoolean());
        Assert.Equal("00:00:15", grant.GetProperty("lease_duration").GetString());
        Assert.Equal(1, grant.GetProperty("assignments_version").GetInt64());

        var password = $"pw-{Guid.NewGuid():N}";
        var pipelineId = await factory.CreateDemoPipelineAsync(password);
        factory.Pool.Place(pipelineId, factory.Pool.Workers[workerId], epoch: 7);

        var assignments = await HttpAssert.OkAsync(await http.GetAsync($"/v1/worker/{workerId}/assignments"));
        var assigned = Assert.Single(assignments.GetProperty("pipelines").EnumerateArray());
        Assert.Equal(pipelineId, assigned.GetProperty("pipeline_id").GetGuid());
        Assert.Equal(7, assigned.GetProperty("epoch").GetInt64());

        var response = await http.GetAsync($"/v1/worker/{workerId}/pipelines/{pipelineId}/spec?epoch=7");
        var spec = await HttpAssert.OkAsync(response);
        Assert.True(response.Headers.CacheControl?.NoStore, "a spec with secrets must not be cached");
        Assert.Equal(pipelineId, spec.GetProperty("pipeline_id").GetGuid());
        Assert.Equal(7, spec.GetProperty("epoch").GetInt64());
        Assert.Equal(1, spec.GetProperty("generation").GetInt64());
        Assert.Equal("postgres", spec.GetProperty("source").GetProperty("type").GetString());
        Assert.Equal(password, spec.GetProperty("source").GetProperty("secrets").GetProperty("password").GetString());
        Assert.Equal("duckdb", spec.GetProperty("destination").GetProperty("type").GetString());
        Assert.Equal("orders", spec.GetProperty("tables")[0].GetProperty("name").GetString());

        // Another epoch (the pipeline moved on) is not this worker's to run.
        await HttpAssert.ProblemAsync(await http.GetAsync($"/v1/worker/{workerId}/pipelines/{pipelineId}/spec?epoch=6"), HttpStatusCode.NotFound);

        var heartbeat = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/worker/heartbeat", new
        {
            worker_id = workerId,
            draining = false,
            pipelines = new[] { new { pipeline_id = pipelineId, epoch = 7, generation = 1, progress = (object?)null } },
        }));
        Assert.True(heartbeat.GetProperty("held").GetBoolean());

        Assert.Equal(HttpStatusCode.NoContent, (await http.PostAsync($"/v1/worker/{workerId}/pipelines/{pipelineId}/release?epoch=7", null)).StatusCode);
        Assert.Contains((workerId, pipelineId, 7L), factory.Pool.Releases);
        Assert.Equal(HttpStatusCode.NoContent, (await http.PostAsync($"/v1/worker/{workerId}/pipelines/{pipelineId}/dropped", null)).StatusCode);
        Assert.Contains((workerId, pipelineId), factory.Pool.Dropped);
    }

    [Fact]
    public async Task Heartbeat_CarriesProgressReports_ToTheScheduler()
    {
        using var http = await factory.WorkerClientAsync();
        var workerId = Guid.NewGuid();
        var pipelineId = Guid.NewGuid();
        var report = FakeWorkerPool.Report(pipelineId, 3, PipelineRunState.Failed, "source unreachable", DateTimeOffset.UtcNow.AddSeconds(30));
        var body = JsonSerializer.Serialize(
            new { worker_id = workerId, draining = true, pipelines = new[] { new { pipeline_id = pipelineId, epoch = 3, generation = 2, progress = report } } },
            new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) } });
        await HttpAssert.OkAsync(await http.PostAsync("/v1/worker/heartbeat", Json(body)));
        var control = factory.Services.GetService(typeof(IWorkerControl)) as FakeWorkerControl;
        var received = Assert.Single(control!.Heartbeats, h => h.WorkerId == workerId);
        Assert.True(received.Draining);
        var running = Assert.Single(received.Pipelines);
        Assert.Equal(PipelineRunState.Failed, running.Progress!.State);
        Assert.Equal("source unreachable", running.Progress.Reason);
    }

    [Fact]
    public async Task OtherTokens_Get404_OnEveryWorkerEndpoint_AndNoToken401()
    {
        var owner = factory.Seed.Tenants[0];
        using var tenantClient = await factory.DemoAdminClientAsync();
        using var platformClient = await factory.ClientForAsync(factory.Seed.PlatformClient.ClientId, factory.Seed.PlatformClient.ClientSecret);
        using var user = await UserSignIn.UserClientAsync(factory, owner.AdminEmail, owner.AdminPassword);
        using var anonymous = factory.CreateClient();
        var failures = new List<string>();
        foreach (var route in WorkerRoutes)
        {
            foreach (var (who, http, expected) in new[] { ("tenant client", tenantClient, 404), ("platform client", platformClient, 404), ("user", user, 404), ("no token", anonymous, 401) })
            {
                var response = await SendAsync(http, route, """{"worker_id":"00000000-0000-0000-0000-000000000001"}""");
                if ((int)response.StatusCode != expected)
                {
                    failures.Add($"{who} on {route}: {(int)response.StatusCode}, expected {expected}");
                }
                else if (expected == 404)
                {
                    await HttpAssert.ProblemAsync(response, HttpStatusCode.NotFound);
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
        var control = factory.Services.GetService(typeof(IWorkerControl)) as FakeWorkerControl;
        Assert.DoesNotContain(control!.Registrations, r => r.WorkerId == Guid.Parse("00000000-0000-0000-0000-000000000001"));
    }

    [Fact]
    public async Task WorkerToken_IsNobody_OnTenantAndPlatformEndpoints()
    {
        using var http = await factory.WorkerClientAsync();
        foreach (var path in new[] { "/v1/pipelines", "/v1/tenant", "/v1/tenants", "/v1/workers", "/v1/me" })
        {
            var response = await http.GetAsync(path);
            Assert.True(response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.NotFound, $"worker token on {path}: {(int)response.StatusCode}");
        }

        // Naming a tenant does not help either.
        http.DefaultRequestHeaders.Add("Freshet-Tenant", "demo");
        var named = await http.GetAsync("/v1/pipelines");
        Assert.True(named.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.NotFound, $"worker token naming demo: {(int)named.StatusCode}");
    }

    [Fact]
    public async Task MalformedBodies_Are400_WithEveryFieldNamed()
    {
        using var http = await factory.WorkerClientAsync();
        var empty = await HttpAssert.ProblemAsync(await http.PostAsync("/v1/worker/register", Json("{}")), HttpStatusCode.BadRequest);
        foreach (var field in new[] { "worker_id", "name", "capacity", "version" })
        {
            Assert.NotEmpty(HttpAssert.FieldErrors(empty, field));
        }

        var labels = Enumerable.Range(0, 51).ToDictionary(i => $"l{i}", i => "v");
        var bad = await HttpAssert.ProblemAsync(
            await http.PostAsJsonAsync("/v1/worker/register", new { worker_id = Guid.NewGuid(), name = new string('n', 201), capacity = 0, version = "1", labels }),
            HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(bad, "name"));
        Assert.NotEmpty(HttpAssert.FieldErrors(bad, "capacity"));
        Assert.NotEmpty(HttpAssert.FieldErrors(bad, "labels"));
        Assert.Empty(HttpAssert.FieldErrors(bad, "version"));
        var tooMany = await HttpAssert.ProblemAsync(
            await http.PostAsJsonAsync("/v1/worker/register", new { worker_id = Guid.NewGuid(), name = "w", capacity = 1001, version = "1" }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(tooMany, "capacity"));

        var pipelines = Enumerable.Range(0, 1001).Select(_ => new { pipeline_id = Guid.NewGuid(), epoch = 1, generation = 1 }).ToArray();
        var heartbeat = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/worker/heartbeat", new { worker_id = Guid.NewGuid(), pipelines }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(heartbeat, "pipelines"));
        var entry = await HttpAssert.ProblemAsync(
            await http.PostAsJsonAsync("/v1/worker/heartbeat", new { worker_id = Guid.NewGuid(), pipelines = new[] { new { pipeline_id = Guid.NewGuid(), epoch = 0 } } }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(entry, "pipelines[0].epoch"));
        Assert.NotEmpty(HttpAssert.FieldErrors(entry, "pipelines[0].generation"));

        var wrongType = await HttpAssert.ProblemAsync(await http.PostAsync("/v1/worker/register", Json("""{"worker_id":"x","capacity":"many"}""")), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(wrongType, "worker_id"));
        await HttpAssert.ProblemAsync(await http.PostAsync("/v1/worker/heartbeat", Json("{not json")), HttpStatusCode.BadRequest);

        var noEpoch = await HttpAssert.ProblemAsync(await http.GetAsync($"/v1/worker/{Guid.NewGuid()}/pipelines/{Guid.NewGuid()}/spec"), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(noEpoch, "epoch"));
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, string route, string body)
    {
        var (method, path) = (route.Split(' ')[0], route.Split(' ')[1].Replace("{w}", Guid.NewGuid().ToString(), StringComparison.Ordinal).Replace("{p}", Guid.NewGuid().ToString(), StringComparison.Ordinal));
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method == "POST")
        {
            request.Content = Json(body);
        }

        return http.SendAsync(request);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
