using System.Globalization;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.Testing.Pool;
using Npgsql;

namespace Freshet.Bench;

/// <summary>
/// <c>bench/run failover</c>: a whole installation as real processes (<see cref="PoolCluster"/>: PostgreSQL, RabbitMQ,
/// one control-plane host, 3 workers), 6 pipelines from PostgreSQL into DuckDB files (no enforced key, so a change
/// applied twice shows as a duplicate row) under steady source load (<see cref="SourceLoad"/>: one small transaction per
/// table every 100 ms). Then BENCH_ROUNDS times (default 3): SIGKILL the oldest live worker, measure until every pipeline
/// it ran has committed a batch on another worker, and start a replacement worker so that 3 stay alive.
/// <para>
/// How the moment of a pipeline's first commit elsewhere is taken: from the destination itself. Every destination
/// commit stamps its rows with <c>_freshet_synced_at</c> (the worker's clock, the same machine clock as the benchmark's),
/// taken just before the writes of the commit's transaction. Nothing can write a killed worker's pipeline until the
/// scheduler places it again, so the earliest <c>_freshet_synced_at</c> after the kill is the first commit under the
/// new epoch. The load inserts a row into every table every 100 ms, so that first batch holds the whole backlog of the
/// outage; a later update or delete would have to hit every one of its rows to hide it. This is exact to the
/// millisecond, where polling the workers' reports in the control database (also done, every 100 ms, printed as
/// <c>polled</c>) lags by up to a heartbeat. The phases come from the control database: the killed worker's
/// <c>lease_expires_at</c> (when the scheduler may first notice), the new placement's <c>assigned_at</c> (when it did),
/// and the first commit after it.
/// </para>
/// <para>
/// Baseline, in the same run before the kills: a planned move of the same kind of pipelines without a failure — one
/// worker is stopped with SIGTERM, hands its pipelines back (drain) and they are placed on the others. Its restart (new
/// placement to first commit elsewhere) is the anchor for the failover's restart phase; the whole drain (SIGTERM to first
/// commit elsewhere, during which the drained worker keeps delivering for a while) is printed as <c>drain_s</c>. Rows lost (missing or differing) and duplicated (extra or in several
/// copies) are counted over all 6 tables once the load has stopped and the destinations caught up.
/// </para>
/// </summary>
internal static class FailoverBench
{
    private const string Name = "failover";
    private const int Pipelines = 6;
    private const int Workers = 3;
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    public static async Task RunAsync(CancellationToken cancellationToken)
    {
        var rounds = BenchSettings.Number("BENCH_ROUNDS", 3);
        var busyBefore = await Machine.CheckAsync(Name, cancellationToken);

        var started = DateTimeOffset.UtcNow;
        await using var cluster = await PoolCluster.StartAsync(controlPlanes: 1, workers: Workers);
        Report.Line(Name, $"cluster up in {(DateTimeOffset.UtcNow - started).TotalSeconds:0.0} s: PostgreSQL :{cluster.Postgres.Port}, RabbitMQ :{cluster.Rabbit.Port}, 1 control plane, {Workers} workers");
        await using var memory = new WorkerMemory(cluster);

        var tables = Enumerable.Range(0, Pipelines).Select(i => $"orders_{i}").ToList();
        var pipelines = new List<PoolPipeline>();
        foreach (var table in tables)
        {
            await cluster.CreateSourceTableAsync(table);
            pipelines.Add(await cluster.CreatePipelineAsync(table));
        }

        var ids = pipelines.Select(p => p.Id).ToList();
        var tableOf = pipelines.ToDictionary(p => p.Id, p => p.Table);
        await WaitAsync(cluster, p => Balanced(p, ids), "every pipeline streaming, two on each worker", cancellationToken);
        Report.Line(Name, $"{Pipelines} pipelines streaming, 2 per worker, {(DateTimeOffset.UtcNow - started).TotalSeconds:0.0} s after the start");

        await using var load = SourceLoad.Start(cluster.SourceConnectionString, tables, TimeSpan.FromMilliseconds(100));
        await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken);

