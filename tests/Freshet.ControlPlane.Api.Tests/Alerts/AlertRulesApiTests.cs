using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Freshet.Testing;

namespace Freshet.ControlPlane.Api.Tests.Alerts;

/// <summary>Webhooks may reach loopback here, where the test's receiver listens (the refusal is tested apart).</summary>
public sealed class LoopbackWebhooksFactory : ControlPlaneFactory
{
    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings => [new("Freshet:Status:Alerts:AllowPrivateNetworks", "true")];
}

/// <summary>
/// Alert rules through the API: the signing secret is shown at creation and rotation only; a test send reaches a real
/// receiver signed with the current secret and is recorded with its attempt; edits honour If-Match and are audited;
/// bad rules are refused naming every problem; another tenant sees none of it.
/// </summary>
public sealed class AlertRulesApiTests(LoopbackWebhooksFactory factory) : IClassFixture<LoopbackWebhooksFactory>
{
    [Fact]
    public async Task Rule_ShowsItsSecretOnce_TestSendsAreSignedAndRecorded_RotationResigns_AndOtherTenantsSeeNothing()
    {
        await using var receiver = WebhookReceiver.Start(failFirst: 0);
        using var demo = await factory.DemoAdminClientAsync();
        var created = await HttpAssert.OkAsync(
            await demo.PostAsJsonAsync("/v1/alert-rules", new { name = "pipelines in trouble", condition = "health_state", webhook_url = receiver.Url }),
            HttpStatusCode.Created);
        var rule = created.GetProperty("rule");
        var id = rule.GetProperty("id").GetGuid();
        var secret = created.GetProperty("signing_secret").GetString()!;
        Assert.StartsWith("whsec_", secret, StringComparison.Ordinal);
        Assert.Equal(32, Convert.FromBase64String(secret["whsec_".Length..]).Length);
        Assert.Equal(["failing", "stale"], rule.GetProperty("states").EnumerateArray().Select(s => s.GetString()!).ToArray());
        Assert.Equal(900, rule.GetProperty("quiet_period_seconds").GetInt32());
        Assert.True(rule.GetProperty("enabled").GetBoolean());

        // Never again: not in the rule, not in the list.
        var read = await demo.GetAsync($"/v1/alert-rules/{id}");
        var readBody = await read.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        Assert.DoesNotContain(secret["whsec_".Length..], readBody, StringComparison.Ordinal);
        Assert.DoesNotContain("secret\"", readBody.Replace("secret_rotated_at\"", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain(secret["whsec_".Length..], await demo.GetStringAsync("/v1/alert-rules"), StringComparison.Ordinal);

        var test = await HttpAssert.OkAsync(await demo.PostAsync($"/v1/alert-rules/{id}/test", null));
        Assert.Equal("delivered", test.GetProperty("state").GetString());
        Assert.Equal(204, test.GetProperty("attempts")[0].GetProperty("status_code").GetInt32());
        var sample = await receiver.WaitForAsync(n => n.Type == "alert.test", TimeSpan.FromSeconds(10));
        Assert.Equal(test.GetProperty("id").GetGuid(), sample.Id);
        Assert.True(sample.SignatureValid(secret));
        Assert.True(sample.Body.GetProperty("test").GetBoolean());
        Assert.Equal(id, sample.RuleId);

        // Rotation: a new secret, shown once; the next notice is signed with it and not with the old one.
        var etag = read.Headers.ETag!.Tag;
        var rotated = await HttpAssert.OkAsync(await SendAsync(demo, HttpMethod.Post, $"/v1/alert-rules/{id}/rotate-secret", null, etag));
        var newSecret = rotated.GetProperty("signing_secret").GetString()!;
        Assert.NotEqual(secret, newSecret);
        await HttpAssert.OkAsync(await demo.PostAsync($"/v1/alert-rules/{id}/test", null));
        var resigned = await receiver.WaitForAsync(n => n.Type == "alert.test" && n.Id != sample.Id, TimeSpan.FromSeconds(10));
        Assert.True(resigned.SignatureValid(newSecret));
        Assert.False(resigned.SignatureValid(secret));

        // Edits: a stale ETag is refused; a good one applies; a threshold on a state rule is a 400.
        await HttpAssert.ProblemAsync(await SendAsync(demo, HttpMethod.Patch, $"/v1/alert-rules/{id}", new { enabled = false }, etag), HttpStatusCode.PreconditionFailed);
        var current = (await demo.GetAsync($"/v1/alert-rules/{id}")).Headers.ETag!.Tag;
        var patched = await HttpAssert.OkAsync(await SendAsync(demo, HttpMethod.Patch, $"/v1/alert-rules/{id}", new { states = new[] { "failing" }, for_seconds = 120 }, current));
        Assert.Equal(["failing"], patched.GetProperty("states").EnumerateArray().Select(s => s.GetString()!).ToArray());
        Assert.Equal(120, patched.GetProperty("for_seconds").GetInt32());
        var problem = await HttpAssert.ProblemAsync(await SendAsync(demo, HttpMethod.Patch, $"/v1/alert-rules/{id}", new { threshold = 5 }, null), HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(problem, "threshold"));

        // Both test sends are in the rule's deliveries, newest first, each with its attempt.
        var deliveries = (await HttpAssert.OkAsync(await demo.GetAsync($"/v1/alert-rules/{id}/deliveries"))).GetProperty("items");
        Assert.Equal([resigned.Id, sample.Id], deliveries.EnumerateArray().Select(d => d.GetProperty("id").GetGuid()).ToArray());
        Assert.All(deliveries.EnumerateArray(), d => Assert.Equal("delivered", d.GetProperty("state").GetString()));

        var audit = await demo.GetStringAsync("/v1/audit-events?page_size=100");
        foreach (var action in new[] { "alert_rule.created", "alert_rule.secret_rotated", "alert_rule.test_sent", "alert_rule.updated" })
        {
            Assert.Contains($"\"{action}\"", audit, StringComparison.Ordinal);
        }

        Assert.DoesNotContain(newSecret["whsec_".Length..], audit, StringComparison.Ordinal);

        // Another tenant: the rule, its deliveries and its test are not found; its alerts filter finds nothing.
        using var acme = await factory.AcmeAdminClientAsync();
        await HttpAssert.ProblemAsync(await acme.GetAsync($"/v1/alert-rules/{id}"), HttpStatusCode.NotFound);
        await HttpAssert.ProblemAsync(await acme.GetAsync($"/v1/alert-rules/{id}/deliveries"), HttpStatusCode.NotFound);
        await HttpAssert.ProblemAsync(await acme.PostAsync($"/v1/alert-rules/{id}/test", null), HttpStatusCode.NotFound);
        Assert.Empty((await HttpAssert.OkAsync(await acme.GetAsync($"/v1/alerts?rule_id={id}"))).GetProperty("items").EnumerateArray());
        Assert.Equal(2, receiver.All.Count);

        Assert.Equal(HttpStatusCode.NoContent, (await demo.DeleteAsync($"/v1/alert-rules/{id}")).StatusCode);
        await HttpAssert.ProblemAsync(await demo.GetAsync($"/v1/alert-rules/{id}"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task BadRules_AreRefused_NamingEveryProblem()
    {
        using var demo = await factory.DemoAdminClientAsync();
        using var acme = await factory.AcmeAdminClientAsync();
        var demoPipeline = (await HttpAssert.OkAsync(await demo.GetAsync("/v1/pipelines"))).GetProperty("items")[0].GetProperty("id").GetGuid();

        async Task<JsonElement> Refused(object body) =>
            await HttpAssert.ProblemAsync(await demo.PostAsJsonAsync("/v1/alert-rules", body), HttpStatusCode.BadRequest);

        var empty = await Refused(new { });
        foreach (var field in new[] { "name", "condition", "webhook_url" })
        {
            Assert.NotEmpty(HttpAssert.FieldErrors(empty, field));
        }

        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "lag_above", webhook_url = "https://example.com/h" }), "threshold"));
        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "lag_above", threshold = -1, webhook_url = "https://example.com/h" }), "threshold"));
        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "retained_wal_above", threshold = 1e18, webhook_url = "https://example.com/h" }), "threshold"));
        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "lag_above", threshold = 5, states = new[] { "failing" }, webhook_url = "https://example.com/h" }), "states"));
        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "health_state", states = Array.Empty<string>(), webhook_url = "https://example.com/h" }), "states"));
        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "table_quarantined", webhook_url = "ftp://example.com/h" }), "webhook_url"));
        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "table_quarantined", webhook_url = "https://user:pw@example.com/h" }), "webhook_url"));
        Assert.NotEmpty(HttpAssert.FieldErrors(await Refused(new { name = "n", condition = "table_quarantined", webhook_url = "https://example.com/h", for_seconds = 90_000 }), "for_seconds"));
        // Another tenant's pipeline is no pipeline of this tenant.
        var foreign = await HttpAssert.ProblemAsync(
            await acme.PostAsJsonAsync("/v1/alert-rules", new { name = "n", condition = "table_quarantined", webhook_url = "https://example.com/h", pipeline_id = demoPipeline }),
            HttpStatusCode.BadRequest);
        Assert.NotEmpty(HttpAssert.FieldErrors(foreign, "pipeline_id"));
        // An unknown condition is a readable 400, not a 500.
        await HttpAssert.ProblemAsync(await demo.PostAsync("/v1/alert-rules", new StringContent("""{"name":"n","condition":"moon_phase","webhook_url":"https://example.com/h"}""", Encoding.UTF8, "application/json")), HttpStatusCode.BadRequest);

        var rule = new { name = "wal", condition = "retained_wal_above", threshold = 50e9, webhook_url = "https://example.com/h" };
        await HttpAssert.OkAsync(await demo.PostAsJsonAsync("/v1/alert-rules", rule), HttpStatusCode.Created);
        await HttpAssert.ProblemAsync(await demo.PostAsJsonAsync("/v1/alert-rules", rule), HttpStatusCode.Conflict);
    }

    private static Task<HttpResponseMessage> SendAsync(HttpClient http, HttpMethod method, string path, object? body, string? ifMatch)
    {
        var request = new HttpRequestMessage(method, path) { Content = body is null ? null : JsonContent.Create(body) };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return http.SendAsync(request);
    }
}

