using System.Net;
using System.Net.Http.Json;
using System.Text;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Connections;

/// <summary>The WAL disk budget of a PostgreSQL source: what the API accepts, refuses, and says about it.</summary>
public sealed class WalDiskBudgetTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    private const string Setting = "settings.wal_disk_budget_mb";

    [Fact]
    public async Task PostgresSource_KeepsAValidBudget_ChangesAndRemovesIt()
    {
        using var http = await factory.DemoAdminClientAsync();
        var created = await HttpAssert.OkAsync(
            await http.PostAsJsonAsync("/v1/connections", new
            {
                name = $"budget-{Guid.NewGuid():N}",
                kind = "source",
                type = "postgres",
                settings = new { host = "db.example.com", database = "shop", username = "freshet", wal_disk_budget_mb = 51_200 },
            }),
            HttpStatusCode.Created);
        Assert.Equal(51_200, created.GetProperty("settings").GetProperty("wal_disk_budget_mb").GetInt64());
        var id = created.GetProperty("id").GetString();

        var changed = await HttpAssert.OkAsync(await http.PatchAsJsonAsync($"/v1/connections/{id}", new { settings = new { wal_disk_budget_mb = int.MaxValue } }));
        Assert.Equal(int.MaxValue, changed.GetProperty("settings").GetProperty("wal_disk_budget_mb").GetInt64());

        var removed = await HttpAssert.OkAsync(await http.PatchAsync($"/v1/connections/{id}", Json("""{"settings":{"wal_disk_budget_mb":null}}""")));
        Assert.False(removed.GetProperty("settings").TryGetProperty("wal_disk_budget_mb", out _), removed.ToString());

        var refused = await HttpAssert.ProblemAsync(await http.PatchAsJsonAsync($"/v1/connections/{id}", new { settings = new { wal_disk_budget_mb = 0 } }), HttpStatusCode.BadRequest);
        Assert.Equal(["Must be between 1 and 2147483647 MB."], HttpAssert.FieldErrors(refused, Setting));
    }

    [Theory]
    [InlineData("0", "Must be between 1 and 2147483647 MB.")]
    [InlineData("-1", "Must be between 1 and 2147483647 MB.")]
    [InlineData("2147483648", "Must be between 1 and 2147483647 MB.")]
    [InlineData("10.5", "Must be a whole number of MB, without the unit.")]
    [InlineData("\"50GB\"", "Must be a whole number of MB, without the unit.")]
    [InlineData("true", "Must be a whole number of MB, without the unit.")]
    public async Task PostgresSource_BudgetThatIsNotAPositiveWholeNumberOfMegabytes_Is400WithTheField(string value, string message)
    {
        using var http = await factory.DemoAdminClientAsync();
        var body = $$$"""{"name":"budget-{{{Guid.NewGuid():N}}}","kind":"source","type":"postgres","settings":{"host":"db.example.com","database":"shop","username":"freshet","wal_disk_budget_mb":{{{value}}}}}""";

        var problem = await HttpAssert.ProblemAsync(await http.PostAsync("/v1/connections", Json(body)), HttpStatusCode.BadRequest);

        Assert.Equal([message], HttpAssert.FieldErrors(problem, Setting));
        Assert.Equal([Setting], problem.GetProperty("errors").EnumerateObject().Select(e => e.Name));
    }

    [Fact]
    public async Task PostgresDestination_WithABudget_Is400_SinceOnlyASourceRetainsWal()
    {
        using var http = await factory.DemoAdminClientAsync();
        var request = new
        {
            name = $"warehouse-{Guid.NewGuid():N}",
            kind = "destination",
            type = "postgres",
            settings = new { host = "db.example.com", database = "warehouse", username = "freshet", wal_disk_budget_mb = 1024 },
        };

        var problem = await HttpAssert.ProblemAsync(await http.PostAsJsonAsync("/v1/connections", request), HttpStatusCode.BadRequest);

        Assert.Equal(["Only a source connection takes this setting; this one is a destination."], HttpAssert.FieldErrors(problem, Setting));
    }

    [Fact]
    public async Task ConnectionTypes_DescribeTheBudget_AsASourceOnlyIntegerOfMegabytes()
    {
        using var http = await factory.DemoAdminClientAsync();
        var types = await HttpAssert.OkAsync(await http.GetAsync("/v1/connection-types"));

        var budget = types.EnumerateArray().Single(t => t.GetProperty("type").GetString() == "postgres")
            .GetProperty("settings").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "wal_disk_budget_mb");
        Assert.Equal("integer", budget.GetProperty("kind").GetString());
        Assert.False(budget.GetProperty("required").GetBoolean());
        Assert.Equal(1, budget.GetProperty("min").GetInt64());
        Assert.Equal(int.MaxValue, budget.GetProperty("max").GetInt64());
        Assert.Equal("MB", budget.GetProperty("unit").GetString());
        Assert.Equal("source", budget.GetProperty("only_for").GetString());
        Assert.Contains("max_slot_wal_keep_size", budget.GetProperty("description").GetString(), StringComparison.Ordinal);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
