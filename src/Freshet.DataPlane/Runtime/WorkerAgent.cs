using System.Reflection;
using Freshet.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Runtime;

/// <summary>
/// A worker driven by a control plane (instead of <see cref="WorkerService"/>): registers, renews its lease by heartbeat
/// (reporting what it runs), reads its assignments level-triggered, fetches each pipeline's spec and runs it with the
/// <see cref="WorkerRuntime"/> — only while it holds its lease — and hands its pipelines back one by one when it drains.
/// Three loops run side by side, so a slow control-plane call or a slow pipeline stop never delays a heartbeat or the
/// watchdog that stops every pipeline when the lease runs out.
/// </summary>
public sealed partial class WorkerAgent : BackgroundService
{
    private static readonly TimeSpan FirstRegistrationRetry = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRegistrationRetry = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan MinHeartbeatInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);
    // How often run states are compared with the last published ones: a change is on the bus within this, not a heartbeat.
    private static readonly TimeSpan StateCheckInterval = TimeSpan.FromMilliseconds(500);
    // A publish is a courtesy to the status module: it must not hold the report loop up behind a broker that hangs.
    private static readonly TimeSpan PublishTimeout = TimeSpan.FromSeconds(2);
    // Specs of pipelines no longer assigned are kept this long, so a pipeline deleted after it moved off (or was
    // paused) can still have its slot dropped by the worker that last ran it.
    private static readonly TimeSpan StoppedSpecRetention = TimeSpan.FromHours(6);

    private readonly IWorkerControl _control;
    private readonly WorkerRuntime _runtime;
    private readonly WorkerAgentOptions _options;
    private readonly TimeSpan _pollInterval;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IHostApplicationLifetime? _lifetime;
    private readonly IProgressReportPublisher? _publisher;
    private readonly HeldLease _lease;
    private readonly Signal _assignmentsWanted = new();
    private readonly Signal _leaseChanged = new();
    private readonly Signal _heartbeatAcknowledged = new();
    // Serializes every change to the running set, so that "is the lease held?" and the change happen as one step.
    private readonly SemaphoreSlim _gate = new(1, 1);
    // The latest spec per pipeline (touched only by the assignment loop), kept for a while after the pipeline stops.
    private readonly Dictionary<Guid, HeldSpec> _specs = [];
    private readonly Lock _drainGate = new();
    private volatile WorkerLeaseGrant? _grant;
    private volatile bool _draining;
    private long _readVersion = long.MinValue;
    private Task? _drain;

    public WorkerAgent(
        IWorkerControl control,
        WorkerRuntime runtime,
        WorkerAgentOptions options,
        DataPlaneOptions dataPlane,
        TimeProvider time,
        ILogger<WorkerAgent> logger,
        IHostApplicationLifetime? lifetime = null,
        IProgressReportPublisher? publisher = null)
    {
        _control = control;
        _runtime = runtime;
        _options = options;
        _pollInterval = dataPlane.AssignmentPollInterval;
        _time = time;
        _logger = logger;
        _lifetime = lifetime;
        _publisher = publisher;
        _lease = new HeldLease(options.LeaseSafetyMargin, time);
    }

    /// <summary>This process's worker id: a restarted process is a new worker.</summary>
    public Guid WorkerId { get; } = Guid.NewGuid();

    /// <summary>Whether the worker is handing its pipelines back (it takes no new ones).</summary>
    public bool IsDraining => _draining;

    /// <summary>Whether the worker holds its lease now, on its own clock.</summary>
    public bool HoldsLease => _lease.IsHeld;

    /// <summary>A hint (from the message bus) that this worker's assignments changed: read them now rather than at the next poll.</summary>
    public void Poke() => _assignmentsWanted.Set();

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(
            Task.Run(() => HeartbeatLoopAsync(stoppingToken), CancellationToken.None),
            Task.Run(() => WatchdogLoopAsync(stoppingToken), CancellationToken.None),
            Task.Run(() => AssignmentLoopAsync(stoppingToken), CancellationToken.None),
            Task.Run(() => ReportLoopAsync(stoppingToken), CancellationToken.None));

    /// <summary>Drains first when <see cref="WorkerAgentOptions.DrainOnShutdown"/> (heartbeats go on meanwhile), then stops.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        Task? drain;
        lock (_drainGate)
        {
            drain = _drain;
        }

        if (drain is null && _options.DrainOnShutdown && ExecuteTask is not null)
        {
            drain = StartDrain(exitWhenDone: false, cancellationToken);
        }

        if (drain is not null)
        {
            try
            {
                await drain.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        await _runtime.StopAllAsync().ConfigureAwait(false);
    }

    public override void Dispose()
    {
        _gate.Dispose();
        _assignmentsWanted.Dispose();
        _leaseChanged.Dispose();
        _heartbeatAcknowledged.Dispose();
        base.Dispose();
    }

    private async Task HeartbeatLoopAsync(CancellationToken stoppingToken)
    {
        var failedRegistrations = 0;
        while (!stoppingToken.IsCancellationRequested)
        {
            TimeSpan wait;
            try
            {
                if (_grant is not { Held: true } grant)
                {
                    if (await TryRegisterAsync(stoppingToken).ConfigureAwait(false))
                    {
                        failedRegistrations = 0;
                        wait = Interval(_grant!);
                    }
                    else
                    {
                        wait = RegistrationBackoff(failedRegistrations++);
                    }
                }
                else
                {
                    var sentAt = _lease.BeforeHeartbeat();
                    var acknowledged = await TryHeartbeatAsync(grant, sentAt, stoppingToken).ConfigureAwait(false);
                    if (acknowledged && _grant is { Held: false })
                    {
                        // Everything stops before the worker registers again: a new grant must not find the old
                        // pipelines still running (the watchdog would then see a held lease and leave them be).
                        await StopEverythingAsync(stoppingToken).ConfigureAwait(false);
                        continue;
                    }

                    // A failed call tries again sooner than usual.
                    wait = acknowledged ? Interval(grant) - _time.GetElapsedTime(sentAt) : Interval(grant) / 2;
                }

                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Calls to the control plane fail softly above; this is a surprise elsewhere (e.g. stopping a pipeline).
                // The loop must go on: without heartbeats the lease runs out and every pipeline stops.
                LogHeartbeatLoopFailed(_logger, Describe(e));
                await Task.Delay(FirstRegistrationRetry, _time, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task<bool> TryRegisterAsync(CancellationToken stoppingToken)
    {
        var registration = new WorkerRegistration(
            WorkerId,
            string.IsNullOrWhiteSpace(_options.Name) ? $"{Environment.MachineName}-{Environment.ProcessId}" : _options.Name,
            string.IsNullOrWhiteSpace(_options.Zone) ? null : _options.Zone,
            new Dictionary<string, string>(_options.Labels),
            _options.Capacity,
            Version);
        var sentAt = _lease.BeforeHeartbeat();
        try
        {
            using var timeout = new CancellationTokenSource(CallTimeout, _time);
            using var call = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
            var grant = await _control.RegisterAsync(registration, call.Token).ConfigureAwait(false);
            if (!grant.Held)
            {
                LogRegistrationRefused(_logger, WorkerId);
                return false;
            }

            LogRegistered(_logger, WorkerId, registration.Name, grant.LeaseDuration, grant.HeartbeatInterval);
            Accept(grant, sentAt);
            return true;
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            LogRegistrationFailed(_logger, Describe(e));
            return false;
        }
    }

    private async Task<bool> TryHeartbeatAsync(WorkerLeaseGrant grant, long sentAt, CancellationToken stoppingToken)
    {
        try
        {
            // A heartbeat answered later than the interval is of little use: the next one is due.
            using var timeout = new CancellationTokenSource(Interval(grant), _time);
            using var call = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
            var answer = await _control.HeartbeatAsync(new WorkerHeartbeat(WorkerId, _draining, _runtime.RunningPipelines()), call.Token).ConfigureAwait(false);
            Accept(answer, sentAt);
            if (answer.Held)
            {
                _heartbeatAcknowledged.Set();
            }

            return true;
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            LogHeartbeatFailed(_logger, _lease.Remaining, Describe(e));
            return false;
        }
    }

    private void Accept(WorkerLeaseGrant grant, long sentAt)
    {
        if (!grant.Held)
        {
            _lease.Lost();
            _grant = grant;
            LogLeaseLost(_logger, WorkerId);
            _leaseChanged.Set();
            return;
        }

        var wasHeld = _lease.IsHeld;
        _lease.Acknowledged(sentAt, grant.LeaseDuration);
        _grant = grant;
        _leaseChanged.Set();
        if (!wasHeld || grant.AssignmentsVersion != Interlocked.Read(ref _readVersion))
        {
            Poke();
        }

        if (grant.DrainRequested)
        {
            StartDrain(exitWhenDone: true, CancellationToken.None);
        }
    }

    /// <summary>
    /// Stops every pipeline as soon as the lease runs out on the worker's own clock (heartbeats failing, or the control
    /// plane said the lease is gone): the scheduler's view ends later by construction, so nothing is written after it may
    /// place the pipelines elsewhere. The next acknowledged heartbeat re-reads the assignments and resumes.
    /// </summary>
    private async Task WatchdogLoopAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                if (_lease.IsHeld)
                {
                    await _leaseChanged.WaitAsync(_lease.Remaining, _time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                await StopEverythingAsync(stoppingToken).ConfigureAwait(false);
                await _leaseChanged.WaitAsync(Timeout.InfiniteTimeSpan, _time, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The watchdog must outlive any surprise: it is what keeps a worker without a lease from writing.
                LogWatchdogFailed(_logger, Describe(e));
                await Task.Delay(TimeSpan.FromMilliseconds(100), _time, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Stops every pipeline unless the lease is held (checked under the gate, so nothing starts meanwhile).</summary>
    private async Task StopEverythingAsync(CancellationToken stoppingToken)
    {
        if (_runtime.RunningPipelines().Count == 0)
        {
            return;
        }

        await _gate.WaitAsync(stoppingToken).ConfigureAwait(false);
        try
        {
            if (!_lease.IsHeld)
            {
                LogStoppingEverything(_logger, _runtime.RunningPipelines().Count);
                await _runtime.StopAllAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _gate.Release();
        }
    }

    /// <summary>
    /// Publishes the worker's reports (when it has a publisher) after each acknowledged heartbeat and, between
    /// heartbeats, as soon as a pipeline's run state or epoch changes — its own loop, so a slow broker never delays a
    /// heartbeat. Only while the lease is held: without it the worker's reports no longer count.
    /// </summary>
    private async Task ReportLoopAsync(CancellationToken stoppingToken)
    {
        if (_publisher is null)
        {
            return;
        }

        var published = new Dictionary<Guid, (long Epoch, PipelineRunState State)>();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var afterHeartbeat = await _heartbeatAcknowledged.WaitAsync(StateCheckInterval, _time, stoppingToken).ConfigureAwait(false);
                var reports = _runtime.RunningPipelines().Where(p => p.Progress is not null).Select(p => p.Progress!).ToList();
                var states = reports.ToDictionary(r => r.PipelineId, r => (r.Epoch, r.State));
                var changed = states.Any(s => !published.TryGetValue(s.Key, out var before) || before != s.Value);
                if (!(afterHeartbeat || changed) || reports.Count == 0 || !_lease.IsHeld)
                {
                    continue;
                }

                // Remembered whether or not the publish succeeds: a broken broker is tried again at the next heartbeat,
                // not every state check.
                published = states;
                await PublishAsync(reports, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogReportLoopFailed(_logger, Describe(e));
                await Task.Delay(StateCheckInterval, _time, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    private async Task PublishAsync(List<PipelineProgressReport> reports, CancellationToken stoppingToken)
    {
        try
        {
            using var timeout = new CancellationTokenSource(PublishTimeout, _time);
            using var call = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
            await _publisher!.PublishAsync(new PipelineStatusReported(WorkerId, reports), call.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (!stoppingToken.IsCancellationRequested)
        {
            LogPublishFailed(_logger, reports.Count, Describe(e));
        }
    }

    private async Task AssignmentLoopAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await _assignmentsWanted.WaitAsync(_pollInterval, _time, stoppingToken).ConfigureAwait(false);
                if (!_lease.IsHeld)
                {
                    continue;
                }

                try
                {
                    await SyncAssignmentsAsync(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    LogAssignmentsFailed(_logger, Describe(e));
                }
            }
        }
        catch (Exception) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task SyncAssignmentsAsync(CancellationToken stoppingToken)
    {
        using var timeout = new CancellationTokenSource(CallTimeout, _time);
        using var call = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, timeout.Token);
        var assignments = await _control.GetAssignmentsAsync(WorkerId, call.Token).ConfigureAwait(false);
        var wanted = new List<PipelineSpec>();
        foreach (var assigned in assignments.Pipelines)
        {
            if (await SpecForAsync(assigned, call.Token).ConfigureAwait(false) is { } spec)
            {
                wanted.Add(spec);
            }
        }

        await _gate.WaitAsync(stoppingToken).ConfigureAwait(false);
        try
        {
            if (!_lease.IsHeld)
            {
                // The watchdog stops (or stopped) everything; the next acknowledged heartbeat reads again.
                return;
            }

            if (_draining)
            {
                // Start nothing, restart nothing: keep only what runs now unchanged, and stop what moved away. Decided
                // under the gate, so a pipeline the drain just handed back is not started again.
                var running = _runtime.RunningPipelines().Select(r => (r.PipelineId, r.Epoch, r.Generation)).ToHashSet();
                wanted.RemoveAll(s => !running.Contains((s.PipelineId, s.Epoch, s.Generation)));
            }

            await _runtime.ReconcileAsync([.. wanted.Select(s => new PipelineAssignment(s, DesiredState.Running))], dropMissing: false, stoppingToken)
                .ConfigureAwait(false);
            Interlocked.Exchange(ref _readVersion, assignments.Version);
        }
        finally
        {
            _gate.Release();
        }

        ForgetOldSpecs(assignments);
        foreach (var pipelineId in assignments.Drop)
        {
            await DropAsync(pipelineId, call.Token).ConfigureAwait(false);
        }
    }

    private async Task<PipelineSpec?> SpecForAsync(AssignedPipeline assigned, CancellationToken cancellationToken)
    {
        if (_specs.TryGetValue(assigned.PipelineId, out var held) && held.Spec.Epoch == assigned.Epoch && held.Spec.Generation == assigned.Generation)
        {
            _specs[assigned.PipelineId] = held with { UnassignedSince = null };
            return held.Spec;
        }

        var spec = await _control.GetSpecAsync(WorkerId, assigned.PipelineId, assigned.Epoch, cancellationToken).ConfigureAwait(false);
        if (spec is null || spec.PipelineId != assigned.PipelineId || spec.Epoch != assigned.Epoch)
        {
            // No longer placed here under that epoch (moved or deleted since the assignments were read).
            LogSpecUnavailable(_logger, assigned.PipelineId, assigned.Epoch);
            return null;
        }

        _specs[assigned.PipelineId] = new HeldSpec(spec, null);
        return spec;
    }

    private void ForgetOldSpecs(WorkerAssignments assignments)
    {
        var now = _time.GetUtcNow();
        var assigned = assignments.Pipelines.Select(p => p.PipelineId).ToHashSet();
        foreach (var (id, held) in _specs.ToList())
        {
            if (assigned.Contains(id) || assignments.Drop.Contains(id))
            {
                continue;
            }

            if (held.UnassignedSince is null)
            {
                _specs[id] = held with { UnassignedSince = now };
            }
            else if (now - held.UnassignedSince > StoppedSpecRetention)
            {
                _specs.Remove(id);
            }
        }
    }

    private async Task DropAsync(Guid pipelineId, CancellationToken cancellationToken)
    {
        if (_specs.TryGetValue(pipelineId, out var held))
        {
            await _runtime.StopAsync(pipelineId).ConfigureAwait(false);
            if (!await _runtime.DropSourceAsync(held.Spec, cancellationToken).ConfigureAwait(false))
            {
                // The source could not be reached: keep the spec and confirm nothing, so the next read tries again.
                return;
            }

            _specs.Remove(pipelineId);
        }
        else
        {
            // This worker never held the spec (e.g. it restarted since it ran the pipeline), and a deleted pipeline's
            // spec can no longer be fetched: it cannot drop the slot. It confirms anyway, or the control plane would
            // name the pipeline here at every read, forever; the warning tells an operator to drop the slot by hand.
            LogDropWithoutSpec(_logger, pipelineId);
        }

        await _control.ConfirmDroppedAsync(WorkerId, pipelineId, cancellationToken).ConfigureAwait(false);
    }

    private Task StartDrain(bool exitWhenDone, CancellationToken cancellationToken)
    {
        lock (_drainGate)
        {
            if (_drain is not null)
            {
                return _drain;
            }

            _draining = true;
            _drain = Task.Run(() => DrainAsync(exitWhenDone, cancellationToken), CancellationToken.None);
            return _drain;
        }
    }

    /// <summary>
    /// Hands the pipelines back one by one: stop (its current batch ends, the destination checkpoint stays consistent),
    /// then release, so the scheduler places it elsewhere at once; the others keep running meanwhile. Bounded by
    /// <see cref="WorkerAgentOptions.DrainTimeout"/>; what runs then is stopped without a release (its lease expiry frees it).
    /// </summary>
    private async Task DrainAsync(bool exitWhenDone, CancellationToken cancellationToken)
    {
        LogDraining(_logger, WorkerId, _runtime.RunningPipelines().Count);
        using var timeout = new CancellationTokenSource(_options.DrainTimeout, _time);
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var released = 0;
        try
        {
            // Say so at once rather than at the next heartbeat, so the scheduler places nothing new (or handed back) here.
            try
            {
                await _control.HeartbeatAsync(new WorkerHeartbeat(WorkerId, Draining: true, []), drain.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (!drain.IsCancellationRequested)
            {
                LogDrainNotAnnounced(_logger, Describe(e));
            }

            while (_runtime.RunningPipelines().FirstOrDefault() is { } next)
            {
                await _gate.WaitAsync(drain.Token).ConfigureAwait(false);
                try
                {
                    await _runtime.StopAsync(next.PipelineId).WaitAsync(drain.Token).ConfigureAwait(false);
                }
                finally
                {
                    _gate.Release();
                }

                try
                {
                    await _control.ReleaseAsync(WorkerId, next.PipelineId, next.Epoch, drain.Token).ConfigureAwait(false);
                    released++;
                    LogReleased(_logger, next.PipelineId, next.Epoch);
                }
                catch (Exception e) when (!drain.IsCancellationRequested)
                {
                    // Stopped all the same; the scheduler moves it when this worker's heartbeats stop listing it.
                    LogReleaseFailed(_logger, next.PipelineId, Describe(e));
                }
            }

            LogDrained(_logger, WorkerId, released);
        }
        catch (OperationCanceledException) when (drain.IsCancellationRequested)
        {
            LogDrainTimedOut(_logger, _options.DrainTimeout, _runtime.RunningPipelines().Count);
        }
        finally
        {
            await _runtime.StopAllAsync().ConfigureAwait(false);
        }

        if (exitWhenDone)
        {
            _lifetime?.StopApplication();
        }
    }

    // A grant with a zero interval must not turn the loop into a busy one.
    private static TimeSpan Interval(WorkerLeaseGrant grant) => grant.HeartbeatInterval > MinHeartbeatInterval ? grant.HeartbeatInterval : MinHeartbeatInterval;

    private static TimeSpan RegistrationBackoff(int failures)
    {
        var delay = FirstRegistrationRetry * Math.Pow(2, Math.Min(failures, 10));
        var capped = delay < MaxRegistrationRetry ? delay : MaxRegistrationRetry;
        // Jitter, so a fleet restarted together does not knock on the control plane in step.
        return capped * (0.8 + (Random.Shared.NextDouble() * 0.4));
    }

    // Exception type and message only: the protocol carries secrets in specs, but no call here puts one in a message.
    private static string Describe(Exception e) => e is OperationCanceledException ? "timed out" : $"{e.GetType().Name}: {e.Message}";

    private static readonly string Version =
        typeof(WorkerAgent).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(WorkerAgent).Assembly.GetName().Version?.ToString()
        ?? "unknown";

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {WorkerId} registered as {Name} (lease {LeaseDuration}, heartbeat every {HeartbeatInterval})")]
    private static partial void LogRegistered(ILogger logger, Guid workerId, string name, TimeSpan leaseDuration, TimeSpan heartbeatInterval);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Registering with the control plane failed; trying again: {Reason}")]
    private static partial void LogRegistrationFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The control plane granted worker {WorkerId} no lease on registration; trying again")]
    private static partial void LogRegistrationRefused(ILogger logger, Guid workerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat failed (lease held for {Remaining} more): {Reason}")]
    private static partial void LogHeartbeatFailed(ILogger logger, TimeSpan remaining, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Worker {WorkerId}: the control plane says the lease is gone; stopping every pipeline and registering again")]
    private static partial void LogLeaseLost(ILogger logger, Guid workerId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lease no longer held: stopping all {Count} pipelines until a heartbeat is acknowledged again")]
    private static partial void LogStoppingEverything(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Heartbeat loop failed; going on: {Reason}")]
    private static partial void LogHeartbeatLoopFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Lease watchdog failed; checking again: {Reason}")]
    private static partial void LogWatchdogFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Publishing {Count} progress reports failed; the next heartbeat publishes them again: {Reason}")]
    private static partial void LogPublishFailed(ILogger logger, int count, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Report loop failed; going on: {Reason}")]
    private static partial void LogReportLoopFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading assignments failed; keeping the current ones: {Reason}")]
    private static partial void LogAssignmentsFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} is no longer placed here under epoch {Epoch}; skipping it")]
    private static partial void LogSpecUnavailable(ILogger logger, Guid pipelineId, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} was deleted, but this worker never held its spec: its source slot and publication cannot be dropped here and must be dropped by hand")]
    private static partial void LogDropWithoutSpec(ILogger logger, Guid pipelineId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not tell the control plane that this worker drains (its hand-backs will): {Reason}")]
    private static partial void LogDrainNotAnnounced(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {WorkerId} draining: handing back {Count} pipelines one by one")]
    private static partial void LogDraining(ILogger logger, Guid workerId, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} stopped and handed back (epoch {Epoch})")]
    private static partial void LogReleased(ILogger logger, Guid pipelineId, long epoch);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} stopped, but handing it back failed: {Reason}")]
    private static partial void LogReleaseFailed(ILogger logger, Guid pipelineId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Worker {WorkerId} drained: {Count} pipelines handed back")]
    private static partial void LogDrained(ILogger logger, Guid workerId, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Drain did not finish within {DrainTimeout}; stopping the {Count} pipelines left without handing them back")]
    private static partial void LogDrainTimedOut(ILogger logger, TimeSpan drainTimeout, int count);

    private sealed record HeldSpec(PipelineSpec Spec, DateTimeOffset? UnassignedSince);

    /// <summary>An auto-reset wake-up: <see cref="Set"/> wakes one waiter (or the next), a timeout on the injected clock wakes it too.</summary>
    private sealed class Signal : IDisposable
    {
        private readonly SemaphoreSlim _semaphore = new(0, 1);

        public void Set()
        {
            try
            {
                _semaphore.Release();
            }
            catch (SemaphoreFullException)
            {
            }
            catch (ObjectDisposedException)
            {
            }
        }

        /// <summary>Waits for a <see cref="Set"/> or the timeout; true when it was set.</summary>
        public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
        {
            using var done = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            var signalled = _semaphore.WaitAsync(done.Token);
            var elapsed = Task.Delay(timeout, time, done.Token);
            await Task.WhenAny(signalled, elapsed).ConfigureAwait(false);
            await done.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(signalled, elapsed).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }

            cancellationToken.ThrowIfCancellationRequested();
            return signalled.IsCompletedSuccessfully;
        }

        public void Dispose() => _semaphore.Dispose();
    }
}