        // Baseline: a planned move (SIGTERM, drain, placed elsewhere) of one worker's pipelines.
        var before = await PlacementsAsync(cluster, cancellationToken);
        var drained = OldestLive(cluster);
        var drainedPipelines = Affected(before, drained.Name);
        var drainAt = DateTimeOffset.UtcNow;
        if (!await drained.TerminateAsync(TimeSpan.FromSeconds(60)))
        {
            throw new BenchException($"the drained worker {drained.Name} did not exit within 60 s");
        }

        var drainPolled = await WaitMovedAsync(cluster, drainedPipelines, drained.Name, drainAt, cancellationToken);
        var drainMoves = drainPolled.Placed;
        await StartReplacementAsync(cluster, ids, cancellationToken);

        var kills = new List<Kill>();
        for (var round = 1; round <= rounds; round++)
        {
            await Task.Delay(TimeSpan.FromSeconds(3), cancellationToken);
            var placed = await PlacementsAsync(cluster, cancellationToken);
            var victim = OldestLive(cluster);
            var affected = Affected(placed, victim.Name);
            var leaseExpiresAt = await LeaseExpiryAsync(cluster, victim.Name, cancellationToken);
            memory.Sample();
            var killedAt = DateTimeOffset.UtcNow;
            await victim.KillAsync();
            var moved = await WaitMovedAsync(cluster, affected, victim.Name, killedAt, cancellationToken);
            kills.Add(new Kill(round, victim.Name, killedAt, leaseExpiresAt, moved.Placed, moved.PolledAt));
            Report.Line(Name, $"round {round}: SIGKILL {victim.Name} ({affected.Count} pipelines); all placed elsewhere and reported delivering {(moved.PolledAt - killedAt).TotalSeconds:0.00} s later (polled)");
            await StartReplacementAsync(cluster, ids, cancellationToken);
        }

        await load.StopAsync();
        Report.Line(Name, $"load stopped: {load.Transactions:N0} source transactions");
        memory.Sample();

        // Rows lost and duplicated over every table, once the destinations caught up with the source.
        var lost = 0;
        var duplicated = 0;
        foreach (var pipeline in pipelines)
        {
            var comparison = await SourceLoad.WaitForEqualAsync(cluster.SourceConnectionString, pipeline.Table, () => cluster.DuckDbFileOf(pipeline.Table), TimeSpan.FromSeconds(60));
            if (comparison.SourceRows < 0)
            {
                throw new BenchException($"could not compare {pipeline.Table} with its destination");
            }

            Report.Line(Name, $"{comparison.Table}: {comparison.SourceRows} source rows, {comparison.DestinationRows} destination rows; missing {comparison.Missing}, differing {comparison.Differing}, extra {comparison.Extra}, duplicated {comparison.Duplicated}");
            lost += comparison.Missing + comparison.Differing;
            duplicated += comparison.Duplicated + comparison.Extra;
        }

        // The moments of the first commits elsewhere, from the destinations (see the class comment).
        var baselineRestart = 0.0;
        var drain = 0.0;
        var drainPause = 0.0;
        foreach (var (id, assignedAt) in drainMoves)
        {
            var first = await CommitAsync(cluster, tableOf[id], assignedAt, first: true, cancellationToken);
            var last = await CommitAsync(cluster, tableOf[id], assignedAt, first: false, cancellationToken);
            baselineRestart = Math.Max(baselineRestart, (first - assignedAt).TotalSeconds);
            drain = Math.Max(drain, (first - drainAt).TotalSeconds);
            drainPause = Math.Max(drainPause, (first - last).TotalSeconds);
            Report.Line(Name, $"baseline: {tableOf[id]} handed back and placed {(assignedAt - drainAt).TotalSeconds:0.000} s after SIGTERM (last commit on the drained worker at {(last - drainAt).TotalSeconds:0.000} s), first commit elsewhere {(first - assignedAt).TotalSeconds:0.000} s after placement, {(first - drainAt).TotalSeconds:0.000} s after SIGTERM; no delivery for {(first - last).TotalSeconds:0.000} s");
        }

