using System.Net;
using System.Net.Http.Json;
using Freshet.ControlPlane.Api.Connections;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Connections;

public sealed class ManagedNetworkFactory : ControlPlaneFactory
{
    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings => [new("Freshet:Connections:AllowPrivateNetworks", "false")];
}

/// <summary>On a managed installation, "test connection" must not become a probe of the platform's own network.</summary>
public sealed class NetworkPolicyTests(ManagedNetworkFactory factory) : IClassFixture<ManagedNetworkFactory>
{
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1", true)]
    [InlineData("10.1.2.3", true)]
    [InlineData("172.20.0.5", true)]
    [InlineData("192.168.1.10", true)]
    [InlineData("169.254.169.254", true)]
    [InlineData("fd00::1", true)]
    [InlineData("::ffff:127.0.0.1", true)]
    [InlineData("8.8.8.8", false)]
    [InlineData("172.32.0.1", false)]
    [InlineData("2001:4860:4860::8888", false)]
    public void IsInternal_ClassifiesAddresses(string address, bool expected) =>
        Assert.Equal(expected, Freshet.ServiceDefaults.InternalAddresses.IsInternal(IPAddress.Parse(address)));

    [Fact]
    public async Task LoopbackSource_IsRefusedByTestAndSchema_WithAReason()
    {
        using var http = await factory.DemoAdminClientAsync();
        var created = await HttpAssert.OkAsync(await http.PostAsJsonAsync("/v1/connections", new
        {
            name = "internal",
            kind = "source",
            type = "postgres",
            settings = new { host = "localhost", port = factory.Postgres.Port, database = factory.Database, username = "postgres" },
        }), HttpStatusCode.Created);
        var id = created.GetProperty("id").GetString();

        var test = await HttpAssert.OkAsync(await http.PostAsync($"/v1/connections/{id}/test", null));
        Assert.False(test.GetProperty("ok").GetBoolean());
        var network = test.GetProperty("checks")[0];
        Assert.Equal("network", network.GetProperty("name").GetString());
        Assert.Equal("failed", network.GetProperty("status").GetString());
        Assert.Contains("internal address", network.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.All(test.GetProperty("checks").EnumerateArray().Skip(1), c => Assert.Equal("skipped", c.GetProperty("status").GetString()));

        await HttpAssert.ProblemAsync(await http.GetAsync($"/v1/connections/{id}/schema"), HttpStatusCode.UnprocessableEntity);
    }
}
