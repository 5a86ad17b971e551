using Freshet.DataPlane.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane;

public static class DataPlaneServiceCollectionExtensions
{
    /// <summary>
    /// Adds the worker runtime and the background service that keeps it in line with <typeparamref name="TFeed"/>.
    /// Used by the standalone worker and by a control-plane host that embeds a worker. Throws when
    /// <paramref name="options"/> cannot work (see <see cref="DataPlaneOptions.Validate"/>).
    /// </summary>
    public static IServiceCollection AddDataPlaneWorker<TFeed>(this IServiceCollection services, DataPlaneOptions options)
        where TFeed : class, IPipelineAssignmentFeed
    {
        // At start-up, so a wrong setting stops the process with its name rather than failing every pipeline later.
        options.Validate();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton<IPipelineAssignmentFeed, TFeed>();
        services.AddSingleton(sp => new WorkerRuntime(options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddHostedService<WorkerService>();
        return services;
    }

    /// <summary>
    /// Adds the connection tests of the types whose clients live in the data plane (Snowflake, BigQuery), as
    /// <see cref="Contracts.IConnectionProbe"/>s: a host that composes the API module hands them to its connection test.
    /// </summary>
    public static IServiceCollection AddDataPlaneConnectionProbes(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton<Contracts.IConnectionProbe>(sp => new Destinations.Snowflake.SnowflakeConnectionProbe(
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton<Contracts.IConnectionProbe>(sp => new Destinations.BigQuery.BigQueryConnectionProbe(
            sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        return services;
    }

    /// <summary>
    /// Adds the worker runtime driven by a control plane: a <see cref="WorkerAgent"/> (also registered as itself, so a
    /// message-bus consumer can <see cref="WorkerAgent.Poke"/> it) that talks to the <see cref="Contracts.IWorkerControl"/>
    /// registered in the container: the HTTP client in a standalone worker, the scheduler module in a control-plane host.
    /// When the container holds an <see cref="IProgressReportPublisher"/>, the agent publishes its reports there too.
    /// The host must give its hosted services <see cref="WorkerAgentOptions.ShutdownTimeout"/> to stop, or a drain is cut
    /// short. Throws when a setting cannot work.
    /// </summary>
    public static IServiceCollection AddDataPlaneWorkerAgent(this IServiceCollection services, DataPlaneOptions options, WorkerAgentOptions agentOptions)
    {
        options.Validate();
        agentOptions.Validate(requireControlPlane: false);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        services.AddSingleton(agentOptions);
        services.AddSingleton(sp => new WorkerRuntime(options, sp.GetRequiredService<TimeProvider>(), sp.GetRequiredService<ILoggerFactory>()));
        services.AddSingleton(sp => new WorkerAgent(
            sp.GetRequiredService<Contracts.IWorkerControl>(),
            sp.GetRequiredService<WorkerRuntime>(),
            agentOptions,
            options,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<WorkerAgent>>(),
            sp.GetService<IHostApplicationLifetime>(),
            sp.GetService<IProgressReportPublisher>()));
        services.AddHostedService(sp => sp.GetRequiredService<WorkerAgent>());
        return services;
    }
}
