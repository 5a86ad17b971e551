using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Freshet.ControlPlane.Status.Data;

/// <summary>
/// The status module's schema, for migrations only: its tables are written and read through SQL (<see
/// cref="Ingest.StatusStore"/>), where ingest needs upserts guarded by report time that EF does not express.
/// </summary>
internal sealed class StatusDbContext(DbContextOptions<StatusDbContext> options) : DbContext(options)
{
    public const string MigrationsHistoryTable = "__status_migrations";

    public static void Configure(DbContextOptionsBuilder options, string connectionString) =>
        options.UseNpgsql(connectionString, npgsql => npgsql.MigrationsHistoryTable(MigrationsHistoryTable));
}

internal sealed class DesignTimeStatusDbContextFactory : IDesignTimeDbContextFactory<StatusDbContext>
{
    public StatusDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<StatusDbContext>();
        StatusDbContext.Configure(options, "Host=localhost;Database=design_time");
        return new StatusDbContext(options.Options);
    }
}
