using Freshet.Contracts;
using Freshet.ControlPlane.Status.Alerts;
using Freshet.ControlPlane.Status.Data;
using Freshet.ControlPlane.Status.Health;
using Freshet.ControlPlane.Status.Ingest;
using Freshet.ControlPlane.Status.Metrics;
using Freshet.ServiceDefaults;
using System.Diagnostics.Metrics;
using MassTransit;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Freshet.ControlPlane.Status;

/// <summary>
/// The status module: ingests workers' progress reports (<see cref="IPipelineStatusSink"/>) into each pipeline's current
/// status, a time series and an event log, and derives health from them.
/// </summary>
public static class StatusModule
{
    /// <summary>The control database connection (the application role), shared with the other modules.</summary>
    public const string ControlConnectionName = "Control";

    public static IHostApplicationBuilder AddStatusModule(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<IDatabaseMigrator, StatusDatabaseMigrator>();
        var connectionString = builder.Configuration.GetConnectionString(ControlConnectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ControlConnectionName} is not set: the status module needs the control database.");
        services.AddKeyedSingleton(nameof(StatusModule), (_, _) => NpgsqlDataSource.Create(connectionString));
        services.TryAddSingleton(TimeProvider.System);
        services.AddMetrics();
        services.AddSingleton(sp => new StatusMetrics(sp.GetRequiredService<IMeterFactory>(), sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new StatusStore(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<StatusStore>>(),
            sp.GetRequiredService<StatusMetrics>()));
        services.AddSingleton<IPipelineStatusSink>(sp => sp.GetRequiredService<StatusStore>());
        services.AddOptions<HealthRulesOptions>().BindConfiguration(HealthRulesOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IPipelineStatusReader>(sp => new StatusReader(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<IOptions<HealthRulesOptions>>().Value.ToRules()));
        services.AddSingleton(sp => new StatusMaintenance(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<StatusMaintenance>>()));
        services.AddHostedService(sp => sp.GetRequiredService<StatusMaintenance>());
        services.AddOptions<StatusFeedOptions>().BindConfiguration(StatusFeedOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => new StatusChangeFeed(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp.GetRequiredService<IOptions<StatusFeedOptions>>().Value.StreamTick,
            sp.GetRequiredService<ILogger<StatusChangeFeed>>()));
        services.AddSingleton<IPipelineStatusFeed>(sp => sp.GetRequiredService<StatusChangeFeed>());
        services.AddHostedService(sp => sp.GetRequiredService<StatusChangeFeed>());
        AddAlerts(services);
        services.AddOptions<StatusMetricsOptions>().BindConfiguration(StatusMetricsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        if (!ServesMetrics(builder.Configuration))
        {
            return builder;
        }

        services.AddHostedService(sp => new PipelineMetricsRefresher(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp,
            sp.GetRequiredService<StatusMetrics>(),
            sp.GetRequiredService<IOptions<StatusMetricsOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<PipelineMetricsRefresher>>()));
        return builder;
    }

    /// <summary>
    /// Alert evaluation and webhook delivery. The rules are the API module's (<see cref="IAlertRuleCatalog"/>): a status
    /// process without the api role keeps its status current but evaluates no alerts, and says so at start.
    /// </summary>
    private static void AddAlerts(IServiceCollection services)
    {
        services.AddOptions<AlertOptions>().BindConfiguration(AlertOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton(sp => new WebhookSender(sp.GetRequiredService<IOptions<AlertOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<IAlertHistory>(sp => new AlertHistory(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp.GetRequiredService<WebhookSender>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<StatusMetrics>()));
        services.AddSingleton(sp => new WebhookDispatcher(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp.GetRequiredService<IAlertRuleCatalog>(),
            sp.GetRequiredService<WebhookSender>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<WebhookDispatcher>>(),
            sp.GetRequiredService<StatusMetrics>()));
        services.AddSingleton(sp => new AlertEngine(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(StatusModule)),
            sp.GetRequiredService<IAlertRuleCatalog>(),
            sp.GetRequiredService<IPipelineStatusReader>(),
            sp.GetRequiredService<WebhookDispatcher>(),
            sp.GetRequiredService<IOptions<AlertOptions>>().Value,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<AlertEngine>>()));
        services.AddHostedService(sp => new AlertServices(sp, sp.GetRequiredService<ILogger<AlertServices>>()));
    }

    /// <summary>
    /// Consumes the reports workers publish on the bus (<see cref="PipelineStatusReported"/>) from one durable queue that
    /// every status process shares, ingesting those of placements their worker holds. Needs
    /// <see cref="IPipelinePlacements"/> (the scheduler module's) in the container.
    /// </summary>
    public static IBusRegistrationConfigurator AddStatusReportConsumer(this IBusRegistrationConfigurator bus)
    {
        bus.AddConsumer<PipelineStatusReportedConsumer, PipelineStatusReportedConsumerDefinition>();
        return bus;
    }

    /// <summary>
    /// Whether this process serves the per-pipeline figures: the host's scrape endpoint (<c>Freshet:Metrics</c>) answers
    /// only when enabled and given a scrape token. Otherwise nothing reads them, and reading every pipeline's status and
    /// tenant every few seconds would be work for no one.
    /// </summary>
    private static bool ServesMetrics(IConfiguration configuration)
    {
        var metrics = configuration.GetSection("Freshet:Metrics");
        return metrics.GetValue("Enabled", defaultValue: true) && !string.IsNullOrEmpty(metrics["ScrapeToken"]);
    }
}

internal sealed class StatusDatabaseMigrator : IDatabaseMigrator
{
    public string Module => "status";

    public int Order => 20;

    public async Task MigrateAsync(string adminConnectionString, CancellationToken cancellationToken)
    {
        var options = new DbContextOptionsBuilder<StatusDbContext>();
        StatusDbContext.Configure(options, adminConnectionString);
        await using var db = new StatusDbContext(options.Options);
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
    }
}
