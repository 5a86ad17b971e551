using System.Net;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Common;

public sealed class LowRateLimitFactory : ControlPlaneFactory
{
    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
    [
        new("Freshet:Api:RateLimitPerSecond", "1"),
        new("Freshet:Api:RateLimitBurst", "5"),
        new("Freshet:Auth:WorkerClient:ClientSecret", "worker-secret-rate-limit"),
    ];
}

public sealed class RateLimitTests(LowRateLimitFactory factory) : IClassFixture<LowRateLimitFactory>
{
    [Fact]
    public async Task BurstOverTheTenantsLimit_Gets429WithRetryAfter_OtherTenantsUnaffected()
    {
        using var demo = await factory.DemoAdminClientAsync();
        using var acme = await factory.AcmeAdminClientAsync();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 20 && limited is null; i++)
        {
            var response = await demo.GetAsync("/v1/pipelines");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
            {
                limited = response;
            }
        }

        Assert.NotNull(limited);
        await HttpAssert.ProblemAsync(limited!, HttpStatusCode.TooManyRequests);
        Assert.True(int.Parse(limited!.Headers.GetValues("Retry-After").Single(), System.Globalization.CultureInfo.InvariantCulture) >= 1);
        await HttpAssert.OkAsync(await acme.GetAsync("/v1/pipelines"));
    }

    [Fact]
    public async Task Workers_HaveTheirOwnBucket_ApartFromTenants()
    {
        using var demo = await factory.DemoAdminClientAsync();
        for (var i = 0; i < 20 && (await demo.GetAsync("/v1/pipelines")).StatusCode != HttpStatusCode.TooManyRequests; i++)
        {
        }

        using var worker = await factory.ClientForAsync("freshet-worker", "worker-secret-rate-limit");
        // Not 429 although the tenant's bucket is empty (an unregistered worker simply has nothing assigned).
        var response = await worker.GetAsync($"/v1/worker/{Guid.NewGuid()}/assignments");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
