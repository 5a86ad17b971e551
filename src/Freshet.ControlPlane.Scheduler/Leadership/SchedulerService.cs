using Freshet.Contracts;
using Freshet.ControlPlane.Scheduler.Placement;
using Freshet.ControlPlane.Scheduler.Workers;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.ControlPlane.Scheduler.Leadership;

/// <summary>
/// The scheduler role's loop: stand for leadership (renewing every third of the lease), and while leading reconcile at
/// every tick or sooner when something asks (<see cref="ReconcileSignal"/>); after each committed round, hint the workers
/// whose assignments changed over the message bus. Resigns on shutdown so a standby takes over at once.
/// </summary>
internal sealed partial class SchedulerService(
    NpgsqlDataSource dataSource,
    Reconciler reconciler,
    ReconcileSignal signal,
    LeaseOptions options,
    IServiceProvider services,
    TimeProvider time,
    ILogger<SchedulerService> logger) : BackgroundService
{
    private readonly SchedulerLeadership _leadership = new(dataSource, Guid.NewGuid(), $"{Environment.MachineName}/{Environment.ProcessId}", options.LeaderLeaseDuration);
    private LeadershipTerm? _term;
    private long _renewedAt;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RenewIfDueAsync(stoppingToken).ConfigureAwait(false);
                if (_term is { } term)
                {
                    var outcome = await reconciler.RunOnceAsync(term, stoppingToken).ConfigureAwait(false);
                    if (outcome.TouchedWorkers.Count > 0)
                    {
                        await HintAsync(outcome.TouchedWorkers, stoppingToken).ConfigureAwait(false);
                    }
                }
            }
            catch (NotLeaderException e)
            {
                _term = null;
                LogDeposed(logger, e.Message);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogRoundFailed(logger, e.Message);
            }

            try
            {
                await signal.WaitAsync(options.ReconcileInterval, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_term is not null)
        {
            try
            {
                await _leadership.ResignAsync(cancellationToken).ConfigureAwait(false);
                LogResigned(logger, _term.Term);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogRoundFailed(logger, e.Message);
            }

            _term = null;
        }
    }

    private async Task RenewIfDueAsync(CancellationToken cancellationToken)
    {
        if (_term is not null && time.GetElapsedTime(_renewedAt) < options.LeaderLeaseDuration / 3)
        {
            return;
        }

        var started = time.GetTimestamp();
        var term = await _leadership.TryAcquireOrRenewAsync(cancellationToken).ConfigureAwait(false);
        if (term is not null && term.Term != _term?.Term)
        {
            LogLeading(logger, term.Term);
        }
        else if (term is null && _term is not null)
        {
            LogDeposed(logger, "another scheduler took the lease");
        }

        _term = term;
        _renewedAt = started;
    }

    private async Task HintAsync(IReadOnlyList<Guid> workers, CancellationToken cancellationToken)
    {
        // A hint only speeds workers up (they poll anyway), so a bus that is down costs latency, never correctness.
        if (services.GetService<IBus>() is not { } bus)
        {
            return;
        }

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(2));
            await bus.Publish(new WorkerAssignmentsChanged(workers), timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            LogHintFailed(logger, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "This scheduler leads (term {Term})")]
    private static partial void LogLeading(ILogger logger, long term);

    [LoggerMessage(Level = LogLevel.Warning, Message = "This scheduler no longer leads: {Reason}")]
    private static partial void LogDeposed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Resigned leadership (term {Term})")]
    private static partial void LogResigned(ILogger logger, long term);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reconcile round failed; the next one starts from the database: {Reason}")]
    private static partial void LogRoundFailed(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Hinting workers over the bus failed (they still poll): {Reason}")]
    private static partial void LogHintFailed(ILogger logger, string reason);
}
