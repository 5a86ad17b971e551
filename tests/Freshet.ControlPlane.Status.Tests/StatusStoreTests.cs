using Freshet.Contracts;
using Freshet.ControlPlane.Status.Health;
using Freshet.ControlPlane.Status.Ingest;
using Freshet.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Freshet.ControlPlane.Status.Tests;

/// <summary>
/// Ingest and reads of the status store on a real PostgreSQL: reports arrive twice and out of order (a heartbeat retried
/// after a timeout, the bus and the heartbeat both carrying one), and the stored status, points and events must come out
/// as if each report had arrived once, in order.
/// </summary>
public sealed class StatusStoreTests : IAsyncLifetime
{
    // On a bucket boundary (a multiple of 10 s since the Unix epoch), so the test knows which reports share a bucket.
    private static readonly DateTimeOffset T0 = new(2026, 12, 4, 10, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _time = new(T0);
    private readonly Guid _pipeline = Guid.NewGuid();
    private readonly Guid _workerA = Guid.NewGuid();
    private readonly Guid _workerB = Guid.NewGuid();
    private NpgsqlDataSource _dataSource = null!;
    private StatusStore _store = null!;
    private StatusReader _reader = null!;

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("status");
        var connectionString = server.ConnectionString(database);
        await new StatusDatabaseMigrator().MigrateAsync(connectionString, CancellationToken.None);
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _store = new StatusStore(_dataSource, _time, NullLogger<StatusStore>.Instance);
        _reader = new StatusReader(_dataSource, _time, HealthRules.Default);
    }

    public async Task DisposeAsync() => await _dataSource.DisposeAsync();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Ingest_DuplicatedAndReorderedReports_StoreTheNewestStatus_FoldEachPointOnce_AndRecordEachEventOnce(bool oneBatch)
    {
        var snapshotStart = Report(1, T0.AddSeconds(1), PipelineRunState.Snapshotting, chunksDone: 1, errors: 0);
        var snapshotLater = Report(1, T0.AddSeconds(6), PipelineRunState.Snapshotting, chunksDone: 3, errors: 0);
        var streaming = Report(1, T0.AddSeconds(12), PipelineRunState.Streaming, chunksDone: 4, errors: 1, lagSeconds: 2.5, rows: 500);
        var failed = Report(1, T0.AddSeconds(17), PipelineRunState.Failed, chunksDone: 4, errors: 3, reason: "the destination refused the connection", rows: 500);

        // The order a flaky network could produce: a later report before an earlier one, and repeats.
        // One report per call (heartbeats), or all in one call (a batch that holds repeats of the same pipeline).
        PipelineProgressReport[] arrivals = [snapshotStart, streaming, snapshotLater, streaming, snapshotStart, failed, failed];
        if (oneBatch)
        {
            _time.SetUtcNow(failed.ReportedAt);
            await _store.IngestAsync(_workerA, arrivals, CancellationToken.None);
        }
        else
        {
            foreach (var report in arrivals)
            {
                await IngestAsync(_workerA, report);
            }
        }

        var statuses = await ReadAsync(epoch: 1);
        Assert.Equal((PipelineRunState.Failed, failed.ReportedAt, 3L), (statuses.Report!.State, statuses.Report.ReportedAt, statuses.Report.Errors));
        Assert.Equal(_workerA, statuses.WorkerId);

        var events = await _reader.ReadEventsAsync(_pipeline, null, 50, CancellationToken.None);
        Assert.Equal(
            [
                ("started", $"Started on worker {_workerA} under epoch 1."),
                ("state_changed", "snapshotting"),
                ("state_changed", "snapshotting → streaming"),
                ("state_changed", "streaming → failed"),
                ("error", $"the destination refused the connection (next attempt at {failed.NextAttemptAt!.Value.UtcDateTime:u})"),
            ],
            events.OrderBy(e => e.OccurredAt).ThenBy(e => e.Id).Select(e => (e.Kind, e.Message)));
        Assert.All(events, e => Assert.Equal(1, e.Epoch));

        // Buckets of 10 s: [T0, T0+10) holds the two snapshot reports, [T0+10, T0+20) the streaming and failed ones.
        var fine = (await _reader.ReadMetricsAsync(_pipeline, T0, T0.AddMinutes(1), TimeSpan.FromSeconds(10), CancellationToken.None)).Points;
        Assert.Equal([T0, T0.AddSeconds(10)], fine.Select(p => p.At));
        Assert.Equal(0, fine[0].Errors);
        // Errors are counted per run by the worker (0, 1, 3): the series holds the new ones, each counted once.
        Assert.Equal(3, fine[1].Errors);
        Assert.Equal(0, fine[1].LagSeconds); // the failed report's lag, the latest of its bucket
        Assert.Equal(2.5, fine[1].LagSecondsMax);

        // A coarser step folds the fine points: one minute holds all of them.
        var minute = Assert.Single((await _reader.ReadMetricsAsync(_pipeline, T0, T0.AddMinutes(1), TimeSpan.FromMinutes(1), CancellationToken.None)).Points);
        Assert.Equal(3, minute.Errors);
        Assert.Equal(2.5, minute.LagSecondsMax);
    }

