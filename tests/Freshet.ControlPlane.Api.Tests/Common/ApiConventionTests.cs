using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Npgsql;

namespace Freshet.ControlPlane.Api.Tests.Common;

/// <summary>What automation relies on: idempotent creates, optimistic concurrency, stable pagination, write-only secrets, an audit trail.</summary>
public sealed class ApiConventionTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task IdempotencyKey_SameBodyReplaysFirstResponse_DifferentBodyIs422()
    {
        using var http = await factory.DemoAdminClientAsync();
        var key = Guid.NewGuid().ToString();
        var body = DuckDbConnection($"idem-{Guid.NewGuid():N}");

        var first = await SendWithKeyAsync(http, key, body);
        var created = await HttpAssert.OkAsync(first, HttpStatusCode.Created);
        var replay = await SendWithKeyAsync(http, key, body);
        var replayed = await HttpAssert.OkAsync(replay, HttpStatusCode.Created);
        Assert.Equal("true", replay.Headers.GetValues("Idempotent-Replayed").Single());
        Assert.Equal(created.GetProperty("id").GetString(), replayed.GetProperty("id").GetString());
        Assert.Equal(first.Headers.Location, replay.Headers.Location);

        var list = await HttpAssert.OkAsync(await http.GetAsync("/v1/connections?page_size=100"));
        Assert.Single(list.GetProperty("items").EnumerateArray(), c => c.GetProperty("id").GetString() == created.GetProperty("id").GetString());

        var other = await SendWithKeyAsync(http, key, DuckDbConnection($"idem-other-{Guid.NewGuid():N}"));
        var problem = await HttpAssert.ProblemAsync(other, HttpStatusCode.UnprocessableEntity);
        Assert.Contains("different request body", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Keys belong to their caller: another client may use the same key for its own request.
        using var acme = await factory.AcmeAdminClientAsync();
        await HttpAssert.OkAsync(await SendWithKeyAsync(acme, key, body), HttpStatusCode.Created);
    }

    [Fact]
    public async Task IfMatch_WithStaleETag_Is412_WithCurrentETag_Succeeds_IfNoneMatchGives304()
    {
        using var http = await factory.DemoAdminClientAsync();
        var created = await http.PostAsync("/v1/connections", Json(DuckDbConnection($"etag-{Guid.NewGuid():N}")));
        var connection = await HttpAssert.OkAsync(created, HttpStatusCode.Created);
        var id = connection.GetProperty("id").GetString();
        var read = await http.GetAsync($"/v1/connections/{id}");
        var etag = read.Headers.ETag!.Tag;

        var first = new HttpRequestMessage(HttpMethod.Patch, $"/v1/connections/{id}") { Content = Json("""{"settings":{"path":"first.duckdb"}}""") };
        first.Headers.TryAddWithoutValidation("If-Match", etag);
        var updated = await http.SendAsync(first);
        await HttpAssert.OkAsync(updated);
        Assert.NotEqual(etag, updated.Headers.ETag!.Tag);

        var stale = new HttpRequestMessage(HttpMethod.Patch, $"/v1/connections/{id}") { Content = Json("""{"settings":{"path":"second.duckdb"}}""") };
        stale.Headers.TryAddWithoutValidation("If-Match", etag);
        await HttpAssert.ProblemAsync(await http.SendAsync(stale), HttpStatusCode.PreconditionFailed);

        var after = await HttpAssert.OkAsync(await http.GetAsync($"/v1/connections/{id}"));
        Assert.Equal("first.duckdb", after.GetProperty("settings").GetProperty("path").GetString());

        // Conditional reads: the current ETag gives 304 with no body, the stale one the document.
        var current = updated.Headers.ETag!.Tag;
        var unchanged = new HttpRequestMessage(HttpMethod.Get, $"/v1/connections/{id}");
        unchanged.Headers.TryAddWithoutValidation("If-None-Match", current);
        var notModified = await http.SendAsync(unchanged);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync());
        var changedSince = new HttpRequestMessage(HttpMethod.Get, $"/v1/connections/{id}");
        changedSince.Headers.TryAddWithoutValidation("If-None-Match", etag);
        await HttpAssert.OkAsync(await http.SendAsync(changedSince));
    }

    [Fact]
    public async Task Pagination_WalksEveryItemOnce_AcrossPages()
    {
        using var admin = await factory.AcmeAdminClientAsync();
        var names = new HashSet<string>();
        for (var i = 0; i < 7; i++)
        {
            var name = $"page-{i}-{Guid.NewGuid():N}";
            names.Add(name);
            await HttpAssert.OkAsync(await admin.PostAsync("/v1/connections", Json(DuckDbConnection(name))), HttpStatusCode.Created);
        }

        var seen = new List<string>();
        string? token = null;
        var pages = 0;
        do
        {
            var page = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/connections?page_size=3{(token is null ? "" : "&page_token=" + token)}"));
            var items = page.GetProperty("items").EnumerateArray().Select(c => c.GetProperty("name").GetString()!).ToList();
            Assert.InRange(items.Count, 1, 3);
            seen.AddRange(items);
            token = page.GetProperty("next_page_token").GetString();
            pages++;
        }
        while (token is not null && pages < 20);

        Assert.Equal(seen.Count, seen.Distinct().Count());
        Assert.Subset(seen.ToHashSet(), names);
        Assert.True(pages >= 3, $"7+ items at 3 per page take at least 3 pages, took {pages}");
    }

    [Fact]
    public async Task Secrets_AreNeverReturned_NorLogged_NorStoredInPlaintext()
    {
        using var http = await factory.DemoAdminClientAsync();
        var password = $"S3cret-{Guid.NewGuid():N}";
        var name = $"secret-{Guid.NewGuid():N}";
        var create = await http.PostAsync("/v1/connections", Json(JsonSerializer.Serialize(new
        {
            name,
            kind = "source",
            type = "postgres",
            settings = new { host = "127.0.0.1", port = factory.Postgres.Port, database = factory.Database, username = "postgres" },
            secrets = new { password },
        })));
        var createdBody = await create.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.Created, create.StatusCode);
        Assert.DoesNotContain(password, createdBody, StringComparison.Ordinal);
        var created = JsonDocument.Parse(createdBody).RootElement;
        Assert.True(created.GetProperty("secrets").GetProperty("password").GetProperty("is_set").GetBoolean());
        var id = created.GetProperty("id").GetString();

        foreach (var path in new[] { $"/v1/connections/{id}", "/v1/connections?page_size=100", "/v1/audit-events?page_size=100" })
        {
            Assert.DoesNotContain(password, await (await http.GetAsync(path)).Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await using var db = new NpgsqlConnection(factory.AdminConnectionString);
        await db.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT settings::text, encode(encrypted_secrets, 'escape') FROM connections WHERE name = @name", db);
        command.Parameters.AddWithValue("name", name);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync());
        Assert.DoesNotContain(password, reader.GetString(0), StringComparison.Ordinal);
        Assert.DoesNotContain(password, reader.GetString(1), StringComparison.Ordinal);
        await reader.DisposeAsync();

        // The secret is usable all the same: the connection test decrypts it and signs in.
        var test = await HttpAssert.OkAsync(await http.PostAsync($"/v1/connections/{id}/test", null));
        Assert.Equal("passed", test.GetProperty("checks")[0].GetProperty("status").GetString());

        // Removing a secret is explicit (null), and then it shows as not set.
        var removed = await HttpAssert.OkAsync(await http.PatchAsync($"/v1/connections/{id}", Json("""{"secrets":{"password":null}}""")));
        Assert.False(removed.GetProperty("secrets").GetProperty("password").GetProperty("is_set").GetBoolean());
    }

    [Fact]
    public async Task Changes_WriteAuditEvents_WithActorAndResource_FilterableByActionAndActor()
    {
        using var http = await factory.DemoAdminClientAsync();
        var name = $"audited-{Guid.NewGuid():N}";
        var created = await HttpAssert.OkAsync(await http.PostAsync("/v1/connections", Json(DuckDbConnection(name))), HttpStatusCode.Created);
        var id = created.GetProperty("id").GetString();
        await HttpAssert.OkAsync(await http.PatchAsync($"/v1/connections/{id}", Json("""{"name":"renamed-audited"}""")));
        Assert.Equal(HttpStatusCode.NoContent, (await http.DeleteAsync($"/v1/connections/{id}")).StatusCode);

        var events = await HttpAssert.OkAsync(await http.GetAsync($"/v1/audit-events?action=connection.&resource_id={id}"));
        var actions = events.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Equal(["connection.deleted", "connection.updated", "connection.created"], actions);
        var first = events.GetProperty("items")[2];
        Assert.Equal("client", first.GetProperty("actor_type").GetString());
        Assert.Equal(factory.Seed.Tenants[0].ClientId, first.GetProperty("actor_id").GetString());
        Assert.Equal("connection", first.GetProperty("resource_type").GetString());

        var byActor = await HttpAssert.OkAsync(await http.GetAsync($"/v1/audit-events?actor={factory.Seed.Tenants[0].ClientId}&resource_id={id}"));
        Assert.Equal(3, byActor.GetProperty("items").GetArrayLength());
        var future = await HttpAssert.OkAsync(await http.GetAsync($"/v1/audit-events?resource_id={id}&from={DateTimeOffset.UtcNow.AddHours(1):O}".Replace("+", "%2B", StringComparison.Ordinal)));
        Assert.Equal(0, future.GetProperty("items").GetArrayLength());
    }

    [Fact]
    public async Task PipelineSpecChange_BumpsGeneration_KeepsRevisions_PauseResumeAreIdempotent()
    {
        using var http = await factory.DemoAdminClientAsync();
        var pipeline = (await HttpAssert.OkAsync(await http.GetAsync("/v1/pipelines"))).GetProperty("items")[0];
        var id = pipeline.GetProperty("id").GetString();
        var generation = pipeline.GetProperty("generation").GetInt64();

        var changed = await HttpAssert.OkAsync(await http.PatchAsync($"/v1/pipelines/{id}", Json("""{"delete_mode":"soft","tables":[{"schema":"public","name":"orders"}]}""")));
        Assert.Equal(generation + 1, changed.GetProperty("generation").GetInt64());
        var renamed = await HttpAssert.OkAsync(await http.PatchAsync($"/v1/pipelines/{id}", Json("""{"name":"Renamed demo pipeline"}""")));
        Assert.Equal(generation + 1, renamed.GetProperty("generation").GetInt64());

        var revisions = await HttpAssert.OkAsync(await http.GetAsync($"/v1/pipelines/{id}/revisions"));
        Assert.Equal(generation + 1, revisions.GetProperty("items")[0].GetProperty("generation").GetInt64());
        Assert.Contains("delete_mode", revisions.GetProperty("items")[0].GetProperty("change").GetString(), StringComparison.Ordinal);
        var old = await HttpAssert.OkAsync(await http.GetAsync($"/v1/pipelines/{id}/revisions/{generation}"));
        Assert.Equal("hard", old.GetProperty("spec").GetProperty("delete_mode").GetString());

        for (var i = 0; i < 2; i++)
        {
            var paused = await HttpAssert.OkAsync(await http.PostAsync($"/v1/pipelines/{id}/pause", null));
            Assert.Equal("paused", paused.GetProperty("desired_state").GetString());
        }

        var resumed = await HttpAssert.OkAsync(await http.PostAsync($"/v1/pipelines/{id}/resume", null));
        Assert.Equal("running", resumed.GetProperty("desired_state").GetString());

        var snapshot = await http.PostAsync($"/v1/pipelines/{id}/resnapshot", Json("""{"tables":[{"schema":"public","name":"orders"}]}"""));
        Assert.Equal(HttpStatusCode.Accepted, snapshot.StatusCode);
        var notInPipeline = await HttpAssert.ProblemAsync(await http.PostAsync($"/v1/pipelines/{id}/resnapshot", Json("""{"tables":[{"schema":"public","name":"customers"}]}""")), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(notInPipeline, "tables[0]"));
    }

    [Fact]
    public async Task ConnectionTest_ReportsEachFailedPrerequisite_WithAFix()
    {
        var role = $"norepl_{Guid.NewGuid():N}"[..20];
        await using (var db = new NpgsqlConnection(factory.AdminConnectionString))
        {
            await db.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE ROLE {role} LOGIN", db);
            await create.ExecuteNonQueryAsync();
        }

        using var http = await factory.DemoAdminClientAsync();
        async Task<JsonElement> TestAsync(object settings)
        {
            var created = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/connections", new { name = $"t-{Guid.NewGuid():N}", kind = "source", type = "postgres", settings }), HttpStatusCode.Created);
            return await HttpAssert.OkAsync(await http.PostAsync($"/v1/connections/{created.GetProperty("id").GetString()}/test", null));
        }

        var noReplication = await TestAsync(new { host = "127.0.0.1", port = factory.Postgres.Port, database = factory.Database, username = role });
        Assert.False(noReplication.GetProperty("ok").GetBoolean());
        var check = noReplication.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "replication_privilege");
        Assert.Equal("failed", check.GetProperty("status").GetString());
        Assert.Contains("REPLICATION", check.GetProperty("fix").GetString(), StringComparison.Ordinal);
        Assert.Equal("passed", noReplication.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "wal_level").GetProperty("status").GetString());

        var unreachable = await TestAsync(new { host = "127.0.0.1", port = 1, database = "x", username = "x" });
        var checks = unreachable.GetProperty("checks").EnumerateArray().ToList();
        Assert.Equal("failed", checks[0].GetProperty("status").GetString());
        Assert.All(checks.Skip(1), c => Assert.Equal("skipped", c.GetProperty("status").GetString()));
    }

    private static Task<HttpResponseMessage> SendWithKeyAsync(HttpClient http, string key, string body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/connections") { Content = Json(body) };
        request.Headers.Add("Idempotency-Key", key);
        return http.SendAsync(request);
    }

    private static string DuckDbConnection(string name) =>
        JsonSerializer.Serialize(new { name, kind = "destination", type = "duckdb", settings = new { path = $"{name}.duckdb" } });

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
