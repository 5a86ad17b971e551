using Freshet.ControlPlane.Scheduler.Data;
using Freshet.ServiceDefaults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Freshet.ControlPlane.Scheduler;

/// <summary>
/// The scheduler module. This release owns the workers and assignments tables; the reconciler (leases, epochs,
/// placement, failover, drain) arrives with the scheduler issue.
/// </summary>
public static class SchedulerModule
{
    public static IHostApplicationBuilder AddSchedulerModule(this IHostApplicationBuilder builder)
    {
        builder.Services.AddSingleton<IDatabaseMigrator, SchedulerDatabaseMigrator>();
        return builder;
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
