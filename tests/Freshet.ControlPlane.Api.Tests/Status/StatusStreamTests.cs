using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Freshet.ControlPlane.Api.Tests.Workers;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Freshet.ControlPlane.Api.Tests.Status;

/// <summary>
/// The live feed end to end in one host: a report ingested by the status module (as a heartbeat hands it over) reaches
/// a tenant's open <c>/v1/status/stream</c> through PostgreSQL's NOTIFY, and another tenant's pipeline never does.
/// </summary>
public sealed class StatusStreamTests(WorkerPoolFactory factory, ITestOutputHelper output) : IClassFixture<WorkerPoolFactory>
{
    [Fact]
    public async Task IngestedReport_ReachesTheTenantsOpenStream_AndTheStatusApi_AndOtherPipelinesStayOut()
    {
        var pipelineId = await factory.CreateDemoPipelineAsync($"live-{Guid.NewGuid():N}");
        var worker = factory.Pool.AddWorker("w-live");
        factory.Pool.Place(pipelineId, worker, epoch: 1);
        using var admin = await factory.DemoAdminClientAsync();
        using var stream = await admin.GetAsync("/v1/status/stream", HttpCompletionOption.ResponseHeadersRead);
        Assert.True(stream.IsSuccessStatusCode, $"{stream.StatusCode}");
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        var events = Channel.CreateUnbounded<(string Type, JsonElement Data)>();
        using var stop = new CancellationTokenSource();
        var reading = ReadEventsAsync(await stream.Content.ReadAsStreamAsync(), events.Writer, stop.Token);

        // At once: every pipeline of the tenant, ours placed and not yet reported on.
        var first = await NextStatusAsync(events.Reader, pipelineId);
        Assert.Equal("starting", first.GetProperty("health").GetString());

        var sink = factory.Services.GetRequiredService<IPipelineStatusSink>();
        var stranger = Guid.NewGuid();
        var sent = Stopwatch.StartNew();
        await sink.IngestAsync(worker.Id, [Report(stranger), Report(pipelineId)], CancellationToken.None);
        var pushed = await NextStatusAsync(events.Reader, pipelineId, seen => Assert.NotEqual(stranger.ToString(), seen.GetProperty("pipeline_id").GetString()));
        output.WriteLine($"pushed {sent.Elapsed.TotalMilliseconds:F0} ms after ingest");
        Assert.Equal("healthy", pushed.GetProperty("health").GetString());
        Assert.Equal(1200, pushed.GetProperty("rows_per_second").GetDouble());
        Assert.Equal(worker.Id.ToString(), pushed.GetProperty("worker_id").GetString());

        var status = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/status"));
        Assert.Equal("healthy", status.GetProperty("health").GetString());
        var history = (await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/events"))).GetProperty("items");
        Assert.Equal("started", history[history.GetArrayLength() - 1].GetProperty("kind").GetString());

        await stop.CancelAsync();
        await reading;
    }

    private static PipelineProgressReport Report(Guid pipelineId) =>
        new(pipelineId, 1, PipelineRunState.Streaming, null, null, 5_000, 5_000, 0, 0.2, 1200, 96_000, DateTimeOffset.UtcNow, DateTimeOffset.UtcNow,
            8_192, 12_000, 10, 0, 0, new Dictionary<string, TableProgressReport>(), DateTimeOffset.UtcNow);

    /// <summary>The next <c>status</c> event of <paramref name="pipelineId"/> (within 30 s), showing each other one to <paramref name="other"/>.</summary>
    private static async Task<JsonElement> NextStatusAsync(ChannelReader<(string Type, JsonElement Data)> events, Guid pipelineId, Action<JsonElement>? other = null)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (true)
        {
            var (type, data) = await events.ReadAsync(timeout.Token);
            if (type != "status")
            {
                continue;
            }

            if (data.GetProperty("pipeline_id").GetString() == pipelineId.ToString())
            {
                return data;
            }

            other?.Invoke(data);
        }
    }

    private static async Task ReadEventsAsync(Stream body, ChannelWriter<(string Type, JsonElement Data)> events, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(body);
        var type = "message";
        try
        {
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    events.TryWrite((type, JsonDocument.Parse(line["data: ".Length..]).RootElement.Clone()));
                    type = "message";
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The test is done with the stream.
        }
    }
}
