using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.DataPlane.Runtime;
using Microsoft.Extensions.Time.Testing;

namespace Freshet.DataPlane.Tests.Runtime;

/// <summary>The HTTP client against a scripted control plane (a message handler): routes, JSON shape, tokens.</summary>
public sealed class ControlPlaneWorkerClientTests
{
    private static readonly ControlPlaneClientOptions Options = new() { Url = "https://cp.example/", ClientId = "workers", ClientSecret = "s3cret" };

    [Fact]
    public async Task Heartbeat_SnakeCaseBodyWithBearerToken_GrantParsed()
    {
        var control = new ScriptedControlPlane();
        using var client = control.Client(new FakeTimeProvider());
        var workerId = Guid.NewGuid();
        var pipelineId = Guid.NewGuid();

        var grant = await client.HeartbeatAsync(new WorkerHeartbeat(workerId, true, [new RunningPipeline(pipelineId, 4, 2, null)]), CancellationToken.None);

        Assert.Equal(new WorkerLeaseGrant(workerId, true, TimeSpan.FromSeconds(6), TimeSpan.FromSeconds(2), false, 9), grant);
        var (method, path, authorization, body) = control.Requests.Last();
        Assert.Equal(("POST", "/v1/worker/heartbeat", "Bearer token-1"), (method, path, authorization));
        var json = JsonNode.Parse(body!)!;
        Assert.Equal(workerId, json["worker_id"]!.GetValue<Guid>());
        Assert.True(json["draining"]!.GetValue<bool>());
        Assert.Equal(4, json["pipelines"]![0]!["epoch"]!.GetValue<long>());
        Assert.Contains("grant_type=client_credentials", control.Requests[0].Body, StringComparison.Ordinal);
        Assert.Contains("client_id=workers", control.Requests[0].Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Token_CachedUntilAMinuteBeforeExpiry_RenewedAfterAndOnA401()
    {
        var control = new ScriptedControlPlane();
        var time = new FakeTimeProvider();
        using var client = control.Client(time);
        var workerId = Guid.NewGuid();

        await client.ReleaseAsync(workerId, Guid.NewGuid(), 3, CancellationToken.None);
        await client.ConfirmDroppedAsync(workerId, Guid.NewGuid(), CancellationToken.None);
        Assert.Equal(1, control.TokensIssued);

        time.Advance(TimeSpan.FromSeconds(241));
        await client.ConfirmDroppedAsync(workerId, Guid.NewGuid(), CancellationToken.None);
        Assert.Equal(2, control.TokensIssued);

        control.RejectToken = "token-2";
        await client.ConfirmDroppedAsync(workerId, Guid.NewGuid(), CancellationToken.None);
        Assert.Equal(3, control.TokensIssued);
        Assert.Equal("Bearer token-3", control.Requests.Last().Authorization);
    }

    [Fact]
    public async Task GetSpec_NotPlacedUnderThatEpoch_Null_OtherErrorsThrow()
    {
        var control = new ScriptedControlPlane();
        using var client = control.Client(new FakeTimeProvider());

        var (workerId, pipelineId) = (Guid.NewGuid(), Guid.NewGuid());

        Assert.Null(await client.GetSpecAsync(workerId, pipelineId, 5, CancellationToken.None));
        Assert.Equal($"/v1/worker/{workerId}/pipelines/{pipelineId}/spec?epoch=5", control.Requests.Last().Path);

        control.FailWith = HttpStatusCode.ServiceUnavailable;
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAssignmentsAsync(Guid.NewGuid(), CancellationToken.None));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, error.StatusCode);
        Assert.DoesNotContain("s3cret", error.Message, StringComparison.Ordinal);
    }

    private sealed class ScriptedControlPlane : HttpMessageHandler
    {
        public List<(string Method, string Path, string? Authorization, string? Body)> Requests { get; } = [];

        public int TokensIssued { get; private set; }

        public string? RejectToken { get; set; }

        public HttpStatusCode? FailWith { get; set; }

        public ControlPlaneWorkerClient Client(TimeProvider time) => new(new HttpClient(this), Options, time);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
            var authorization = request.Headers.Authorization?.ToString();
            Requests.Add((request.Method.Method, request.RequestUri!.PathAndQuery, authorization, body));
            var path = request.RequestUri.AbsolutePath;
            if (path == "/connect/token")
            {
                TokensIssued++;
                return Json($$"""{"access_token":"token-{{TokensIssued}}","token_type":"Bearer","expires_in":300}""");
            }

            if (authorization == $"Bearer {RejectToken}")
            {
                return new HttpResponseMessage(HttpStatusCode.Unauthorized);
            }

            if (FailWith is { } status)
            {
                return new HttpResponseMessage(status);
            }

            if (path.EndsWith("/spec", StringComparison.Ordinal))
            {
                return new HttpResponseMessage(HttpStatusCode.NotFound);
            }

            if (path == "/v1/worker/heartbeat")
            {
                var workerId = JsonNode.Parse(body!)!["worker_id"]!.GetValue<Guid>();
                return Json($$"""{"worker_id":"{{workerId}}","held":true,"lease_duration":"00:00:06","heartbeat_interval":"00:00:02","drain_requested":false,"assignments_version":9}""");
            }

            return new HttpResponseMessage(HttpStatusCode.NoContent);
        }

        private static HttpResponseMessage Json(string json) => new(HttpStatusCode.OK) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
    }
}
