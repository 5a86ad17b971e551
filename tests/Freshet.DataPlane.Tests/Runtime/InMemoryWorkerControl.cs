using System.Collections.Concurrent;
using System.Diagnostics;
using Freshet.Contracts;

namespace Freshet.DataPlane.Tests.Runtime;

/// <summary>
/// The control plane as one worker sees it, in memory: what is placed on the worker (with specs), deleted pipelines to
/// drop, a lease granted on every call, and switches to make it unreachable, revoke the lease or ask for a drain.
/// Records what the worker said, with the time of every acknowledged heartbeat.
/// </summary>
internal sealed class InMemoryWorkerControl : IWorkerControl
{
    private readonly Lock _gate = new();
    private readonly Dictionary<Guid, PipelineSpec> _placed = [];
    private readonly List<Guid> _drop = [];
    private long _version = 1;
    private long _lastAcknowledgedAt;
    private bool _revoked;

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(3);

    public TimeSpan HeartbeatInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Every call throws, as when the network or the control plane is down.</summary>
    public volatile bool Unreachable;

    public volatile bool DrainRequested;

    /// <summary>Called on each registration, before it is answered.</summary>
    public Action<WorkerRegistration>? OnRegister { get; set; }

    /// <summary>Called on each release, before it is recorded.</summary>
    public Action<Guid, long>? OnRelease { get; set; }

    public ConcurrentQueue<WorkerRegistration> Registrations { get; } = new();

    public ConcurrentQueue<WorkerHeartbeat> Heartbeats { get; } = new();

    public ConcurrentQueue<(Guid PipelineId, long Epoch)> Released { get; } = new();

    public ConcurrentQueue<Guid> Confirmed { get; } = new();

    /// <summary><see cref="Stopwatch"/> timestamp taken when the last acknowledged registration or heartbeat arrived.</summary>
    public long LastAcknowledgedAt => Interlocked.Read(ref _lastAcknowledgedAt);

    public void Place(PipelineSpec spec) => Change(() => _placed[spec.PipelineId] = spec);

    /// <summary>Moved, paused or revoked: no longer placed here, not deleted.</summary>
    public void Unplace(Guid pipelineId) => Change(() => _placed.Remove(pipelineId));

    public void Delete(Guid pipelineId) => Change(() =>
    {
        _placed.Remove(pipelineId);
        _drop.Add(pipelineId);
    });

    /// <summary>The next heartbeat is answered with Held = false (the lease expired here); registering grants a new one.</summary>
    public void RevokeLease()
    {
        lock (_gate)
        {
            _revoked = true;
        }
    }

    public Task<WorkerLeaseGrant> RegisterAsync(WorkerRegistration registration, CancellationToken cancellationToken)
    {
        ThrowWhenUnreachable();
        OnRegister?.Invoke(registration);
        Registrations.Enqueue(registration);
        lock (_gate)
        {
            _revoked = false;
        }

        return Task.FromResult(Grant(registration.WorkerId, held: true));
    }

    public Task<WorkerLeaseGrant> HeartbeatAsync(WorkerHeartbeat heartbeat, CancellationToken cancellationToken)
    {
        ThrowWhenUnreachable();
        Heartbeats.Enqueue(heartbeat);
        bool revoked;
        lock (_gate)
        {
            revoked = _revoked;
        }

        return Task.FromResult(Grant(heartbeat.WorkerId, held: !revoked));
    }

    public Task<WorkerAssignments> GetAssignmentsAsync(Guid workerId, CancellationToken cancellationToken)
    {
        ThrowWhenUnreachable();
        lock (_gate)
        {
            return Task.FromResult(new WorkerAssignments(
                workerId, [.. _placed.Values.Select(s => new AssignedPipeline(s.PipelineId, s.Epoch, s.Generation))], [.. _drop], _version));
        }
    }

    public Task<PipelineSpec?> GetSpecAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        ThrowWhenUnreachable();
        lock (_gate)
        {
            return Task.FromResult(_placed.TryGetValue(pipelineId, out var spec) && spec.Epoch == epoch ? spec : null);
        }
    }

    public Task ReleaseAsync(Guid workerId, Guid pipelineId, long epoch, CancellationToken cancellationToken)
    {
        ThrowWhenUnreachable();
        OnRelease?.Invoke(pipelineId, epoch);
        Released.Enqueue((pipelineId, epoch));
        // The scheduler places a released pipeline elsewhere.
        Unplace(pipelineId);
        return Task.CompletedTask;
    }

    public Task ConfirmDroppedAsync(Guid workerId, Guid pipelineId, CancellationToken cancellationToken)
    {
        ThrowWhenUnreachable();
        Change(() => _drop.Remove(pipelineId));
        Confirmed.Enqueue(pipelineId);
        return Task.CompletedTask;
    }

    private WorkerLeaseGrant Grant(Guid workerId, bool held)
    {
        if (held)
        {
            Interlocked.Exchange(ref _lastAcknowledgedAt, Stopwatch.GetTimestamp());
        }

        lock (_gate)
        {
            return new WorkerLeaseGrant(workerId, held, LeaseDuration, HeartbeatInterval, DrainRequested, _version);
        }
    }

    private void Change(Action change)
    {
        lock (_gate)
        {
            change();
            _version++;
        }
    }

    private void ThrowWhenUnreachable()
    {
        if (Unreachable)
        {
            throw new HttpRequestException("Connection refused (control plane unreachable in this test)");
        }
    }
}
