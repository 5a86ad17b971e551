using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freshet.Testing;
using Freshet.Testing.Pool;
using Npgsql;
using Xunit.Abstractions;

namespace Freshet.WorkerPool.Tests;

/// <summary>
/// Alerts end to end: a real pipeline into a PostgreSQL destination, its destination table locked on purpose so the
/// worker cannot apply, turns Lagging then Failing; two alert rules (lag above a threshold, state Failing) post signed
/// notices to a webhook receiver in this test, which verifies each signature the way Standard Webhooks specifies; when
/// the lock is released the pipeline recovers and both alerts resolve with notices of their own.
/// </summary>
public sealed class AlertWebhookTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task BlockedDestination_TurnsLaggingThenFailing_FiresSignedWebhooks_AndResolvesWhenUnblocked()
    {
        await using var cluster = await PoolCluster.StartAsync(controlPlanes: 1, workers: 1, controlSettings: new Dictionary<string, string>
        {
            // No progress for 8 s is Failing here (10 min in production), so the test sees the whole story in seconds.
            ["Freshet__Status__Health__FailingAfterNoProgress"] = "00:00:08",
            ["Freshet__Status__Alerts__EvaluationInterval"] = "00:00:00.500",
            ["Freshet__Status__Alerts__RetryDelay"] = "00:00:00.100",
            // The receiver is this test, on loopback.
            ["Freshet__Status__Alerts__AllowPrivateNetworks"] = "true",
        });
        await using var receiver = WebhookReceiver.Start(failFirst: 1);
        await cluster.CreateSourceTableAsync("accounts");
        var pipeline = await cluster.CreatePipelineAsync("accounts", postgresDestination: true);
        Assert.True((await cluster.Api.PatchAsync($"/v1/pipelines/{pipeline.Id}", JsonContent.Create(new { lag_threshold_seconds = 2 }))).IsSuccessStatusCode);
        await cluster.WaitForPlacementsAsync(p => p.TryGetValue(pipeline.Id, out var row) && row.State == "Streaming", Settle, "the pipeline streaming");
        await WaitForHealthAsync(cluster, pipeline.Id, "healthy");

        var lagRule = await CreateRuleAsync(cluster, new { name = "lag over 1 s", condition = "lag_above", threshold = 1, for_seconds = 1, pipeline_id = pipeline.Id, webhook_url = receiver.Url });
        var failingRule = await CreateRuleAsync(cluster, new { name = "failing", condition = "health_state", states = new[] { "failing" }, webhook_url = receiver.Url });

        // Block the destination: the worker's apply waits on the lock while the source keeps changing.
        await using var blocker = new NpgsqlConnection(cluster.DestinationConnectionString);
        await blocker.OpenAsync();
        await using var transaction = await blocker.BeginTransactionAsync();
        await using (var lockTable = new NpgsqlCommand("LOCK TABLE freshet.accounts IN ACCESS EXCLUSIVE MODE", blocker, transaction))
        {
            await lockTable.ExecuteNonQueryAsync();
        }

        await using var load = SourceLoad.Start(cluster.SourceConnectionString, ["accounts"], TimeSpan.FromMilliseconds(200));
        var seen = await WaitForHealthAsync(cluster, pipeline.Id, "failing");
        output.WriteLine($"health while blocked: {string.Join(" → ", seen)}");
        Assert.Contains("lagging", seen);
        Assert.True(seen.IndexOf("lagging") < seen.IndexOf("failing"), string.Join(" → ", seen));

        var lagFiring = await receiver.WaitForAsync(n => n.Type == "alert.firing" && n.RuleId == lagRule.Id, Settle);
        var failingFiring = await receiver.WaitForAsync(n => n.Type == "alert.firing" && n.RuleId == failingRule.Id, Settle);
        foreach (var (notice, rule) in new[] { (lagFiring, lagRule), (failingFiring, failingRule) })
        {
            Assert.True(notice.SignatureValid(rule.Secret), $"signature of {notice.Id} does not verify with the rule's secret");
            Assert.False(notice.SignatureValid(failingRule == rule ? lagRule.Secret : failingRule.Secret), "a signature verified with another rule's secret");
            Assert.InRange(Math.Abs(DateTimeOffset.UtcNow.ToUnixTimeSeconds() - notice.Timestamp), 0, 300);
            Assert.Equal(pipeline.Id, notice.Body.GetProperty("pipeline").GetProperty("id").GetGuid());
        }

        Assert.Equal("failing", failingFiring.Body.GetProperty("health").GetProperty("state").GetString());
        Assert.True(lagFiring.Body.GetProperty("alert").GetProperty("value").GetDouble() > 1, lagFiring.Body.ToString());

        // The receiver refused the very first post (503): it was retried with the same id, and both tries are recorded.
        var firstId = receiver.Refused.Single();
        var retried = receiver.All.Where(n => n.Id == firstId).ToList();
        Assert.Single(retried);
        var deliveries = await GetAsync(cluster, $"/v1/alert-rules/{retried[0].RuleId}/deliveries");
        var attempts = deliveries.GetProperty("items").EnumerateArray().Single(d => d.GetProperty("id").GetGuid() == firstId).GetProperty("attempts");
        Assert.Equal([503, 204], attempts.EnumerateArray().Select(a => a.GetProperty("status_code").GetInt32()).ToArray());

        // Unblock: the pipeline catches up, turns healthy, and both alerts resolve with a notice.
        await transaction.RollbackAsync();
        await load.StopAsync();
        await WaitForHealthAsync(cluster, pipeline.Id, "healthy");
        var lagResolved = await receiver.WaitForAsync(n => n.Type == "alert.resolved" && n.RuleId == lagRule.Id, Settle);
        var failingResolved = await receiver.WaitForAsync(n => n.Type == "alert.resolved" && n.RuleId == failingRule.Id, Settle);
        Assert.True(lagResolved.SignatureValid(lagRule.Secret));
        Assert.True(failingResolved.SignatureValid(failingRule.Secret));
        Assert.Equal(lagFiring.Body.GetProperty("alert").GetProperty("id").GetInt64(), lagResolved.Body.GetProperty("alert").GetProperty("id").GetInt64());

        // The history: one alert per rule, notified, resolved because the condition cleared; none open.
        var history = (await GetAsync(cluster, "/v1/alerts")).GetProperty("items").EnumerateArray().ToList();
        output.WriteLine(string.Join("\n", history.Select(h => h.ToString())));
        foreach (var rule in new[] { lagRule, failingRule })
        {
            var alert = Assert.Single(history, h => h.GetProperty("rule_id").GetGuid() == rule.Id);
            Assert.Equal("cleared", alert.GetProperty("resolution").GetString());
            Assert.True(alert.GetProperty("notified").GetBoolean());
        }

        Assert.Empty((await GetAsync(cluster, "/v1/alerts?state=open")).GetProperty("items").EnumerateArray());
        Assert.Equal(4, receiver.All.Select(n => n.Id).Distinct().Count());
    }

    /// <summary>Polls the status API until the pipeline's health is <paramref name="health"/>; returns every health seen on the way, in order.</summary>
    private static async Task<List<string>> WaitForHealthAsync(PoolCluster cluster, Guid pipeline, string health)
    {
        var seen = new List<string>();
        for (var deadline = DateTime.UtcNow + Settle; DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            var now = (await GetAsync(cluster, $"/v1/pipelines/{pipeline}/status")).GetProperty("health").GetString()!;
            if (seen.Count == 0 || seen[^1] != now)
            {
                seen.Add(now);
            }

            if (now == health)
            {
                return seen;
            }
        }

        Assert.Fail($"the pipeline did not turn {health} within {Settle.TotalSeconds} s; seen: {string.Join(" → ", seen)}\n{cluster.Logs()}");
        return seen;
    }

    private static async Task<(Guid Id, string Secret)> CreateRuleAsync(PoolCluster cluster, object rule)
    {
        var response = await cluster.Api.PostAsJsonAsync("/v1/alert-rules", rule);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        var created = JsonDocument.Parse(body).RootElement;
        return (created.GetProperty("rule").GetProperty("id").GetGuid(), created.GetProperty("signing_secret").GetString()!);
    }

    private static async Task<JsonElement> GetAsync(PoolCluster cluster, string path)
    {
        var response = await cluster.Api.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }
}
