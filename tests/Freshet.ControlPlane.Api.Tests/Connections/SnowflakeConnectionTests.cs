using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Connections;

/// <summary>
/// A Snowflake destination through the API: its batch latency target defaults and is bounded, and "test connection" runs
/// the data plane's probe, which the host hands to the API. (The probe's checks against the emulator are in the data
/// plane's tests; here the account cannot be reached from the test machine, which the probe must say.)
/// </summary>
public sealed class SnowflakeConnectionTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task UnreachableAccount_TestSaysSoAtTheLogin_AndTheLatencyTargetDefaultsTo30Seconds()
    {
        using var http = await factory.DemoAdminClientAsync();
        using var key = RSA.Create(2048);
        var created = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/connections", new
        {
            name = $"snowflake-{Guid.NewGuid():N}",
            kind = "destination",
            type = "snowflake",
            settings = new { account = "xy12345.invalid-region-9", user = "loader", warehouse = "LOADING", database = "ANALYTICS" },
            secrets = new { private_key = key.ExportPkcs8PrivateKeyPem() },
        }), HttpStatusCode.Created);
        var tooSlow = await http.PostAsJsonAsync("/v1/connections", new
        {
            name = $"snowflake-{Guid.NewGuid():N}",
            kind = "destination",
            type = "snowflake",
            settings = new { account = "xy12345", user = "loader", warehouse = "LOADING", database = "ANALYTICS", batch_latency_target_s = 7200 },
            secrets = new { private_key = key.ExportPkcs8PrivateKeyPem() },
        });

        var test = await HttpAssert.OkAsync(await http.PostAsync($"/v1/connections/{created.GetProperty("id").GetString()}/test", null));

        Assert.Equal(30, created.GetProperty("settings").GetProperty("batch_latency_target_s").GetInt32());
        Assert.NotEmpty(HttpAssert.FieldErrors(await HttpAssert.ProblemAsync(tooSlow, HttpStatusCode.BadRequest), "settings.batch_latency_target_s"));
        Assert.False(test.GetProperty("ok").GetBoolean());
        var checks = test.GetProperty("checks").EnumerateArray().ToList();
        Assert.Equal(["settings", "login", "create_tables", "write"], checks.Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(["passed", "failed", "skipped", "skipped"], checks.Select(c => c.GetProperty("status").GetString()));
        Assert.Contains("could not be reached", checks[1].GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
