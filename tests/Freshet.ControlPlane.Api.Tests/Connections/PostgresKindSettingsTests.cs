using System.Net;
using System.Net.Http.Json;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Connections;

/// <summary>PostgreSQL settings that belong to one kind of connection only (see also <see cref="WalDiskBudgetTests"/>).</summary>
public sealed class PostgresKindSettingsTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task PostgresSchemaSetting_BelongsToDestinationsOnly_WithItsDefaultThere_AndIsRefusedOnASource()
    {
        using var http = await factory.DemoAdminClientAsync();
        var source = await HttpAssert.OkAsync(
            await http.PostAsJsonAsync("/v1/connections", new
            {
                name = $"shop-{Guid.NewGuid():N}", kind = "source", type = "postgres",
                settings = new { host = "db.example.com", database = "shop", username = "freshet" },
            }),
            HttpStatusCode.Created);
        Assert.False(source.GetProperty("settings").TryGetProperty("schema", out _), source.ToString());

        var refused = await HttpAssert.ProblemAsync(
            await http.PatchAsJsonAsync($"/v1/connections/{source.GetProperty("id").GetString()}", new { settings = new { schema = "analytics" } }), HttpStatusCode.BadRequest);
        Assert.Equal(["Only a destination connection takes this setting; this one is a source."], HttpAssert.FieldErrors(refused, "settings.schema"));

        var destination = await HttpAssert.OkAsync(
            await http.PostAsJsonAsync("/v1/connections", new
            {
                name = $"warehouse-{Guid.NewGuid():N}", kind = "destination", type = "postgres",
                settings = new { host = "db.example.com", database = "warehouse", username = "freshet" },
            }),
            HttpStatusCode.Created);
        Assert.Equal("public", destination.GetProperty("settings").GetProperty("schema").GetString());

        var types = await HttpAssert.OkAsync(await http.GetAsync("/v1/connection-types"));
        var schema = types.EnumerateArray().Single(t => t.GetProperty("type").GetString() == "postgres")
            .GetProperty("settings").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "schema");
        Assert.Equal("destination", schema.GetProperty("only_for").GetString());
    }
}
