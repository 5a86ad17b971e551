using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Freshet.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.ControlPlane.Status.Ingest;

/// <summary>The live feed's settings (<c>Freshet:Status</c>).</summary>
internal sealed class StatusFeedOptions
{
    public const string Section = "Freshet:Status";

    /// <summary>See <see cref="IPipelineStatusFeed.RejudgeInterval"/>.</summary>
    [System.ComponentModel.DataAnnotations.Range(typeof(TimeSpan), "00:00:00.100", "01:00:00", ErrorMessage = "Freshet:Status:StreamTick must be between 00:00:00.100 and 01:00:00.")]
    public TimeSpan StreamTick { get; set; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// One LISTEN connection per process on <see cref="Channel"/>, fanned out to every subscriber. The store's NOTIFY is
/// sent inside the ingest transaction, so a listener hears of a change only once it is committed and readable.
/// </summary>
internal sealed partial class StatusChangeFeed(NpgsqlDataSource dataSource, TimeSpan rejudgeInterval, ILogger<StatusChangeFeed> logger)
    : BackgroundService, IPipelineStatusFeed
{
    /// <summary>The notification channel the store notifies on, with the pipeline id as payload.</summary>
    public const string Channel = "freshet_status";

    // Enough for a burst of reports from a whole worker; beyond it the oldest ids go (readers re-read state anyway).
    private const int SubscriberCapacity = 4_096;
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ProbeAfter = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();

    public TimeSpan RejudgeInterval => rejudgeInterval;
    private readonly List<Channel<Guid>> _subscribers = [];

    public async IAsyncEnumerable<Guid> ChangesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = System.Threading.Channels.Channel.CreateBounded<Guid>(new BoundedChannelOptions(SubscriberCapacity)
        {
            FullMode = BoundedChannelFullMode.DropOldest,
            SingleReader = true,
        });
        lock (_lock)
        {
            _subscribers.Add(channel);
        }

        try
        {
            await foreach (var id in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return id;
            }
        }
        finally
        {
            lock (_lock)
            {
                _subscribers.Remove(channel);
            }
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(stoppingToken).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    if (Guid.TryParse(e.Payload, out var id))
                    {
                        Publish(id);
                    }
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
                }

                while (!stoppingToken.IsCancellationRequested)
                {
                    // A connection that died without a word (a dropped NAT entry, a failover) would wait forever: after a
                    // quiet spell, a round trip proves it alive or throws, and the loop reconnects.
                    if (!await connection.WaitAsync(ProbeAfter, stoppingToken).ConfigureAwait(false))
                    {
                        await using var probe = new NpgsqlCommand("SELECT 1", connection);
                        await probe.ExecuteNonQueryAsync(stoppingToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception exception) when (exception is NpgsqlException or TimeoutException or System.IO.IOException)
            {
                // Changes missed meanwhile are not replayed: listeners re-read state on their own schedule too.
                LogListenFailed(logger, exception);
                try
                {
                    await Task.Delay(ReconnectDelay, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void Publish(Guid id)
    {
        lock (_lock)
        {
            foreach (var subscriber in _subscribers)
            {
                subscriber.Writer.TryWrite(id);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Lost the status change feed's LISTEN connection; reconnecting")]
    private static partial void LogListenFailed(ILogger logger, Exception exception);
}
