using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Connections;

/// <summary>
/// A BigQuery destination through the API: its batch latency target, write method and max staleness default and are
/// bounded, and "test connection" runs the data plane's probe, which the host hands to the API. (The probe's checks
/// against the emulator are in the data plane's tests; here the key's token endpoint does not answer, which the probe
/// must say.)
/// </summary>
public sealed class BigQueryConnectionTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task UnreachableTokenEndpoint_TestSaysSoAtAuthentication_AndTheSettingsDefault()
    {
        using var http = await factory.DemoAdminClientAsync();
        using var rsa = RSA.Create(2048);
        var key = JsonSerializer.Serialize(new
        {
            type = "service_account",
            project_id = "freshet-test",
            private_key_id = "k1",
            private_key = rsa.ExportPkcs8PrivateKeyPem(),
            client_email = "writer@freshet-test.iam.gserviceaccount.com",
            // A loopback port nothing listens on (the test factory allows private networks).
            token_uri = "http://127.0.0.1:9/token",
        });
        var created = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/connections", new
        {
            name = $"bigquery-{Guid.NewGuid():N}",
            kind = "destination",
            type = "bigquery",
            settings = new { project_id = "freshet-test", dataset = "analytics" },
            secrets = new { service_account_json = key },
        }), HttpStatusCode.Created);
        var refused = await http.PostAsJsonAsync("/v1/connections", new
        {
            name = $"bigquery-{Guid.NewGuid():N}",
            kind = "destination",
            type = "bigquery",
            settings = new { project_id = "freshet-test", dataset = "analytics", write_method = "insert_all", max_staleness_minutes = 2000, batch_latency_target_s = 0 },
            secrets = new { service_account_json = key },
        });

        var test = await HttpAssert.OkAsync(await http.PostAsync($"/v1/connections/{created.GetProperty("id").GetString()}/test", null));

        var settings = created.GetProperty("settings");
        Assert.Equal((30, "storage_write"), (settings.GetProperty("batch_latency_target_s").GetInt32(), settings.GetProperty("write_method").GetString()));
        var problem = await HttpAssert.ProblemAsync(refused, HttpStatusCode.BadRequest);
        foreach (var field in new[] { "settings.write_method", "settings.max_staleness_minutes", "settings.batch_latency_target_s" })
        {
            Assert.NotEmpty(HttpAssert.FieldErrors(problem, field));
        }

        Assert.False(test.GetProperty("ok").GetBoolean());
        var checks = test.GetProperty("checks").EnumerateArray().ToList();
        Assert.Equal(["settings", "authenticate", "dataset", "create_tables", "write", "query"], checks.Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(["passed", "failed", "skipped", "skipped", "skipped", "skipped"], checks.Select(c => c.GetProperty("status").GetString()));
        Assert.Contains("could not be reached", checks[1].GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
