using Freshet.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freshet.ControlPlane.Status.Alerts;

/// <summary>
/// Runs alert evaluation and webhook delivery together where the alert rules can be read (the api role provides
/// <see cref="IAlertRuleCatalog"/>); in a status process without it, says at start that alerts are evaluated elsewhere.
/// </summary>
internal sealed partial class AlertServices(IServiceProvider services, ILogger<AlertServices> logger) : IHostedService
{
    private IHostedService[] _running = [];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (services.GetService<IAlertRuleCatalog>() is null)
        {
            LogNoRules(logger);
            return Task.CompletedTask;
        }

        _running = [services.GetRequiredService<AlertEngine>(), services.GetRequiredService<WebhookDispatcher>()];
        return Task.WhenAll(_running.Select(s => s.StartAsync(cancellationToken)));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.WhenAll(_running.Select(s => s.StopAsync(cancellationToken)));

    [LoggerMessage(Level = LogLevel.Information, Message = "Alert rules are not evaluated in this process: they are read through the api role; run status together with api in at least one process")]
    private static partial void LogNoRules(ILogger logger);
}
