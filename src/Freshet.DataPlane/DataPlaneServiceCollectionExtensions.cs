using Freshet.DataPlane.Runtime;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
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
}