    [Fact]
    public async Task Read_JudgesOnlyTheCurrentPlacementsReports_AndGoesStaleWhenTheyStop()
    {
        await IngestAsync(_workerA, Report(1, T0.AddSeconds(1), PipelineRunState.Streaming, chunksDone: 0, errors: 0, rows: 10));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(PipelineHealthState.Healthy, (await ReadAsync(epoch: 1)).Health.State);

        // Moved to worker B under epoch 2: until B reports, A's report of epoch 1 says nothing about the pipeline.
        var moved = await ReadAsync(epoch: 2);
        Assert.Equal(PipelineHealthState.Starting, moved.Health.State);
        Assert.Null(moved.Report);

        await IngestAsync(_workerB, Report(2, T0.AddSeconds(4), PipelineRunState.Streaming, chunksDone: 0, errors: 0, rows: 20));
        // A late report of epoch 1 (A had not heard it was fenced) changes nothing.
        await IngestAsync(_workerA, Report(1, T0.AddSeconds(5), PipelineRunState.Streaming, chunksDone: 0, errors: 0, rows: 30));
        var current = await ReadAsync(epoch: 2);
        Assert.Equal(_workerB, current.WorkerId);
        Assert.Equal(2, current.Report!.Epoch);
        Assert.Contains(await _reader.ReadEventsAsync(_pipeline, null, 50, CancellationToken.None), e => e.Kind == "restarted" && e.Epoch == 2);

        // The worker stops reporting: once the rules' stale period has passed, the status says so.
        _time.Advance(HealthRules.Default.StaleAfter + TimeSpan.FromSeconds(1));
        var stale = await ReadAsync(epoch: 2);
        Assert.Equal(PipelineHealthState.Stale, stale.Health.State);
        Assert.Contains(stale.Health.Reasons, r => r.Code == "no_report");
    }

    [Fact]
    public async Task Read_TheWalLimitFromTheReport_MakesARetentionRiskAReason_NamingWhichLimit()
    {
        const long GiB = 1L << 30;
        var report = Report(1, T0.AddSeconds(1), PipelineRunState.Streaming, chunksDone: 0, errors: 0, rows: 10) with
        {
            RetainedWalBytes = 45 * GiB,
            RetainedWalLimitBytes = 50 * GiB,
        };
        await IngestAsync(_workerA, report);

        var status = await ReadAsync(epoch: 1);
        Assert.Equal(PipelineHealthState.Degraded, status.Health.State);
        Assert.Contains(status.Health.Reasons, r => r.Code == "wal_retention_risk");

        Assert.Contains("max_slot_wal_keep_size", status.Health.Reasons.Single(r => r.Code == "wal_retention_risk").Message, StringComparison.Ordinal);

        // Without a limit (max_slot_wal_keep_size unlimited) the same WAL is no reason by itself.
        await IngestAsync(_workerA, report with { ReportedAt = T0.AddSeconds(2), RetainedWalLimitBytes = null, RowsDelivered = 20 });
        Assert.Equal(PipelineHealthState.Healthy, (await ReadAsync(epoch: 1)).Health.State);

        // ... unless the connection carries a WAL disk budget, which the worker then reports as the limit, and says so.
        await IngestAsync(_workerA, report with
        {
            ReportedAt = T0.AddSeconds(3), RetainedWalLimitBytes = 50 * GiB, RetainedWalLimitKind = RetainedWalLimitKind.WalDiskBudget, RowsDelivered = 30,
        });
        var budgeted = await ReadAsync(epoch: 1);
        Assert.Equal(PipelineHealthState.Degraded, budgeted.Health.State);
        Assert.Equal("Slot retains 45.0 GB of WAL (90% of the 50.0 GB WAL disk budget configured on the connection)",
            budgeted.Health.Reasons.Single(r => r.Code == "wal_retention_risk").Message);
    }

