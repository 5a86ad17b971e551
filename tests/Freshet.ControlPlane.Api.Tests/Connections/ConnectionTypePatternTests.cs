using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Connections;

/// <summary>
/// The format patterns <c>GET /v1/connection-types</c> publishes are the ones the API enforces: a form that applies them
/// (the console does) accepts and refuses exactly what a save would, with the API's own words.
/// </summary>
public sealed class ConnectionTypePatternTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Theory]
    [InlineData("postgres", "source", "host", "db.example.com", "postgres://db.example.com:5432")]
    [InlineData("postgres", "source", "host", "10.0.0.7", "db.example.com/shop")]
    [InlineData("mysql", "source", "host", "[::1]", "db example com")]
    [InlineData("snowflake", "destination", "account", "myorg-myaccount", "xy12345.eu-central-1.snowflakecomputing.com")]
    [InlineData("snowflake", "destination", "account", "xy12345.eu-central-1", "XY12345.SnowflakeComputing.com")]
    [InlineData("bigquery", "destination", "project_id", "my-project-42", "My Project")]
    [InlineData("bigquery", "destination", "dataset", "analytics_eu", "analytics-eu")]
    public async Task PublishedPattern_AcceptsAndRefusesWhatTheApiDoes_WithItsMessage(string type, string kind, string setting, string good, string bad)
    {
        using var http = await factory.DemoAdminClientAsync();
        var types = await HttpAssert.OkAsync(await http.GetAsync("/v1/connection-types"));
        var published = types.EnumerateArray().Single(t => t.GetProperty("type").GetString() == type)
            .GetProperty("settings").EnumerateArray().Single(s => s.GetProperty("name").GetString() == setting);
        var pattern = new Regex(published.GetProperty("pattern").GetString()!, RegexOptions.CultureInvariant);
        var message = published.GetProperty("pattern_message").GetString()!;

        Assert.Matches(pattern, good);
        Assert.DoesNotMatch(pattern, bad);
        Assert.Empty(await SettingErrorsAsync(http, type, kind, setting, good));
        Assert.Equal([message], await SettingErrorsAsync(http, type, kind, setting, bad));
    }

    /// <summary>
    /// The errors a create reports for <paramref name="setting"/> = <paramref name="value"/>. The request always lacks
    /// another required setting, so it is refused whatever the value and nothing is created.
    /// </summary>
    private static async Task<string[]> SettingErrorsAsync(HttpClient http, string type, string kind, string setting, string value)
    {
        var problem = await HttpAssert.ProblemAsync(
            await http.PostAsJsonAsync("/v1/connections", new
            {
                name = $"pattern-{Guid.NewGuid():N}",
                kind,
                type,
                settings = new Dictionary<string, object> { [setting] = value },
            }),
            HttpStatusCode.BadRequest);
        Assert.NotEqual(JsonValueKind.Undefined, problem.GetProperty("errors").ValueKind);
        return HttpAssert.FieldErrors(problem, $"settings.{setting}");
    }
}
