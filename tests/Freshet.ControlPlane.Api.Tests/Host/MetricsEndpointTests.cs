using System.Text.Json;
using System.Net.Http.Json;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freshet.ControlPlane.Api.Tests.Host;

/// <summary>A control plane with a scrape token, quick metrics refreshes, and a rate limit /metrics must not count against.</summary>
public sealed class MetricsFactory : ControlPlaneFactory
{
    public const string ScrapeToken = "test-scrape-token-0123456789abcdef";

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
    [
        new("Freshet:Metrics:ScrapeToken", ScrapeToken),
        new("Freshet:Status:Metrics:RefreshInterval", "00:00:00.200"),
        new("Freshet:Api:RateLimitPerSecond", "1"),
        new("Freshet:Api:RateLimitBurst", "1"),
    ];
}

/// <summary>
/// Alone, not beside other hosts: OpenTelemetry's metric listeners are process-wide, and a scrape taken while other test
/// hosts start and stop in parallel came back empty (only <c>target_info</c>) in the full assembly run.
/// </summary>
[CollectionDefinition(nameof(MetricsEndpointTests), DisableParallelization = true)]
public sealed class MetricsEndpointCollection;

[Collection(nameof(MetricsEndpointTests))]
public sealed class MetricsEndpointTests(MetricsFactory factory) : IClassFixture<MetricsFactory>
{
    [Fact]
    public async Task Scrape_AfterAReportIsIngested_ShowsThePipelinesGaugesWithItsTenant()
    {
        var (pipelineId, tenantId) = await FirstPipelineAsync();
        var now = DateTimeOffset.UtcNow;
        var report = new PipelineProgressReport(
            pipelineId, Epoch: 1, PipelineRunState.Streaming, Reason: null, NextAttemptAt: null, SourceHeadPosition: 50_000, CommittedPosition: 45_904,
            LagBytes: 4_096, LagSeconds: 12.5, RowsPerSecond: 3.25, BytesPerSecond: 300, LastDeliveryAt: now, LastSourceCommitAt: now,
            RetainedWalBytes: 8_192, RowsDelivered: 777, Batches: 5, Retries: 0, Errors: 0, new Dictionary<string, TableProgressReport>(), now);
        await factory.Services.GetRequiredService<IPipelineStatusSink>().IngestAsync(Guid.NewGuid(), [report], CancellationToken.None);
        using (var http = factory.CreateClient())
        {
            // A request served before the scrape, for the HTTP server's duration histogram to have a point.
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);
        }

        var labels = $"pipeline_id=\"{pipelineId}\"";
        var scrape = await ScrapeUntilAsync(text => Sample(text, "freshet_pipeline_lag_seconds", labels) is not null);
        var lag = Sample(scrape, "freshet_pipeline_lag_seconds", labels)!;
        Assert.Contains($"tenant_id=\"{tenantId}\"", lag.Value.Labels, StringComparison.Ordinal);
        Assert.Equal(12.5, lag.Value.Value);
        Assert.Equal(4096, Sample(scrape, "freshet_pipeline_lag_bytes", labels)?.Value);
        Assert.Equal(3.25, Sample(scrape, "freshet_pipeline_rows_per_second", labels)?.Value);
        Assert.Equal(300, Sample(scrape, "freshet_pipeline_bytes_per_second", labels)?.Value);
        Assert.Equal(8192, Sample(scrape, "freshet_pipeline_retained_wal_bytes", labels)?.Value);
        Assert.Equal(777, Sample(scrape, "freshet_pipeline_rows_delivered_total", labels)?.Value);
        Assert.Equal(1, Sample(scrape, "freshet_pipeline_run_state", labels, "state=\"streaming\"")?.Value);
        Assert.Equal(0, Sample(scrape, "freshet_pipeline_run_state", labels, "state=\"failed\"")?.Value);

