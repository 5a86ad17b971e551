using System.Net;
using System.Text;
using System.Text.Json;
using Freshet.ControlPlane.Api.Tenancy;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static Freshet.ControlPlane.Api.Tests.Tenancy.EndpointCatalog;

namespace Freshet.ControlPlane.Api.Tests.Tenancy;

/// <summary>Every role against every endpoint; every endpoint with another tenant's ids; support staff's read-only view.</summary>
public sealed class AccessControlTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    private static readonly Needs[] TenantRoles = [Needs.Viewer, Needs.Editor, Needs.Admin, Needs.Owner];

    [Fact]
    public void Catalog_CoversEveryV1Endpoint_AndEachDeclaresItsAccess()
    {
        var endpoints = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.RoutePattern.RawText?.StartsWith("/v1", StringComparison.Ordinal) == true && e.RoutePattern.RawText != "/v1/me")
            .ToList();
        Assert.NotEmpty(endpoints);
        var catalog = All.Select(e => $"{e.Method} {Normalise(e.Route)}").ToHashSet();
        foreach (var endpoint in endpoints)
        {
            var method = endpoint.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.HttpMethodMetadata>()!.HttpMethods.Single();
            var route = Normalise(endpoint.RoutePattern.RawText!);
            Assert.True(catalog.Contains($"{method} {route}"), $"{method} {route} is not in the access catalog: add it with the role it needs.");
            Assert.True(
                endpoint.Metadata.GetMetadata<TenantAccess>() is not null || endpoint.Metadata.GetMetadata<PlatformAccess>() is not null
                    || endpoint.Metadata.GetMetadata<Freshet.ControlPlane.Api.Workers.WorkerAccess>() is not null,
                $"{method} {route} declares no access rule.");
        }

        Assert.Equal(catalog.Count, endpoints.Count);
    }

    [Fact]
    public async Task EveryTenantRole_OnEveryEndpoint_IsAllowedOrForbiddenAsDeclared()
    {
        var ids = await DemoIdsAsync();
        var failures = new List<string>();
        foreach (var role in TenantRoles)
        {
            using var http = await ClientWithRoleAsync(role);
            foreach (var endpoint in All)
            {
                using var response = await SendAsync(http, endpoint, endpoint.Writes ? Nowhere : ids);
                var status = (int)response.StatusCode;
                if (endpoint.IsPlatform() || endpoint.IsWorker())
                {
                    if (status != 404)
                    {
                        failures.Add($"{role} on {endpoint}: {status}, expected 404 (platform and worker endpoints are invisible to tenants)");
                    }
                }
                else if (role >= endpoint.Needs)
                {
                    if (status is 401 or 403 or >= 500)
                    {
                        failures.Add($"{role} on {endpoint}: {status}, expected it to be allowed");
                    }
                }
                else if (status != 403)
                {
                    failures.Add($"{role} on {endpoint}: {status}, expected 403");
                }
                else
                {
                    await HttpAssert.ProblemAsync(response, HttpStatusCode.Forbidden);
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public async Task AnotherTenantsIds_OnEveryIdEndpoint_Answer404()
    {
        var demoIds = await DemoIdsAsync();
        using var acme = await factory.AcmeAdminClientAsync();
        var failures = new List<string>();
        foreach (var endpoint in All.Where(e => e.Resource() is not null && !e.IsPlatform() && !e.IsWorker()))
        {
            using var response = await SendAsync(acme, endpoint, demoIds);
            if (response.StatusCode != HttpStatusCode.NotFound)
            {
                failures.Add($"{endpoint} with a demo id from acme: {(int)response.StatusCode}");
            }
            else
            {
                await HttpAssert.ProblemAsync(response, HttpStatusCode.NotFound);
            }
        }

        Assert.True(failures.Count == 0, string.Join('\n', failures));

        // And the demo resources are untouched and still visible to their own tenant.
        using var demo = await factory.DemoAdminClientAsync();
        await HttpAssert.OkAsync(await demo.GetAsync($"/v1/pipelines/{demoIds["pipelines"]}"));
        await HttpAssert.OkAsync(await demo.GetAsync($"/v1/connections/{demoIds["connections"]}"));

        // Lists are scoped too: none of the demo tenant's ids appears in any of acme's lists.
        foreach (var list in new[] { "/v1/pipelines", "/v1/connections", "/v1/members", "/v1/api-clients", "/v1/audit-events", "/v1/alert-rules", "/v1/alerts" })
        {
            var body = (await HttpAssert.OkAsync(await acme.GetAsync($"{list}?page_size=100"))).GetRawText();
            Assert.DoesNotContain(demoIds.Where(kv => kv.Key != "tenants").Select(kv => kv.Value), id => body.Contains(id, StringComparison.Ordinal));
        }

        // Naming the other tenant explicitly does not help either.
        using var acmeNamingDemo = await factory.ClientForAsync(factory.Seed.Tenants[1].ClientId, factory.Seed.Tenants[1].ClientSecret, tenant: "demo");
        await HttpAssert.ProblemAsync(await acmeNamingDemo.GetAsync("/v1/pipelines"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task SupportStaff_ReadEveryTenantReadOnly_AndEachReadIsAudited()
    {
        var support = factory.Seed.SupportUser;
        using var http = await UserSignIn.UserClientAsync(factory, support.Email, support.Password, tenant: "acme");
        var pipelines = await HttpAssert.OkAsync(await http.GetAsync("/v1/pipelines"));
        Assert.Equal(JsonValueKind.Array, pipelines.GetProperty("items").ValueKind);
        var tenant = await HttpAssert.OkAsync(await http.GetAsync("/v1/tenant"));
        Assert.True(tenant.GetProperty("support_access").GetBoolean());

        var ids = await DemoIdsAsync();
        using var supportOnDemo = await UserSignIn.UserClientAsync(factory, support.Email, support.Password, tenant: "demo");
        foreach (var endpoint in All.Where(e => !e.IsPlatform()))
        {
            using var response = await SendAsync(supportOnDemo, endpoint, ids);
            var status = (int)response.StatusCode;
            if (endpoint.IsWorker())
            {
                Assert.True(status == 404, $"support on {endpoint}: {status}, expected 404 (only workers reach it)");
                continue;
            }

            Assert.True(endpoint.Writes ? status == 403 : status is 200 or 404 or 502 or 501, $"support on {endpoint}: {status}");
        }

        await HttpAssert.OkAsync(await supportOnDemo.GetAsync("/v1/tenants"));
        await HttpAssert.ProblemAsync(await supportOnDemo.PostAsync("/v1/tenants", Json("{}")), HttpStatusCode.Forbidden);

        // The support view across tenants: every tenant, worst first (no worker runs here, so a tenant with pipelines
        // has them all pending, and one without any comes last); a tenant's drill-down matches what its members see.
        var tenants = (await HttpAssert.OkAsync(await supportOnDemo.GetAsync("/v1/support/tenants"))).EnumerateArray().ToList();
        var demo = Assert.Single(tenants, t => t.GetProperty("slug").GetString() == "demo");
        var demoPipelines = demo.GetProperty("pipelines").GetInt32();
        Assert.True(demoPipelines > 0);
        Assert.Equal("pending", demo.GetProperty("worst").GetString());
        Assert.Equal(demoPipelines, demo.GetProperty("counts").GetProperty("pending").GetInt32());
        var worst = tenants.Select(t => t.GetProperty("worst").ValueKind == JsonValueKind.Null ? 1 : 0).ToList();
        Assert.Equal(worst.Order(), worst);
        var acmeId = Assert.Single(tenants, t => t.GetProperty("slug").GetString() == "acme").GetProperty("tenant_id").GetString();
        var drill = await HttpAssert.OkAsync(await supportOnDemo.GetAsync($"/v1/support/tenants/{acmeId}/status"));
        var own = await HttpAssert.OkAsync(await http.GetAsync("/v1/status"));
        Assert.Equal(own.GetProperty("pipelines").GetArrayLength(), drill.GetProperty("pipelines").GetArrayLength());
        await HttpAssert.ProblemAsync(await supportOnDemo.GetAsync($"/v1/support/tenants/{Guid.NewGuid()}/status"), HttpStatusCode.NotFound);

        using var acmeAdmin = await factory.AcmeAdminClientAsync();
        var audit = await HttpAssert.OkAsync(await acmeAdmin.GetAsync("/v1/audit-events?action=support.read&page_size=100"));
        var reads = audit.GetProperty("items").EnumerateArray().ToList();
        Assert.Contains(reads, e => e.GetProperty("actor_name").GetString() == support.Email && e.GetProperty("details").GetProperty("path").GetString() == "/v1/pipelines");
        Assert.Contains(reads, e => e.GetProperty("details").GetProperty("path").GetString() == $"/v1/support/tenants/{acmeId}/status");
        Assert.All(reads, e => Assert.Equal("user", e.GetProperty("actor_type").GetString()));
    }

    [Fact]
    public async Task UserWithoutMembership_AndNoPlatformRole_SeesNoTenant()
    {
        using var admin = await factory.DemoAdminClientAsync();
        var email = $"outsider-{Guid.NewGuid():N}@example.com";
        await HttpAssert.OkAsync(await admin.PostAsync("/v1/members", Json(JsonSerializer.Serialize(new { email, role = "viewer", initial_password = "Outsider-pass-1" }))), HttpStatusCode.Created);
        using var member = await UserSignIn.UserClientAsync(factory, email, "Outsider-pass-1");
        await HttpAssert.OkAsync(await member.GetAsync("/v1/pipelines"));
        member.DefaultRequestHeaders.Add("Freshet-Tenant", "acme");
        await HttpAssert.ProblemAsync(await member.GetAsync("/v1/pipelines"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task WithoutWorkerClient_NoWorkerTokenIsIssued_AndPipelinesNobodyRunsArePending()
    {
        using var anonymous = factory.CreateClient();
        var token = await anonymous.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = "freshet-worker",
            ["client_secret"] = "anything",
        }));
        Assert.False(token.IsSuccessStatusCode, "no worker client exists while no secret is configured");

        using var platform = await factory.ClientForAsync(factory.Seed.PlatformClient.ClientId, factory.Seed.PlatformClient.ClientSecret);
        // The host runs the real scheduler module, with no worker registered.
        var workers = await HttpAssert.OkAsync(await platform.GetAsync("/v1/workers"));
        Assert.Empty(workers.GetProperty("items").EnumerateArray());

        using var demo = await factory.DemoAdminClientAsync();
        var pipelines = await HttpAssert.OkAsync(await demo.GetAsync("/v1/pipelines"));
        Assert.All(pipelines.GetProperty("items").EnumerateArray(), p => Assert.Contains(
            p.GetProperty("runtime").GetProperty("state").GetString(),
            p.GetProperty("desired_state").GetString() == "paused" ? ["paused"] : new[] { "pending" }));
    }

    private async Task<HttpClient> ClientWithRoleAsync(Needs role)
    {
        if (role == Needs.Owner)
        {
            var owner = factory.Seed.Tenants[0];
            return await UserSignIn.UserClientAsync(factory, owner.AdminEmail, owner.AdminPassword);
        }

        var (clientId, secret) = await factory.CreateDemoClientAsync(role.ToString().ToLowerInvariant());
        return await factory.ClientForAsync(clientId, secret);
    }

    /// <summary>Real ids of one resource of each kind in the demo tenant.</summary>
    private async Task<Dictionary<string, string>> DemoIdsAsync()
    {
        using var demo = await factory.DemoAdminClientAsync();
        async Task<string> FirstId(string path, string property = "id") =>
            (await HttpAssert.OkAsync(await demo.GetAsync(path))).GetProperty("items")[0].GetProperty(property).GetString()!;
        var tenant = await HttpAssert.OkAsync(await demo.GetAsync("/v1/tenant"));
        return new Dictionary<string, string>
        {
            ["alert-rules"] = await DemoAlertRuleIdAsync(demo),
            ["members"] = await FirstId("/v1/members", "user_id"),
            ["api-clients"] = await FirstId("/v1/api-clients"),
            ["connections"] = await FirstId("/v1/connections"),
            ["pipelines"] = await FirstId("/v1/pipelines"),
            ["tenants"] = tenant.GetProperty("id").GetString()!,
            // /v1/support/tenants/{id}: a tenant's id.
            ["support"] = tenant.GetProperty("id").GetString()!,
            ["workers"] = Guid.NewGuid().ToString(),
            ["worker"] = Guid.NewGuid().ToString(),
        };
    }

    /// <summary>The demo tenant has no alert rule when seeded: one is made (once), aimed at an address that never answers.</summary>
    private static async Task<string> DemoAlertRuleIdAsync(HttpClient demo)
    {
        var rules = (await HttpAssert.OkAsync(await demo.GetAsync("/v1/alert-rules"))).GetProperty("items");
        if (rules.GetArrayLength() > 0)
        {
            return rules[0].GetProperty("id").GetString()!;
        }

        var created = await HttpAssert.OkAsync(
            await demo.PostAsync("/v1/alert-rules", Json("""{"name":"access-test","condition":"health_state","webhook_url":"https://hooks.invalid/freshet"}""")),
            HttpStatusCode.Created);
        return created.GetProperty("rule").GetProperty("id").GetString()!;
    }

    /// <summary>Ids that name nothing: an allowed write answers 404 and changes nothing, a denied one 403.</summary>
    private static readonly Dictionary<string, string> Nowhere = new[] { "alert-rules", "members", "api-clients", "connections", "pipelines", "tenants", "support", "workers", "worker" }
        .ToDictionary(r => r, _ => Guid.NewGuid().ToString());

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, Endpoint endpoint, IReadOnlyDictionary<string, string> ids)
    {
        var route = endpoint.Resource() is { } resource ? endpoint.Route.Replace("{id}", ids[resource], StringComparison.Ordinal) : endpoint.Route;
        var request = new HttpRequestMessage(new HttpMethod(endpoint.Method), route);
        if (endpoint.Body is not null)
        {
            request.Content = Json(endpoint.Body);
        }

        // Headers only: /v1/status/stream never ends, and its status code is all these tests judge.
        return http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static string Normalise(string route) =>
        System.Text.RegularExpressions.Regex.Replace(route, @"\{[^}]+\}", "{id}").Replace("{id}/revisions/{id}", "{id}/revisions/1", StringComparison.Ordinal).TrimEnd('/');
}
