using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Sources;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Runtime;

/// <summary>
/// The pipelines running in this process. Reconciled level-triggered against the full list of assignments: new ones
/// start, missing ones stop (and, when deleted rather than paused, drop their source slot and publication), a newer
/// spec generation or epoch restarts the pipeline from its checkpoint.
/// </summary>
public sealed partial class WorkerRuntime : IAsyncDisposable
{
    private readonly IConnectorFactory _connectors;
    private readonly DataPlaneOptions _options;
    private readonly TimeProvider _time;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly Dictionary<Guid, Running> _running = [];
    private readonly Dictionary<Guid, PipelineAssignment> _paused = [];
    private readonly Dictionary<Guid, (DateTimeOffset At, SourceStatus Status)> _pausedSource = [];
    private readonly SemaphoreSlim _lock = new(1, 1);
    // Guards _running's contents for readers outside _lock; _lock serializes the changes themselves.
    private readonly Lock _runningGate = new();
    private int _disposed;

    public WorkerRuntime(DataPlaneOptions options, TimeProvider time, ILoggerFactory loggerFactory)
        : this(new ConnectorFactory(options, loggerFactory), options, time, loggerFactory)
    {
    }

    internal WorkerRuntime(IConnectorFactory connectors, DataPlaneOptions options, TimeProvider time, ILoggerFactory loggerFactory)
    {
        _connectors = connectors;
        _options = options;
        _time = time;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<WorkerRuntime>();
    }

    /// <summary>
    /// Brings the running set in line with <paramref name="assignments"/> (the complete list for this worker); a pipeline
    /// missing from it is taken as deleted: stopped, and its source slot and publication dropped (the spec-file feed).
    /// </summary>
    public Task ReconcileAsync(IReadOnlyList<PipelineAssignment> assignments, CancellationToken cancellationToken) =>
        ReconcileAsync(assignments, dropMissing: true, cancellationToken);