        // The ingest's own figures and the process's runtime and HTTP server metrics come through the same endpoint.
        Assert.True(Sample(scrape, "freshet_status_reports_ingested_total", "") is { Value: >= 1 }, scrape);
        Assert.True(Sample(scrape, "freshet_status_ingest_duration_seconds_count", "") is { Value: >= 1 }, scrape);
        Assert.True(Sample(scrape, "freshet_status_ingest_duration_seconds_bucket", "le=\"10\"") is { Value: >= 1 }, scrape);
        Assert.Null(Sample(scrape, "freshet_status_ingest_duration_seconds_bucket", "le=\"10000\""));
        Assert.Contains("\nhttp_server_request_duration_seconds_bucket{", scrape, StringComparison.Ordinal);
        Assert.Contains("\ndotnet_gc_", scrape, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Scrape_AfterAnAlertTestSend_CountsTheNoticeAndItsAttempt()
    {
        using var demo = await factory.DemoAdminClientAsync();
        // A loopback address, refused by default: the notice fails at its one attempt without any receiver needed.
        var created = await WithinRateLimitAsync(() => demo.PostAsJsonAsync("/v1/alert-rules", new { name = "metrics", condition = "table_quarantined", webhook_url = "http://127.0.0.1:9/hook" }));
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("rule").GetProperty("id").GetGuid();
        Assert.Equal(HttpStatusCode.OK, (await WithinRateLimitAsync(() => demo.PostAsync($"/v1/alert-rules/{id}/test", null))).StatusCode);

        var scrape = await ScrapeUntilAsync(text => Sample(text, "freshet_alert_notices_total", "outcome=\"failed\"", "type=\"alert.test\"") is not null);
        Assert.Equal(1, Sample(scrape, "freshet_alert_notices_total", "outcome=\"failed\"", "type=\"alert.test\"")?.Value);
        Assert.Equal(1, Sample(scrape, "freshet_alert_delivery_attempts_total", "result=\"unreachable\"")?.Value);
    }

    [Fact]
    public async Task Scrape_WithoutOrWithAWrongToken_IsUnauthorizedWithAProblem()
    {
        using var http = factory.CreateClient();
        var missing = await HttpAssert.ProblemAsync(await http.GetAsync("/metrics"), HttpStatusCode.Unauthorized);
        Assert.DoesNotContain("freshet_", missing.ToString(), StringComparison.Ordinal);

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Bearer", MetricsFactory.ScrapeToken + "x");
        var response = await http.SendAsync(wrong);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        await HttpAssert.ProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Scrape_IsNotRateLimited_AndNotInTheOpenApiDocument()
    {
        using var http = factory.CreateClient();
        // The limit is one request per second with a burst of one for every anonymous caller of this factory.
        for (var i = 0; i < 4; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(ScrapeRequest())).StatusCode);
        }

        var document = await http.GetAsync("/openapi/v1.json");
        var body = await document.Content.ReadAsStringAsync();
        Assert.True(document.StatusCode == HttpStatusCode.OK, body);
        Assert.Contains("\"/v1/pipelines\"", body, StringComparison.Ordinal);
        Assert.DoesNotContain("\"/metrics\"", body, StringComparison.Ordinal);
    }

    /// <summary>This factory allows the tenant one request a second (to show /metrics is not counted): waits it out.</summary>
    private static async Task<HttpResponseMessage> WithinRateLimitAsync(Func<Task<HttpResponseMessage>> send)
    {
        for (var attempt = 0; ; attempt++)
        {
            var response = await send();
            if (response.StatusCode != HttpStatusCode.TooManyRequests || attempt == 10)
            {
                return response;
            }

            await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
        }
    }

    private async Task<(Guid PipelineId, Guid TenantId)> FirstPipelineAsync()
    {
        await using var connection = new NpgsqlConnection(factory.AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT id, tenant_id FROM pipelines ORDER BY id LIMIT 1", connection);
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "the demo seed creates a pipeline");
        return (reader.GetGuid(0), reader.GetGuid(1));
    }

    private async Task<string> ScrapeUntilAsync(Func<string, bool> done)
    {
        using var http = factory.CreateClient();
        var text = "";
        for (var deadline = DateTime.UtcNow.AddSeconds(15); DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            var response = await http.SendAsync(ScrapeRequest());
            text = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, text);
            if (done(text))
            {
                return text;
            }
        }

        Assert.Fail($"the scrape never showed what was expected; last scrape:\n{text}");
        return text;
    }

    private static HttpRequestMessage ScrapeRequest()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", MetricsFactory.ScrapeToken);
        return request;
    }

    /// <summary>The first sample of <paramref name="name"/> whose labels contain every one given.</summary>
    private static (string Labels, double Value)? Sample(string scrape, string name, params string[] labels)
    {
        foreach (var line in scrape.Split('\n'))
        {
            if (!line.StartsWith(name + "{", StringComparison.Ordinal) && !line.StartsWith(name + " ", StringComparison.Ordinal))
            {
                continue;
            }

            var close = line.IndexOf('}', StringComparison.Ordinal);
            var sampleLabels = close < 0 ? "" : line[(name.Length + 1)..close];
            if (labels.All(l => sampleLabels.Contains(l, StringComparison.Ordinal)))
            {
                // "name{labels} value [timestamp]"
                var value = line[(close < 0 ? name.Length : close + 1)..].Trim().Split(' ')[0];
                return (sampleLabels, double.Parse(value, CultureInfo.InvariantCulture));
            }
        }

        return null;
    }
}
