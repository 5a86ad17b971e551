using System.Net;
using System.Net.Http.Json;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Tenants;

public sealed class TenantLifecycleTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task PlatformAdmin_CreatesTenant_OwnerSignsIn_ManagesMembers_CannotDropLastOwner()
    {
        using var platform = await factory.ClientForAsync(factory.Seed.PlatformClient.ClientId, factory.Seed.PlatformClient.ClientSecret);
        var slug = $"t{Guid.NewGuid():N}"[..20];
        var created = await HttpAssert.OkAsync(
            await platform.PostAsJsonAsync("/v1/tenants", new { slug, name = "Fresh Tenant", owner_email = $"owner@{slug}.example.com", owner_password = "Owner-pass-123" }),
            HttpStatusCode.Created);
        Assert.Equal(slug, created.GetProperty("tenant").GetProperty("slug").GetString());
        await HttpAssert.ProblemAsync(
            await platform.PostAsJsonAsync("/v1/tenants", new { slug, name = "Again", owner_email = "x@example.com" }), HttpStatusCode.Conflict);
        var badSlug = await HttpAssert.ProblemAsync(
            await platform.PostAsJsonAsync("/v1/tenants", new { slug = "Not A Slug!", name = "x", owner_email = "not-an-email" }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(badSlug, "slug"));
        Assert.NotEmpty(HttpAssert.FieldErrors(badSlug, "owner_email"));

        using var owner = await UserSignIn.UserClientAsync(factory, $"owner@{slug}.example.com", "Owner-pass-123");
        var tenant = await HttpAssert.OkAsync(await owner.GetAsync("/v1/tenant"));
        Assert.Equal("owner", tenant.GetProperty("role").GetString());
        Assert.Equal(0, (await HttpAssert.OkAsync(await owner.GetAsync("/v1/pipelines"))).GetProperty("items").GetArrayLength());

        var ownerId = (await HttpAssert.OkAsync(await owner.GetAsync("/v1/members"))).GetProperty("items")[0].GetProperty("user_id").GetString();
        await HttpAssert.ProblemAsync(await owner.PatchAsJsonAsync($"/v1/members/{ownerId}", new { role = "admin" }), HttpStatusCode.Conflict);
        await HttpAssert.ProblemAsync(await owner.DeleteAsync($"/v1/members/{ownerId}"), HttpStatusCode.Conflict);

        var added = await HttpAssert.OkAsync(await owner.PostAsJsonAsync("/v1/members", new { email = $"second@{slug}.example.com", role = "owner" }), HttpStatusCode.Created);
        Assert.True(added.GetProperty("account_created").GetBoolean());
        Assert.False(string.IsNullOrEmpty(added.GetProperty("initial_password").GetString()));
        await HttpAssert.ProblemAsync(await owner.PostAsJsonAsync("/v1/members", new { email = $"second@{slug}.example.com", role = "viewer" }), HttpStatusCode.Conflict);
        await HttpAssert.OkAsync(await owner.PatchAsJsonAsync($"/v1/members/{ownerId}", new { role = "admin" }));

        var renamed = await HttpAssert.OkAsync(await platform.PatchAsJsonAsync($"/v1/tenants/{created.GetProperty("tenant").GetProperty("id").GetString()}", new { name = "Renamed Tenant" }));
        Assert.Equal("Renamed Tenant", renamed.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Admin_CannotMintAClientAboveItsOwnRole_NorAnOwnerClient()
    {
        var (adminId, adminSecret) = await factory.CreateDemoClientAsync("admin");
        using var admin = await factory.ClientForAsync(adminId, adminSecret);
        var owner = await HttpAssert.ProblemAsync(await admin.PostAsJsonAsync("/v1/api-clients", new { name = "too strong", role = "owner" }), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(owner, "role"));
        var viewer = await HttpAssert.OkAsync(await admin.PostAsJsonAsync("/v1/api-clients", new { name = "reader", role = "viewer" }), HttpStatusCode.Created);
        Assert.StartsWith("fs_", viewer.GetProperty("client_secret").GetString(), StringComparison.Ordinal);
        var read = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/api-clients/{viewer.GetProperty("id").GetString()}"));
        Assert.False(read.TryGetProperty("client_secret", out _));
    }
}