    /// <summary>
    /// Brings the running set in line with <paramref name="assignments"/> (the complete list for this worker). When
    /// <paramref name="dropMissing"/> is false, a pipeline missing from the list is only stopped (and forgotten when
    /// paused): it was moved, paused or revoked, and its slot must stay for whoever runs it next. A control-plane
    /// worker names deleted pipelines separately and drops them with <see cref="DropSourceAsync"/>.
    /// </summary>
    public async Task ReconcileAsync(IReadOnlyList<PipelineAssignment> assignments, bool dropMissing, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var wanted = assignments.ToDictionary(a => a.Spec.PipelineId);
            foreach (var (id, running) in _running.ToList())
            {
                if (!wanted.TryGetValue(id, out var assignment))
                {
                    await StopAsync(id, running).ConfigureAwait(false);
                    if (dropMissing)
                    {
                        await DropSourceAsync(running.Supervisor.Spec, cancellationToken).ConfigureAwait(false);
                    }
                }
                else if (assignment.State != DesiredState.Running
                    || assignment.Spec.Generation != running.Supervisor.Spec.Generation
                    || assignment.Spec.Epoch != running.Supervisor.Spec.Epoch
                    || running.Task.IsCompleted)
                {
                    await StopAsync(id, running).ConfigureAwait(false);
                }
            }

            foreach (var (id, paused) in _paused.ToList())
            {
                if (!wanted.ContainsKey(id))
                {
                    _paused.Remove(id);
                    _pausedSource.Remove(id);
                    if (dropMissing)
                    {
                        await DropSourceAsync(paused.Spec, cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            foreach (var assignment in assignments)
            {
                var id = assignment.Spec.PipelineId;
                if (assignment.State != DesiredState.Running)
                {
                    _paused[id] = assignment;
                    await MeasurePausedAsync(assignment.Spec, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                _paused.Remove(id);
                _pausedSource.Remove(id);
                if (_running.TryGetValue(id, out var running) && running.Supervisor.Progress.Report().State == PipelineRunState.Fenced)
                {
                    continue;
                }

                if (!_running.ContainsKey(id))
                {
                    Start(assignment.Spec);
                }
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Progress of every pipeline this worker runs.</summary>
    public IReadOnlyList<PipelineProgressReport> Reports()
    {
        var reports = Snapshot().Select(r => r.Supervisor.Progress.Report()).ToList();
        foreach (var paused in _paused.Values)
        {
            var source = _pausedSource.TryGetValue(paused.Spec.PipelineId, out var measured) ? measured.Status : SourceStatus.Unknown;
            reports.Add(new PipelineProgressReport(paused.Spec.PipelineId, paused.Spec.Epoch, PipelineRunState.Paused, "paused",
                null, source.HeadPosition, null, null, 0, 0, 0, null, null, source.RetainedBytes, 0, 0, 0, 0, new Dictionary<string, TableProgressReport>(),
                _time.GetUtcNow(), RetainedWalLimitBytes: source.RetainedLimitBytes, RetainedWalLimitKind: source.RetainedLimitKind));
        }

        return reports;
    }

    /// <summary>
    /// Every pipeline this worker runs now (paused ones excluded), each with its epoch, generation and latest progress:
    /// what a worker's heartbeat carries. A fenced or failed pipeline is still listed until it is reconciled away.
    /// </summary>
    public IReadOnlyList<RunningPipeline> RunningPipelines() =>
        [.. Snapshot().Select(r => new RunningPipeline(r.Supervisor.Spec.PipelineId, r.Supervisor.Spec.Epoch, r.Supervisor.Spec.Generation, r.Supervisor.Progress.Report()))];

    /// <summary>
    /// Stops one pipeline (it finishes or abandons its current batch; the destination checkpoint stays consistent) and
    /// keeps its source objects; false when it was not running. For a worker handing its pipelines back one by one.
    /// </summary>
    public async Task<bool> StopAsync(Guid pipelineId)
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            if (!_running.TryGetValue(pipelineId, out var running))
            {
                return false;
            }

            await StopAsync(pipelineId, running).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// A paused pipeline keeps its slot, which keeps holding WAL back: measure it now and then so the status shows how
    /// much (and support sees a paused pipeline becoming a risk for the source's disk).
    /// </summary>
    private async Task MeasurePausedAsync(PipelineSpec spec, CancellationToken cancellationToken)
    {
        if (_pausedSource.TryGetValue(spec.PipelineId, out var last) && _time.GetUtcNow() - last.At < PausedMeasureInterval)
        {
            return;
        }

        try
        {
            await using var source = _connectors.CreateSource(spec, _time);
            var status = await source.MeasureAsync(cancellationToken).ConfigureAwait(false);
            _pausedSource[spec.PipelineId] = (_time.GetUtcNow(), status);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            _pausedSource[spec.PipelineId] = (_time.GetUtcNow(), SourceStatus.Unknown);
            LogMeasureFailed(_logger, spec.PipelineId, Engine.FailureReason.Describe(e));
        }
    }

    /// <summary>
    /// Removes what a deleted pipeline created at its source (its replication slot, and its publication when this
    /// service created it); false (logged) when the source could not be reached or refused.
    /// </summary>
    public async Task<bool> DropSourceAsync(PipelineSpec spec, CancellationToken cancellationToken)
    {
        try
        {
            await using var source = _connectors.CreateSource(spec, _time);
            await source.DropAsync(cancellationToken).ConfigureAwait(false);
            LogDropped(_logger, spec.PipelineId);
            return true;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogDropFailed(_logger, spec.PipelineId, e.Message);
            return false;
        }
    }

    /// <summary>
    /// Stops every pipeline at once (each finishes or abandons its current batch; the destination checkpoint stays
    /// consistent); source objects are kept.
    /// </summary>
    public async Task StopAllAsync()
    {
        await _lock.WaitAsync().ConfigureAwait(false);
        try
        {
            // Cancelled together, so a worker that lost its lease stops writing everywhere as early as it can.
            await Task.WhenAll(_running.ToList().Select(r => StopAsync(r.Key, r.Value))).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Stops every pipeline; safe to call more than once (the host stops the runtime, then its container disposes it).</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await StopAllAsync().ConfigureAwait(false);
    }

    /// <summary>The running set, read without waiting for a reconciliation in progress (heartbeats and status read it).</summary>
    private List<Running> Snapshot()
    {
        lock (_runningGate)
        {
            return [.. _running.Values];
        }
    }

    private void Start(PipelineSpec spec)
    {
        var supervisor = new PipelineSupervisor(spec, _connectors, _options, _time, _loggerFactory);
        var stop = new CancellationTokenSource();
        var task = Task.Run(() => supervisor.RunAsync(stop.Token), CancellationToken.None);
        lock (_runningGate)
        {
            _running[spec.PipelineId] = new Running(supervisor, stop, task);
        }

        LogStarted(_logger, spec.PipelineId, spec.Generation, spec.Epoch);
    }

    private async Task StopAsync(Guid id, Running running)
    {
        await running.Stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await running.Task.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        running.Stop.Dispose();
        lock (_runningGate)
        {
            _running.Remove(id);
        }

        LogStopped(_logger, id);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} started (generation {Generation}, epoch {Epoch})")]
    private static partial void LogStarted(ILogger logger, Guid pipelineId, long generation, long epoch);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId} stopped")]
    private static partial void LogStopped(ILogger logger, Guid pipelineId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Pipeline {PipelineId}: source slot and publication dropped")]
    private static partial void LogDropped(ILogger logger, Guid pipelineId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId}: dropping the source slot failed: {Reason}")]
    private static partial void LogDropFailed(ILogger logger, Guid pipelineId, string reason);

    private static readonly TimeSpan PausedMeasureInterval = TimeSpan.FromSeconds(30);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pipeline {PipelineId} is paused; measuring its slot failed: {Reason}")]
    private static partial void LogMeasureFailed(ILogger logger, Guid pipelineId, string reason);

    private sealed record Running(PipelineSupervisor Supervisor, CancellationTokenSource Stop, Task Task);
}
