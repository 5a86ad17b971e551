using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Common;

/// <summary>Bad input gets a clear 4xx problem naming the field, and loses nothing.</summary>
public sealed class BadInputTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Theory]
    [InlineData("{\"name\": \"x\", ")]
    [InlineData("not json at all")]
    [InlineData("[1, 2, 3]")]
    public async Task MalformedJson_Is400Problem(string body)
    {
        using var http = await factory.DemoAdminClientAsync();
        await HttpAssert.ProblemAsync(await http.PostAsync("/v1/connections", Json(body)), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task UnknownEnumValue_Is400_NamingTheFieldAndTheAllowedValues()
    {
        using var http = await factory.DemoAdminClientAsync();
        var problem = await HttpAssert.ProblemAsync(await http.PostAsync("/v1/pipelines", Json("""{"name":"p","delete_mode":"obliterate"}""")), HttpStatusCode.BadRequest);
        var error = Assert.Single(HttpAssert.FieldErrors(problem, "delete_mode"));
        Assert.Contains("hard, soft", error, StringComparison.Ordinal);

        var numeric = await HttpAssert.ProblemAsync(await http.PostAsync("/v1/connections", Json("""{"name":"c","kind":1}""")), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(numeric, "kind"));
    }

    [Fact]
    public async Task MissingRequiredFields_AreAllReported()
    {
        using var http = await factory.DemoAdminClientAsync();
        var problem = await HttpAssert.ProblemAsync(await http.PostAsync("/v1/pipelines", Json("{}")), HttpStatusCode.BadRequest);
        foreach (var field in new[] { "name", "source_connection_id", "destination_connection_id", "tables" })
        {
            Assert.NotEmpty(HttpAssert.FieldErrors(problem, field));
        }

        var settings = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/connections", new { name = "pg", kind = "source", type = "postgres", settings = new { } }), HttpStatusCode.BadRequest);
        foreach (var field in new[] { "settings.host", "settings.database", "settings.username" })
        {
            Assert.NotEmpty(HttpAssert.FieldErrors(settings, field));
        }
    }

    [Fact]
    public async Task WrongTypes_UnknownSettings_AndImpossibleCombinations_AreFieldErrors()
    {
        using var http = await factory.DemoAdminClientAsync();
        var problem = await HttpAssert.ProblemAsync(
            await http.PostAsync("/v1/connections", Json("""{"name":"pg","kind":"source","type":"postgres","settings":{"host":"db","port":"5432","database":"d","username":"u","pasword":"oops"},"secrets":{"token":"x"}}""")),
            HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(problem, "settings.port"));
        Assert.Contains("Unknown setting", HttpAssert.FieldErrors(problem, "settings.pasword")[0], StringComparison.Ordinal);
        Assert.NotEmpty(HttpAssert.FieldErrors(problem, "secrets.token"));

        var wrongKind = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/connections", new { name = "bq", kind = "source", type = "bigquery", settings = new { project_id = "my-project", dataset = "d" }, secrets = new { service_account_json = "{}" } }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(wrongKind, "kind"));
        Assert.NotEmpty(HttpAssert.FieldErrors(wrongKind, "secrets.service_account_json"));

        var escape = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/connections", new { name = "duck", kind = "destination", type = "duckdb", settings = new { path = "../../etc/passwd" } }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(escape, "settings.path"));

        var wrongJsonType = await HttpAssert.ProblemAsync(await http.PostAsync("/v1/pipelines", Json("""{"name":["a"],"tables":"orders"}""")), HttpStatusCode.BadRequest);
        Assert.Contains("string", string.Join(' ', HttpAssert.FieldErrors(wrongJsonType, "name")), StringComparison.Ordinal);
    }

    [Fact]
    public async Task OverlongNames_AndControlCharacters_AreRefused()
    {
        using var http = await factory.DemoAdminClientAsync();
        var longName = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/connections", new { name = new string('n', 201), kind = "destination", type = "duckdb", settings = new { path = "a.duckdb" } }), HttpStatusCode.BadRequest);
        Assert.Contains("200", HttpAssert.FieldErrors(longName, "name")[0], StringComparison.Ordinal);
        var control = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/connections", new { name = "bad\u0000name", kind = "destination", type = "duckdb", settings = new { path = "a.duckdb" } }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(control, "name"));
        var longTable = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/pipelines", new { name = "p", tables = new[] { new { schema = "public", name = new string('t', 129) } } }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(longTable, "tables[0].name"));
    }

    [Fact]
    public async Task SqlMetacharactersInNamesAndTables_AreStoredVerbatim_AndHarmless()
    {
        using var http = await factory.DemoAdminClientAsync();
        var pipelines = await HttpAssert.OkAsync(await http.GetAsync("/v1/pipelines"));
        var existing = pipelines.GetProperty("items")[0];
        const string Evil = "Robert'); DROP TABLE pipelines;-- \"quoted\" $$ \\ %";
        var created = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/pipelines", new
        {
            name = Evil,
            source_connection_id = existing.GetProperty("source_connection_id").GetString(),
            destination_connection_id = existing.GetProperty("destination_connection_id").GetString(),
            tables = new[] { new { schema = "we\"ird; schema", name = "x'); DELETE FROM tenants; --" } },
        }), HttpStatusCode.Created);

        var read = await HttpAssert.OkAsync(await http.GetAsync($"/v1/pipelines/{created.GetProperty("id").GetString()}"));
        Assert.Equal(Evil, read.GetProperty("name").GetString());
        Assert.Equal("x'); DELETE FROM tenants; --", read.GetProperty("tables")[0].GetProperty("name").GetString());
        Assert.Equal("we\"ird; schema", read.GetProperty("tables")[0].GetProperty("schema").GetString());
        var after = await HttpAssert.OkAsync(await http.GetAsync("/v1/pipelines?page_size=100"));
        Assert.True(after.GetProperty("items").GetArrayLength() >= 2);
        await HttpAssert.OkAsync(await http.GetAsync("/v1/tenant"));
    }

    [Theory]
    [InlineData("page_size=0")]
    [InlineData("page_size=-5")]
    [InlineData("page_size=101")]
    [InlineData("page_size=99999999999")]
    [InlineData("page_size=abc")]
    [InlineData("page_token=forged-token")]
    [InlineData("kind=sideways")]
    public async Task BadPagingAndFilterParameters_Are400(string query)
    {
        using var http = await factory.DemoAdminClientAsync();
        await HttpAssert.ProblemAsync(await http.GetAsync($"/v1/connections?{query}"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task OversizedBody_Is413Problem()
    {
        using var http = await factory.DemoAdminClientAsync();
        var huge = JsonSerializer.Serialize(new { name = "big", kind = "destination", type = "duckdb", settings = new { path = new string('p', 2 * 1024 * 1024) } });
        await HttpAssert.ProblemAsync(await http.PostAsync("/v1/connections", Json(huge)), HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task DeletingAConnectionInUse_Is409_NamingThePipeline()
    {
        using var http = await factory.DemoAdminClientAsync();
        var pipeline = (await HttpAssert.OkAsync(await http.GetAsync("/v1/pipelines"))).GetProperty("items")[0];
        var problem = await HttpAssert.ProblemAsync(await http.DeleteAsync($"/v1/connections/{pipeline.GetProperty("source_connection_id").GetString()}"), HttpStatusCode.Conflict);
        Assert.Contains(pipeline.GetProperty("name").GetString()!, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Contains(problem.GetProperty("pipelines").EnumerateArray(), p => p.GetProperty("id").GetString() == pipeline.GetProperty("id").GetString());
        await HttpAssert.OkAsync(await http.GetAsync($"/v1/connections/{pipeline.GetProperty("source_connection_id").GetString()}"));
    }

    [Fact]
    public async Task PipelineReferencingAnotherTenantsConnection_IsRefusedLikeAnUnknownId()
    {
        using var demo = await factory.DemoAdminClientAsync();
        var demoPipeline = (await HttpAssert.OkAsync(await demo.GetAsync("/v1/pipelines"))).GetProperty("items")[0];
        using var acme = await factory.AcmeAdminClientAsync();
        var problem = await HttpAssert.ProblemAsync(await acme.PostAsJsonAsync("/v1/pipelines", new
        {
            name = "stealing",
            source_connection_id = demoPipeline.GetProperty("source_connection_id").GetString(),
            destination_connection_id = demoPipeline.GetProperty("destination_connection_id").GetString(),
            tables = new[] { new { schema = "public", name = "orders" } },
        }), HttpStatusCode.BadRequest);
        Assert.Contains("No connection", HttpAssert.FieldErrors(problem, "source_connection_id")[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadIdempotencyKey_AndUnknownRoute_AreProblems()
    {
        using var http = await factory.DemoAdminClientAsync();
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/connections") { Content = Json("{}") };
        request.Headers.TryAddWithoutValidation("Idempotency-Key", new string('k', 300));
        await HttpAssert.ProblemAsync(await http.SendAsync(request), HttpStatusCode.BadRequest);
        await HttpAssert.ProblemAsync(await http.GetAsync("/v1/pipelines/not-a-guid"), HttpStatusCode.NotFound);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
