using System.Diagnostics;
using Freshet.Contracts;
using Freshet.DataPlane.Runtime;
using Freshet.DataPlane.Tests.Support;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freshet.DataPlane.Tests.Runtime;

/// <summary>
/// The worker agent against an in-memory control plane and a real runtime running real pipelines (PostgreSQL source,
/// DuckDB destination), on the real clock with a short lease: 3 s, heartbeat every 1 s, safety margin 0.5 s.
/// </summary>
public sealed class WorkerAgentTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Assignments_PipelinePlacedOnWorker_RunsAndHeartbeatsCarryItsEpochAndProgress()
    {
        await using var harness = await SourceAsync("agent_run");
        var spec = harness.Spec(epoch: 7, tables: [new TableSpec("public", "t")]) with { Generation = 3 };
        var control = new InMemoryWorkerControl();
        control.Place(spec);
        await using var worker = await AgentUnderTest.StartAsync(control);

        await WaitUntilAsync(() => control.Heartbeats.Any(h => h.Pipelines.Any(p => p.Progress?.State == PipelineRunState.Streaming)), "the pipeline streams");
        await harness.ExecuteAsync("INSERT INTO t VALUES (2, 'b'), (3, 'c')");
        await WaitUntilAsync(() => control.Heartbeats.Any(h => h.Pipelines.Any(p => p.Progress?.Tables.GetValueOrDefault("public.t")?.Inserted == 2)), "the inserts are delivered");

        var running = Assert.Single(control.Heartbeats.Last().Pipelines);
        Assert.Equal((spec.PipelineId, 7L, 3L), (running.PipelineId, running.Epoch, running.Generation));
        Assert.Equal(7, running.Progress!.Epoch);
        Assert.Equal(1, running.Progress.Tables["public.t"].SnapshotRows);
        Assert.False(control.Heartbeats.Last().Draining);
        var registration = Assert.Single(control.Registrations);
        Assert.Equal(worker.Agent.WorkerId, registration.WorkerId);
        Assert.Equal(8, registration.Capacity);
    }

    [Fact]
    public async Task Assignments_PipelineRemoved_StopsAndKeepsItsSlot_DeletedOneIsDroppedAndConfirmed()
    {
        await using var harness = await SourceAsync("agent_unplace");
        var spec = harness.Spec(tables: [new TableSpec("public", "t")]);
        var control = new InMemoryWorkerControl();
        control.Place(spec);
        await using var worker = await AgentUnderTest.StartAsync(control);
        await WaitUntilAsync(() => worker.Runtime.Reports().Any(r => r.State == PipelineRunState.Streaming), "the pipeline streams");

        control.Unplace(spec.PipelineId);
        worker.Agent.Poke();
        await WaitUntilAsync(() => worker.Runtime.RunningPipelines().Count == 0, "the pipeline stops");
        Assert.Equal(1L, await SlotsAsync(harness));
        Assert.Equal(1L, await harness.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{harness.SlotName}'"));

        control.Delete(spec.PipelineId);
        worker.Agent.Poke();
        await WaitUntilAsync(() => control.Confirmed.Contains(spec.PipelineId), "the drop is confirmed");
        Assert.Equal(0L, await SlotsAsync(harness));
        Assert.Equal(0L, await harness.ScalarAsync<long>($"SELECT count(*) FROM pg_publication WHERE pubname = '{harness.SlotName}'"));
    }

    [Fact]
    public async Task Assignments_DeletedPipelineNeverHeldHere_ConfirmedSoTheControlPlaneStopsAsking()
    {
        var control = new InMemoryWorkerControl();
        var unknown = Guid.NewGuid();
        control.Delete(unknown);
        await using var worker = await AgentUnderTest.StartAsync(control);

        await WaitUntilAsync(() => control.Confirmed.Contains(unknown), "the drop is confirmed");
    }

    [Fact]
    public async Task Heartbeats_ControlPlaneUnreachable_EveryPipelineStopsBeforeTheLeaseEnds_AndResumesAfter()
    {
        await using var first = await SourceAsync("agent_lease1");
        await using var second = await SourceAsync("agent_lease2");
        var control = new InMemoryWorkerControl();
        control.Place(first.Spec(tables: [new TableSpec("public", "t")]));
        control.Place(second.Spec(tables: [new TableSpec("public", "t")]));
        await using var worker = await AgentUnderTest.StartAsync(control);
        await WaitUntilAsync(() => worker.Runtime.Reports().Count(r => r.State == PipelineRunState.Streaming) == 2, "both pipelines stream");

        control.Unreachable = true;
        while (worker.Runtime.RunningPipelines().Count > 0)
        {
            Assert.True(Stopwatch.GetElapsedTime(control.LastAcknowledgedAt) < Patience, "the pipelines never stopped");
            await Task.Delay(10);
        }

        var sinceLastAcknowledged = Stopwatch.GetElapsedTime(control.LastAcknowledgedAt);
        Assert.True(sinceLastAcknowledged < control.LeaseDuration, $"stopped {sinceLastAcknowledged} after the last acknowledged heartbeat; the lease is {control.LeaseDuration}");
        Assert.True(sinceLastAcknowledged > TimeSpan.FromSeconds(2), $"stopped {sinceLastAcknowledged} after the last acknowledged heartbeat, while the lease was still held");
        Assert.False(worker.Agent.HoldsLease);

        control.Unreachable = false;
        await WaitUntilAsync(() => worker.Runtime.Reports().Count(r => r.State == PipelineRunState.Streaming) == 2, "both pipelines stream again");
    }

    [Fact]
    public async Task Heartbeat_LeaseGone_StopsAtOnceRegistersAgainAndResumes()
    {
        await using var harness = await SourceAsync("agent_revoke");
        var control = new InMemoryWorkerControl();
        control.Place(harness.Spec(tables: [new TableSpec("public", "t")]));
        await using var worker = await AgentUnderTest.StartAsync(control);
        await WaitUntilAsync(() => worker.Runtime.Reports().Any(r => r.State == PipelineRunState.Streaming), "the pipeline streams");
        int? runningWhenRegisteringAgain = null;
        control.OnRegister = _ => runningWhenRegisteringAgain = worker.Runtime.RunningPipelines().Count;

        control.RevokeLease();
        await WaitUntilAsync(() => control.Registrations.Count == 2, "the worker registers again");

        Assert.Equal(0, runningWhenRegisteringAgain);
        Assert.All(control.Registrations, r => Assert.Equal(worker.Agent.WorkerId, r.WorkerId));
        await WaitUntilAsync(() => worker.Runtime.Reports().Any(r => r.State == PipelineRunState.Streaming), "the pipeline streams again");
    }

    [Fact]
    public async Task Drain_OnShutdown_HandsPipelinesBackOneByOneEachAfterItStopped()
    {
        await using var first = await SourceAsync("agent_drain1");
        await using var second = await SourceAsync("agent_drain2");
        var control = new InMemoryWorkerControl();
        control.Place(first.Spec(epoch: 4, tables: [new TableSpec("public", "t")]));
        control.Place(second.Spec(epoch: 5, tables: [new TableSpec("public", "t")]));
        await using var worker = await AgentUnderTest.StartAsync(control, drainOnShutdown: true);
        await WaitUntilAsync(() => worker.Runtime.Reports().Count(r => r.State == PipelineRunState.Streaming) == 2, "both pipelines stream");
        var runningAtRelease = new List<(Guid Released, IReadOnlyList<Guid> StillRunning)>();
        control.OnRelease = (id, _) => runningAtRelease.Add((id, [.. worker.Runtime.RunningPipelines().Select(p => p.PipelineId)]));

        await worker.Agent.StopAsync(CancellationToken.None);

        Assert.Equal(2, runningAtRelease.Count);
        Assert.DoesNotContain(runningAtRelease[0].Released, runningAtRelease[0].StillRunning);
        Assert.Single(runningAtRelease[0].StillRunning);
        Assert.Empty(runningAtRelease[1].StillRunning);
        var expected = new Dictionary<Guid, long> { [first.PipelineId] = 4, [second.PipelineId] = 5 };
        Assert.Equal(expected.OrderBy(e => e.Key), control.Released.Select(r => new KeyValuePair<Guid, long>(r.PipelineId, r.Epoch)).OrderBy(e => e.Key));
        Assert.Equal(2L, await SlotsAsync(first) + await SlotsAsync(second));
    }

    [Fact]
    public async Task Drain_RequestedByControlPlane_HeartbeatsSayDrainingThenTheApplicationStops()
    {
        await using var harness = await SourceAsync("agent_drainreq");
        var spec = harness.Spec(tables: [new TableSpec("public", "t")]);
        var control = new InMemoryWorkerControl();
        control.Place(spec);
        var lifetime = new StoppableLifetime();
        await using var worker = await AgentUnderTest.StartAsync(control, lifetime: lifetime);
        await WaitUntilAsync(() => worker.Runtime.Reports().Any(r => r.State == PipelineRunState.Streaming), "the pipeline streams");

        control.DrainRequested = true;
        await WaitUntilAsync(() => lifetime.StopRequested, "the worker asks its host to stop");

        Assert.Equal(spec.PipelineId, Assert.Single(control.Released).PipelineId);
        Assert.Empty(worker.Runtime.RunningPipelines());
        Assert.True(worker.Agent.IsDraining);
        await WaitUntilAsync(() => control.Heartbeats.Any(h => h.Draining && h.Pipelines.Count == 0), "a heartbeat says draining");
    }

    [Fact]
    public async Task Reports_RunStateChangesBetweenHeartbeats_ArePublishedWithoutWaitingForOne()
    {
        await using var harness = await SourceAsync("agent_publish");
        var spec = harness.Spec(epoch: 4, tables: [new TableSpec("public", "t")]);
        // No heartbeat for a long while after registering: whatever is published meanwhile was published on a change.
        var control = new InMemoryWorkerControl { LeaseDuration = TimeSpan.FromSeconds(60), HeartbeatInterval = TimeSpan.FromSeconds(30) };
        control.Place(spec);
        var bus = new RecordingPublisher();
        await using var worker = await AgentUnderTest.StartAsync(control, publisher: bus);

        await WaitUntilAsync(() => bus.Published.Any(m => m.Reports.Any(r => r.State == PipelineRunState.Streaming)), "a report of the streaming run is published");
        Assert.Empty(control.Heartbeats);
        var message = bus.Published.Last();
        Assert.Equal(worker.Agent.WorkerId, message.WorkerId);
        var report = Assert.Single(message.Reports);
        Assert.Equal((spec.PipelineId, 4L), (report.PipelineId, report.Epoch));
    }

    [Fact]
    public async Task Reports_BusHangs_HeartbeatsGoOnAtTheirPace_AndPublishingIsTriedAgain()
    {
        await using var harness = await SourceAsync("agent_hang");
        var spec = harness.Spec(tables: [new TableSpec("public", "t")]);
        var control = new InMemoryWorkerControl();
        control.Place(spec);
        var bus = new RecordingPublisher { Hang = true };
        await using var worker = await AgentUnderTest.StartAsync(control, publisher: bus);
        await WaitUntilAsync(() => control.Heartbeats.Any(h => h.Pipelines.Any(p => p.Progress?.State == PipelineRunState.Streaming)), "the pipeline streams");

        var heartbeats = control.Heartbeats.Count;
        var attempts = bus.Attempts;
        await Task.Delay(TimeSpan.FromSeconds(5));
        // One heartbeat a second; each publish gives up after its short timeout, and the next heartbeat tries again.
        Assert.True(control.Heartbeats.Count - heartbeats >= 4, $"{control.Heartbeats.Count - heartbeats} heartbeats in 5 s");
        Assert.True(bus.Attempts - attempts >= 2, $"{bus.Attempts - attempts} publish attempts in 5 s");
        Assert.True(worker.Agent.HoldsLease);
        Assert.Single(worker.Runtime.RunningPipelines());
    }

    private static async Task<PipelineHarness> SourceAsync(string prefix)
    {
        var harness = await PipelineHarness.CreateAsync(Target.DuckDb, prefix);
        await harness.ExecuteAsync("CREATE TABLE t (id integer PRIMARY KEY, v text); INSERT INTO t VALUES (1, 'a')");
        return harness;
    }

    private static Task<long> SlotsAsync(PipelineHarness harness) =>
        harness.ScalarAsync<long>($"SELECT count(*) FROM pg_replication_slots WHERE slot_name = '{harness.SlotName}'");

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.GetTimestamp();
        while (!condition())
        {
            Assert.True(Stopwatch.GetElapsedTime(deadline) < Patience, $"timed out waiting until {what}");
            await Task.Delay(50);
        }
    }

    /// <summary>An agent and its runtime, started; stopped (without a drain unless asked) and disposed at the end.</summary>
    private sealed class AgentUnderTest(WorkerAgent agent, WorkerRuntime runtime) : IAsyncDisposable
    {
        public WorkerAgent Agent { get; } = agent;

        public WorkerRuntime Runtime { get; } = runtime;

        public static async Task<AgentUnderTest> StartAsync(
            InMemoryWorkerControl control, bool drainOnShutdown = false, IHostApplicationLifetime? lifetime = null, IProgressReportPublisher? publisher = null)
        {
            var dataPlane = new DataPlaneOptions { AssignmentPollInterval = TimeSpan.FromMilliseconds(500) };
            var runtime = new WorkerRuntime(dataPlane, TimeProvider.System, NullLoggerFactory.Instance);
            var options = new WorkerAgentOptions
            {
                LeaseSafetyMargin = TimeSpan.FromSeconds(0.5),
                DrainOnShutdown = drainOnShutdown,
                DrainTimeout = TimeSpan.FromSeconds(15),
            };
            var agent = new WorkerAgent(control, runtime, options, dataPlane, TimeProvider.System, NullLogger<WorkerAgent>.Instance, lifetime, publisher);
            await agent.StartAsync(CancellationToken.None);
            return new AgentUnderTest(agent, runtime);
        }

        public async ValueTask DisposeAsync()
        {
            await Agent.StopAsync(CancellationToken.None);
            Agent.Dispose();
            await Runtime.DisposeAsync();
        }
    }

    /// <summary>Stands in for the message bus (the RabbitMQ path itself is tested end to end with the status API).</summary>
    private sealed class RecordingPublisher : IProgressReportPublisher
    {
        private int _attempts;

        public bool Hang { get; init; }

        public System.Collections.Concurrent.ConcurrentQueue<PipelineStatusReported> Published { get; } = new();

        public int Attempts => Volatile.Read(ref _attempts);

        public async Task PublishAsync(PipelineStatusReported reports, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _attempts);
            if (Hang)
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }

            Published.Enqueue(reports);
        }
    }

    private sealed class StoppableLifetime : IHostApplicationLifetime
    {
        public volatile bool StopRequested;

        public CancellationToken ApplicationStarted => CancellationToken.None;

        public CancellationToken ApplicationStopping => CancellationToken.None;

        public CancellationToken ApplicationStopped => CancellationToken.None;

        public void StopApplication() => StopRequested = true;
    }
}