        if (drainPause > 2)
        {
            // A drain should hand back within a batch or two (the worker-pool drain test allows a 2 s pause); show why not.
            Report.Line(Name, $"WARNING: the drain paused delivery for {drainPause:0.0} s; the drained worker's last log lines:");
            foreach (var line in drained.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries).TakeLast(15))
            {
                Report.Line(Name, $"  {drained.Name}: {line}");
            }
        }

        var results = new List<RoundResult>();
        foreach (var kill in kills)
        {
            var failover = 0.0;
            var detect = 0.0;
            var restart = 0.0;
            var pause = 0.0;
            foreach (var (id, assignedAt) in kill.Placed)
            {
                var first = await CommitAsync(cluster, tableOf[id], kill.At, first: true, cancellationToken);
                var last = await CommitAsync(cluster, tableOf[id], kill.At, first: false, cancellationToken);
                pause = Math.Max(pause, (first - last).TotalSeconds);
                failover = Math.Max(failover, (first - kill.At).TotalSeconds);
                detect = Math.Max(detect, (assignedAt - kill.At).TotalSeconds);
                restart = Math.Max(restart, (first - assignedAt).TotalSeconds);
            }

            var leaseLeft = (kill.LeaseExpiresAt - kill.At).TotalSeconds;
            results.Add(new RoundResult(failover, leaseLeft, detect, restart));
            Report.Line(Name, $"round {kill.Round} ({kill.Worker}): failover {failover:0.000} s = lease left {leaseLeft:0.000} s, placed elsewhere at {detect:0.000} s (detect), first commit {restart:0.000} s after placement (restart); no delivery for up to {pause:0.000} s; polled {(kill.PolledAt - kill.At).TotalSeconds:0.00} s");
        }

        var lease = await LeaseDurationAsync(cluster, cancellationToken);
        Report.Line(Name, $"lease {lease:0.##} s; baseline (drain: placement → first commit elsewhere) {baselineRestart:0.000} s, SIGTERM → first commit elsewhere {drain:0.000} s; worker peak RSS {memory.PeakMb:0} MB");
        Report.Summary(Name,
            ("failover_s", results.Max(r => r.Failover)),
            ("rows_lost", lost),
            ("rows_duplicated", duplicated),
            ("failover_median_s", Stats.Median(results.Select(r => r.Failover))),
            ("lease_s", lease),
            ("lease_left_s", Stats.Median(results.Select(r => r.LeaseLeft))),
            ("detect_s", Stats.Median(results.Select(r => r.Detect))),
            ("restart_s", Stats.Median(results.Select(r => r.Restart))),
            ("baseline_restart_s", baselineRestart),
            ("drain_s", drain),
            ("rounds", results.Count),
            ("peak_rss_mb", memory.PeakMb),
            ("busy_before_pct", busyBefore));
    }

    private static NodeProcess OldestLive(PoolCluster cluster) =>
        cluster.Workers.FirstOrDefault(w => !w.HasExited) ?? throw new BenchException("no worker is alive");

    private static Dictionary<Guid, long> Affected(IReadOnlyDictionary<Guid, Placement> placements, string worker)
    {
        var affected = placements.Where(p => p.Value.Worker == worker).ToDictionary(p => p.Key, p => p.Value.Epoch);
        return affected.Count > 0 ? affected : throw new BenchException($"{worker} runs no pipeline");
    }

    /// <summary>Every pipeline streaming and two on each of the live workers.</summary>
    private static bool Balanced(IReadOnlyDictionary<Guid, Placement> placements, List<Guid> ids) =>
        ids.All(id => placements.TryGetValue(id, out var p) && p.State == "Streaming" && p.Worker is not null)
        && ids.GroupBy(id => placements[id].Worker).Count() == Workers
        && ids.GroupBy(id => placements[id].Worker).All(g => g.Count() == Pipelines / Workers);

    /// <summary>
    /// Waits (polling every 100 ms) until each of <paramref name="affected"/> is placed on another worker under a higher
    /// epoch and that worker reports a delivery after <paramref name="since"/>; returns each new placement's time.
    /// </summary>
    private static async Task<(Dictionary<Guid, DateTimeOffset> Placed, DateTimeOffset PolledAt)> WaitMovedAsync(
        PoolCluster cluster, Dictionary<Guid, long> affected, string from, DateTimeOffset since, CancellationToken cancellationToken)
    {
        var placements = await WaitAsync(
            cluster,
            p => affected.All(a => p.TryGetValue(a.Key, out var row) && row.Worker is not null && row.Worker != from && row.Epoch > a.Value && row.LastDeliveryAt > since),
            $"the pipelines of {from} delivering elsewhere",
            cancellationToken);
        return (affected.ToDictionary(a => a.Key, a => placements[a.Key].AssignedAt), DateTimeOffset.UtcNow);
    }

    /// <summary>Starts a worker so that <see cref="Workers"/> are alive, and waits until the scheduler evened the load onto it.</summary>
    private static async Task StartReplacementAsync(PoolCluster cluster, List<Guid> ids, CancellationToken cancellationToken)
    {
        var startedAt = DateTimeOffset.UtcNow;
        var worker = cluster.StartWorker();
        await WaitAsync(cluster, p => Balanced(p, ids) && ids.All(id => p[id].Worker != worker.Name || p[id].LastDeliveryAt > startedAt), $"the load evened onto {worker.Name}", cancellationToken);
        Report.Line(Name, $"replacement {worker.Name} started; 2 pipelines moved onto it and delivering {(DateTimeOffset.UtcNow - startedAt).TotalSeconds:0.0} s later (polled)");
    }

    private static async Task<IReadOnlyDictionary<Guid, Placement>> WaitAsync(
        PoolCluster cluster, Func<IReadOnlyDictionary<Guid, Placement>, bool> condition, string what, CancellationToken cancellationToken)
    {
        var deadline = DateTimeOffset.UtcNow + Settle;
        IReadOnlyDictionary<Guid, Placement> last = new Dictionary<Guid, Placement>();
        while (DateTimeOffset.UtcNow < deadline)
        {
            last = await PlacementsAsync(cluster, cancellationToken);
            if (condition(last))
            {
                return last;
            }

            await Task.Delay(Poll, cancellationToken);
        }

        throw new BenchException($"timed out after {Settle.TotalSeconds:0} s waiting for {what}; placements: {string.Join("; ", last.Values)}\n{cluster.Logs(20)}");
    }

    /// <summary>
    /// The placements with the time each was made (<see cref="PoolCluster.PlacementsAsync"/> leaves out
    /// <c>assigned_at</c>, which the phases need).
    /// </summary>
    private static async Task<IReadOnlyDictionary<Guid, Placement>> PlacementsAsync(PoolCluster cluster, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(cluster.ControlConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(
            """
            SELECT a.pipeline_id, w.name, a.epoch, a.assigned_at, a.report->>'state', (a.report->>'lastDeliveryAt')::timestamptz
            FROM assignments a LEFT JOIN workers w ON w.id = a.worker_id
            """,
            connection);
        var rows = new Dictionary<Guid, Placement>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            rows[reader.GetGuid(0)] = new Placement(
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.GetInt64(2),
                reader.GetFieldValue<DateTimeOffset>(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetFieldValue<DateTimeOffset>(5));
        }

        return rows;
    }

    private static async Task<DateTimeOffset> LeaseExpiryAsync(PoolCluster cluster, string worker, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(cluster.ControlConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT lease_expires_at FROM workers WHERE name = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = worker });
        return await command.ExecuteScalarAsync(cancellationToken) is DateTime expires
            ? new DateTimeOffset(DateTime.SpecifyKind(expires, DateTimeKind.Utc))
            : throw new BenchException($"{worker} holds no lease");
    }

    /// <summary>The scheduler's lease duration as it ran: a live worker's lease expiry minus its last renewal.</summary>
    private static async Task<double> LeaseDurationAsync(PoolCluster cluster, CancellationToken cancellationToken)
    {
        await using var connection = new NpgsqlConnection(cluster.ControlConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand("SELECT extract(epoch FROM max(lease_expires_at - last_heartbeat_at))::float8 FROM workers", connection);
        return await command.ExecuteScalarAsync(cancellationToken) is double seconds ? seconds : double.NaN;
    }

    /// <summary>
    /// The earliest destination commit of <paramref name="table"/> after <paramref name="moment"/> (or the latest at or
    /// before it), from its rows' <c>_freshet_synced_at</c>.
    /// </summary>
    private static async Task<DateTimeOffset> CommitAsync(PoolCluster cluster, string table, DateTimeOffset moment, bool first, CancellationToken cancellationToken)
    {
        var file = cluster.DuckDbFileOf(table) ?? throw new BenchException($"no destination file for {table}");
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(file, TimeSpan.FromSeconds(30), cancellationToken);
        await using var command = connection.CreateCommand();
        var at = $"'{moment.UtcDateTime.ToString("O", CultureInfo.InvariantCulture)}'::TIMESTAMPTZ";
        command.CommandText = first
            ? $"SELECT epoch(min(_freshet_synced_at)) FROM \"{table}\" WHERE _freshet_synced_at > {at}"
            : $"SELECT epoch(max(_freshet_synced_at)) FROM \"{table}\" WHERE _freshet_synced_at <= {at}";
        return await command.ExecuteScalarAsync(cancellationToken) is double seconds
            ? DateTimeOffset.UnixEpoch.AddTicks((long)Math.Round(seconds * TimeSpan.TicksPerSecond))
            : throw new BenchException($"{table} has no commit {(first ? "after" : "before")} {moment:O}");
    }

    private sealed record Placement(string? Worker, long Epoch, DateTimeOffset AssignedAt, string? State, DateTimeOffset? LastDeliveryAt);

    private sealed record Kill(int Round, string Worker, DateTimeOffset At, DateTimeOffset LeaseExpiresAt, Dictionary<Guid, DateTimeOffset> Placed, DateTimeOffset PolledAt);

    private sealed record RoundResult(double Failover, double LeaseLeft, double Detect, double Restart);

    /// <summary>The workers' peak resident set (VmHWM), sampled every second and before a worker is killed.</summary>
    private sealed class WorkerMemory : IAsyncDisposable
    {
        private readonly PoolCluster _cluster;
        private readonly Dictionary<int, double> _peaks = [];
        private readonly Lock _lock = new();
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _sampling;

        public WorkerMemory(PoolCluster cluster)
        {
            _cluster = cluster;
            _sampling = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    Sample();
                    await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token);
                }
            });
        }

        public double PeakMb
        {
            get
            {
                lock (_lock)
                {
                    return _peaks.Count > 0 ? _peaks.Values.Max() : double.NaN;
                }
            }
        }

        public void Sample()
        {
            lock (_lock)
            {
                // The list grows on the benchmark's thread while this samples it; a worker missed here is sampled next time.
                foreach (var worker in _cluster.Workers.ToArray())
                {
                    if (worker is not null && !worker.HasExited && ProcStats.PeakRssMb(worker.Pid) is { } mb)
                    {
                        _peaks[worker.Pid] = Math.Max(mb, _peaks.GetValueOrDefault(worker.Pid));
                    }
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _sampling;
            }
            catch (OperationCanceledException)
            {
            }

            _stop.Dispose();
        }
    }
}