/// <summary>By default (a managed installation) a webhook may not reach internal addresses: the test send says why.</summary>
public sealed class AlertWebhookPolicyTests(ControlPlaneFactory factory) : IClassFixture<ControlPlaneFactory>
{
    [Fact]
    public async Task WebhookToALoopbackAddress_IsRefusedAtSendTime_WithAReason_AndNothingArrives()
    {
        await using var receiver = WebhookReceiver.Start(failFirst: 0);
        using var demo = await factory.DemoAdminClientAsync();
        var created = await HttpAssert.OkAsync(
            await demo.PostAsJsonAsync("/v1/alert-rules", new { name = "to loopback", condition = "table_quarantined", webhook_url = receiver.Url }),
            HttpStatusCode.Created);
        var id = created.GetProperty("rule").GetProperty("id").GetGuid();
        var test = await HttpAssert.OkAsync(await demo.PostAsync($"/v1/alert-rules/{id}/test", null));
        Assert.Equal("failed", test.GetProperty("state").GetString());
        var attempt = Assert.Single(test.GetProperty("attempts").EnumerateArray());
        Assert.Contains("internal address", attempt.GetProperty("error").GetString(), StringComparison.Ordinal);
        Assert.Equal(JsonValueKind.Null, attempt.GetProperty("status_code").ValueKind);
        await Task.Delay(500);
        Assert.Empty(receiver.All);
    }
}
