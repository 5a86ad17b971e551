using System.Text.Json;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;

namespace Freshet.ControlPlane.Api.Tests.Status;

/// <summary>
/// Reports published on RabbitMQ reach a control plane that runs the status module without the scheduler (so without
/// heartbeats), through ingest and health to the status API, on a real PostgreSQL: delivered twice and out of order,
/// the status shows the newest and each event is recorded once; and a worker that does not hold the placement under a
/// report's epoch changes nothing.
/// </summary>
public sealed class StatusOverBusTests(StatusBusFactory factory) : IClassFixture<StatusBusFactory>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task PublishedReports_DuplicatedAndOutOfOrder_ShowTheNewestStatus_AndEachEventOnce()
    {
        var pipelineId = await factory.CreateDemoPipelineAsync($"bus-{Guid.NewGuid():N}");
        var worker = Guid.NewGuid();
        await factory.PlaceAsync(pipelineId, worker, epoch: 1);
        var t0 = DateTimeOffset.UtcNow.AddSeconds(-20);
        var snapshot = Report(pipelineId, 1, t0, PipelineRunState.Snapshotting, rows: 0);
        var streaming = Report(pipelineId, 1, t0.AddSeconds(12), PipelineRunState.Streaming, rows: 500);
        var later = Report(pipelineId, 1, t0.AddSeconds(15), PipelineRunState.Streaming, rows: 900);

        using var admin = await factory.DemoAdminClientAsync();
        await factory.PublishAsync(worker, snapshot);
        await EventuallyAsync(admin, $"/v1/pipelines/{pipelineId}/status", s => s.GetProperty("health").GetString() == "snapshotting");

        // Then repeats, a later report before an earlier one, and one message holding several (the bus's consumers take
        // them in parallel, so their order of ingest is not even the order below).
        await factory.PublishAsync(worker, streaming);
        await factory.PublishAsync(worker, snapshot);
        await factory.PublishAsync(worker, later, snapshot);
        await factory.PublishAsync(worker, streaming);
        await factory.PublishAsync(worker, later);

        var status = await EventuallyAsync(admin, $"/v1/pipelines/{pipelineId}/status", s => s.GetProperty("reported_at").ValueKind != JsonValueKind.Null
            && s.GetProperty("reported_at").GetDateTimeOffset() == later.ReportedAt);
        Assert.Equal("healthy", status.GetProperty("health").GetString());
        Assert.Equal(worker, status.GetProperty("worker_id").GetGuid());
        Assert.Equal(1, status.GetProperty("epoch").GetInt64());
        Assert.Equal(later.RowsPerSecond, status.GetProperty("rows_per_second").GetDouble());

        (string Kind, string Message)[] expected =
        [
            ("started", $"Started on worker {worker} under epoch 1."),
            ("state_changed", "snapshotting"),
            ("state_changed", "snapshotting → streaming"),
        ];
        await EventuallyAsync(admin, $"/v1/pipelines/{pipelineId}/events", e => Events(e).SequenceEqual(expected));
        // Whatever was still in flight has landed by now, and added nothing.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.Equal(expected, Events(await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/events"))));
        var again = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/status"));
        Assert.Equal(later.ReportedAt, again.GetProperty("reported_at").GetDateTimeOffset());
    }

    [Fact]
    public async Task ReportsOfWorkersNotHoldingThePlacement_NeitherMoveTheStatusBack_NorOverwriteTheHolders()
    {
        var pipelineId = await factory.CreateDemoPipelineAsync($"bus-{Guid.NewGuid():N}");
        var fenced = Guid.NewGuid();
        var holder = Guid.NewGuid();
        var stranger = Guid.NewGuid();
        var t0 = DateTimeOffset.UtcNow.AddSeconds(-20);
        using var admin = await factory.DemoAdminClientAsync();
        await factory.PlaceAsync(pipelineId, fenced, epoch: 1);
        await factory.PublishAsync(fenced, Report(pipelineId, 1, t0, PipelineRunState.Streaming, rows: 100));
        await EventuallyAsync(admin, $"/v1/pipelines/{pipelineId}/status", s => s.GetProperty("health").GetString() == "healthy");

        // Moved to the holder under epoch 2. Until the holder reports, the fenced worker (which has not heard yet) goes on
        // reporting epoch 1, newer than anything stored: none of it may count, nor leave events behind.
        await factory.PlaceAsync(pipelineId, holder, epoch: 2);
        await factory.PublishAsync(fenced, Report(pipelineId, 1, t0.AddSeconds(2), PipelineRunState.Failed, rows: 100, reason: "fenced worker's late failure"));
        await factory.PublishAsync(holder, Report(pipelineId, 2, t0.AddSeconds(4), PipelineRunState.Streaming, rows: 300));
        // A worker that never held the pipeline, reporting the holder's epoch later than the holder did.
        await factory.PublishAsync(stranger, Report(pipelineId, 2, t0.AddSeconds(6), PipelineRunState.Failed, rows: 0, reason: "stranger's failure"));
        // The fenced worker again, later still.
        await factory.PublishAsync(fenced, Report(pipelineId, 1, t0.AddSeconds(8), PipelineRunState.Failed, rows: 100, reason: "fenced worker's later failure"));
        var last = Report(pipelineId, 2, t0.AddSeconds(10), PipelineRunState.Streaming, rows: 400);
        await factory.PublishAsync(holder, last);

        var status = await EventuallyAsync(admin, $"/v1/pipelines/{pipelineId}/status", s => s.GetProperty("reported_at").ValueKind != JsonValueKind.Null
            && s.GetProperty("reported_at").GetDateTimeOffset() == last.ReportedAt);
        await Task.Delay(TimeSpan.FromSeconds(1));
        status = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/status"));
        Assert.Equal("healthy", status.GetProperty("health").GetString());
        Assert.Equal(holder, status.GetProperty("worker_id").GetGuid());
        Assert.Equal(2, status.GetProperty("epoch").GetInt64());
        Assert.Equal(last.ReportedAt, status.GetProperty("reported_at").GetDateTimeOffset());

        var events = (await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/events"))).GetProperty("items").EnumerateArray().ToList();
        Assert.DoesNotContain(events, e => e.GetProperty("worker_id").GetGuid() != fenced && e.GetProperty("worker_id").GetGuid() != holder);
        Assert.DoesNotContain(events, e => e.GetProperty("kind").GetString() is "error" or "state_changed" && e.GetProperty("message").GetString()!.Contains("failed", StringComparison.Ordinal));
        Assert.Equal(
            [("started", fenced, 1L), ("state_changed", fenced, 1L), ("restarted", holder, 2L), ("state_changed", holder, 2L)],
            events.AsEnumerable().Reverse().Select(e => (e.GetProperty("kind").GetString()!, e.GetProperty("worker_id").GetGuid(), e.GetProperty("epoch").GetInt64())));
    }

    private static IEnumerable<(string Kind, string Message)> Events(JsonElement page) =>
        page.GetProperty("items").EnumerateArray().Reverse().Select(e => (e.GetProperty("kind").GetString()!, e.GetProperty("message").GetString()!));

    private static async Task<JsonElement> EventuallyAsync(HttpClient http, string path, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        JsonElement last;
        do
        {
            last = await HttpAssert.OkAsync(await http.GetAsync(path));
            if (done(last))
            {
                return last;
            }

            await Task.Delay(100);
        }
        while (DateTime.UtcNow < deadline);

        Assert.Fail($"{path} did not get there within {Patience.TotalSeconds:F0} s; last: {last}");
        return last;
    }

    private static PipelineProgressReport Report(Guid pipelineId, long epoch, DateTimeOffset at, PipelineRunState state, long rows, string? reason = null) =>
        new(pipelineId, epoch, state, reason, state == PipelineRunState.Failed ? at.AddSeconds(30) : null, 5_000 + rows, 5_000 + rows, 0, 0.2, rows * 2.0, rows * 80.0,
            at, at, 8_192, rows, rows / 100, 0, state == PipelineRunState.Failed ? 1 : 0, new Dictionary<string, TableProgressReport>(), at);
}
