using Freshet.Contracts;
using Freshet.ControlPlane.Scheduler.Data;
using Freshet.ControlPlane.Scheduler.Leadership;
using Freshet.ControlPlane.Scheduler.Placement;
using Freshet.ControlPlane.Scheduler.Workers;
using Freshet.ServiceDefaults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Freshet.ControlPlane.Scheduler;

/// <summary>
/// The scheduler module: workers and their leases, placements with epochs, and the leader-elected reconcile loop. It
/// serves the worker protocol (<see cref="IWorkerControl"/>) and the pool view (<see cref="IWorkerPool"/>) to the API
/// module, and reads pipelines through <see cref="IPipelineCatalog"/>, which the API module provides.
/// </summary>
public static class SchedulerModule
{
    /// <summary>The control database connection (the application role), shared with the API module.</summary>
    public const string ControlConnectionName = "Control";

    public static IHostApplicationBuilder AddSchedulerModule(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddSingleton<IDatabaseMigrator, SchedulerDatabaseMigrator>();
        var connectionString = builder.Configuration.GetConnectionString(ControlConnectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ControlConnectionName} is not set: the scheduler needs the control database.");
        services.AddOptions<LeaseOptions>().BindConfiguration(LeaseOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LeaseOptions>, ValidateLeaseOptions>();
        services.AddSingleton(sp => sp.GetRequiredService<IOptions<LeaseOptions>>().Value);
        services.AddKeyedSingleton(nameof(SchedulerModule), (_, _) => NpgsqlDataSource.Create(connectionString));
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<ReconcileSignal>();
        services.AddSingleton(sp => new WorkerCoordinator(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(SchedulerModule)),
            sp.GetRequiredService<IPipelineCatalog>(),
            sp.GetRequiredService<LeaseOptions>(),
            sp.GetRequiredService<ReconcileSignal>(),
            [.. sp.GetServices<IPipelineStatusSink>()],
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<WorkerCoordinator>>()));
        services.AddSingleton<IWorkerControl>(sp => sp.GetRequiredService<WorkerCoordinator>());
        services.AddSingleton<IWorkerPool>(sp => sp.GetRequiredService<WorkerCoordinator>());
        services.AddSingleton<IPipelinePlacements>(sp => sp.GetRequiredService<WorkerCoordinator>());
        services.AddSingleton(sp => new Reconciler(
            sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(SchedulerModule)),
            sp.GetRequiredService<IPipelineCatalog>(),
            sp.GetRequiredService<LeaseOptions>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<Reconciler>>()));
        services.AddSingleton(sp => ActivatorUtilities.CreateInstance<SchedulerService>(sp, sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(SchedulerModule))));
        services.AddHostedService(sp => sp.GetRequiredService<SchedulerService>());
        return builder;
    }

    /// <summary>
    /// Only the read side, for a process that runs the API or the status module without the scheduler: where pipelines
    /// run (<see cref="IPipelinePlacements"/>), so the API shows runtimes and the status module judges reports against
    /// the placement a worker holds. No leases, no worker protocol, no reconcile loop.
    /// </summary>
    public static IHostApplicationBuilder AddPipelinePlacements(this IHostApplicationBuilder builder)
    {
        var connectionString = builder.Configuration.GetConnectionString(ControlConnectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ControlConnectionName} is not set: placements are read from the control database.");
        builder.Services.AddKeyedSingleton(nameof(SchedulerModule), (_, _) => NpgsqlDataSource.Create(connectionString));
        builder.Services.AddSingleton<IPipelinePlacements>(sp => new PlacementDirectory(sp.GetRequiredKeyedService<NpgsqlDataSource>(nameof(SchedulerModule))));
        return builder;
    }

    private sealed class ValidateLeaseOptions : IValidateOptions<LeaseOptions>
    {
        public ValidateOptionsResult Validate(string? name, LeaseOptions options) =>
            options.Validate() is { } error ? ValidateOptionsResult.Fail($"{LeaseOptions.Section}: {error}") : ValidateOptionsResult.Success;
    }
}

internal sealed class SchedulerDatabaseMigrator : IDatabaseMigrator
{
    public string Module => "scheduler";

    public int Order => 10;

    public async Task MigrateAsync(string adminConnectionString, CancellationToken cancellationToken)
    {
        var options = new DbContextOptionsBuilder<SchedulerDbContext>();
        SchedulerDbContext.Configure(options, adminConnectionString);
        await using var db = new SchedulerDbContext(options.Options);
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
    }
}
