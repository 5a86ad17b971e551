using System.Net;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Host;

public sealed class HostEndpointTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task OpenApiDocument_DescribesTheV1Api_AndTheDocsPageServes()
    {
        using var http = factory.CreateClient();
        var document = await HttpAssert.OkAsync(await http.GetAsync("/openapi/v1.json"));
        var paths = document.GetProperty("paths");
        foreach (var path in new[] { "/v1/pipelines", "/v1/pipelines/{id}", "/v1/connections/{id}/test", "/v1/audit-events", "/v1/tenants" })
        {
            Assert.True(paths.TryGetProperty(path, out _), $"{path} is missing from the OpenAPI document");
        }

        var oauth = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("oauth2");
        Assert.Equal("/connect/token", oauth.GetProperty("flows").GetProperty("clientCredentials").GetProperty("tokenUrl").GetString());

        var docs = await http.GetAsync("/docs");
        Assert.Equal(HttpStatusCode.OK, docs.StatusCode);
        Assert.Contains("openapi/v1.json", await docs.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HealthEndpoints_AnswerWithoutAToken()
    {
        using var http = factory.CreateClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/ready")).StatusCode);
    }

    [Fact]
    public async Task MetricsEndpoint_WithoutAConfiguredScrapeToken_IsNotFoundForEveryone()
    {
        using var http = factory.CreateClient();
        await HttpAssert.ProblemAsync(await http.GetAsync("/metrics"), HttpStatusCode.NotFound);

        // Not even an access token of the platform reaches it.
        using var platform = await factory.ClientForAsync(factory.Seed.PlatformClient.ClientId, factory.Seed.PlatformClient.ClientSecret);
        var response = await platform.GetAsync("/metrics");
        await HttpAssert.ProblemAsync(response, HttpStatusCode.NotFound);
    }
}