    [Fact]
    public async Task Ingest_APipelinesFirstReportsInParallel_KeepTheNewest_AndRecordStartedOnce()
    {
        // Two status consumers taking a pipeline's first reports at once (a bus delivers in parallel): neither finds a
        // row to lock, so without more the older one could overwrite the newer and both record "started".
        var older = Report(1, T0.AddSeconds(1), PipelineRunState.Snapshotting, chunksDone: 1, errors: 0);
        var newer = Report(1, T0.AddSeconds(2), PipelineRunState.Streaming, chunksDone: 2, errors: 0, rows: 10);
        _time.SetUtcNow(T0.AddSeconds(3));
        for (var round = 0; round < 20; round++)
        {
            var pipeline = Guid.NewGuid();
            await Task.WhenAll(
                Task.Run(() => _store.IngestAsync(_workerA, [newer with { PipelineId = pipeline }], CancellationToken.None)),
                Task.Run(() => _store.IngestAsync(_workerA, [older with { PipelineId = pipeline }], CancellationToken.None)));

            var view = (await _reader.ReadAsync([new PipelineStatusQuery(pipeline, false, true, 1, 60)], CancellationToken.None))[pipeline];
            Assert.Equal(newer.ReportedAt, view.Report!.ReportedAt);
            Assert.Single(await _reader.ReadEventsAsync(pipeline, null, 50, CancellationToken.None), e => e.Kind is "started" or "restarted");
        }
    }

    private async Task<PipelineStatusView> ReadAsync(long epoch)
    {
        var views = await _reader.ReadAsync([new PipelineStatusQuery(_pipeline, false, true, epoch, 60)], CancellationToken.None);
        return views[_pipeline];
    }

    private async Task IngestAsync(Guid worker, PipelineProgressReport report)
    {
        _time.SetUtcNow(Max(_time.GetUtcNow(), report.ReportedAt));
        await _store.IngestAsync(worker, [report], CancellationToken.None);
    }

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private PipelineProgressReport Report(
        long epoch, DateTimeOffset at, PipelineRunState state, int chunksDone, long errors, double lagSeconds = 0, long rows = 0, string? reason = null) =>
        new(
            _pipeline,
            epoch,
            state,
            reason,
            state == PipelineRunState.Failed ? at.AddSeconds(30) : null,
            SourceHeadPosition: 1_000 + rows,
            CommittedPosition: 1_000 + rows,
            LagBytes: 0,
            LagSeconds: lagSeconds,
            RowsPerSecond: rows / 5.0,
            BytesPerSecond: rows * 10 / 5.0,
            LastDeliveryAt: rows > 0 ? at : null,
            LastSourceCommitAt: null,
            RetainedWalBytes: 4_096,
            RowsDelivered: rows,
            Batches: rows > 0 ? 1 : 0,
            Retries: 0,
            Errors: errors,
            new Dictionary<string, TableProgressReport>
            {
                ["public.orders"] = new(0, 0, 0, chunksDone * 1_000L, chunksDone, 4, null),
            },
            at);
}
