using System.Text.Json;
using Freshet.ControlPlane.Scheduler.Placement;
using Freshet.ControlPlane.Scheduler.Workers;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.ChangeTracking;
using Microsoft.EntityFrameworkCore.Design;

namespace Freshet.ControlPlane.Scheduler.Data;

/// <summary>The scheduler's own tables: workers (with leases) and assignments (with epochs).</summary>
internal sealed class SchedulerDbContext(DbContextOptions<SchedulerDbContext> options) : DbContext(options)
{
    public const string MigrationsHistoryTable = "__scheduler_migrations";

    public DbSet<Worker> Workers => Set<Worker>();

    public DbSet<Assignment> Assignments => Set<Assignment>();

    public static void Configure(DbContextOptionsBuilder options, string connectionString) =>
        options.UseNpgsql(connectionString, npgsql => npgsql.MigrationsHistoryTable(MigrationsHistoryTable)).UseSnakeCaseNamingConvention();

    protected override void OnModelCreating(ModelBuilder builder)
    {
        builder.Entity<Worker>(worker =>
        {
            worker.Property(w => w.Name).HasMaxLength(200);
            worker.Property(w => w.Zone).HasMaxLength(100);
            worker.Property(w => w.Version).HasMaxLength(100);
            worker.Property(w => w.Labels).HasColumnType("jsonb").HasConversion(
                labels => JsonSerializer.Serialize(labels, JsonSerializerOptions.Default),
                json => JsonSerializer.Deserialize<Dictionary<string, string>>(json, JsonSerializerOptions.Default) ?? new Dictionary<string, string>(),
                new ValueComparer<Dictionary<string, string>>(
                    (a, b) => JsonSerializer.Serialize(a, JsonSerializerOptions.Default) == JsonSerializer.Serialize(b, JsonSerializerOptions.Default),
                    labels => JsonSerializer.Serialize(labels, JsonSerializerOptions.Default).GetHashCode(StringComparison.Ordinal),
                    labels => new Dictionary<string, string>(labels)));
            worker.HasIndex(w => w.LeaseExpiresAt);
        });

        builder.Entity<Assignment>(assignment =>
        {
            // One placement per pipeline: a move replaces the row with a higher epoch.
            assignment.HasKey(a => a.PipelineId);
            assignment.HasIndex(a => a.WorkerId);
            // A worker row removed (long gone) leaves its pipelines unplaced, keeping their epochs.
            assignment.HasOne<Worker>().WithMany().HasForeignKey(a => a.WorkerId).OnDelete(DeleteBehavior.SetNull);
            assignment.Property(a => a.Report).HasColumnType("jsonb");
        });
    }
}

internal sealed class DesignTimeSchedulerDbContextFactory : IDesignTimeDbContextFactory<SchedulerDbContext>
{
    public SchedulerDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<SchedulerDbContext>();
        SchedulerDbContext.Configure(options, "Host=localhost;Database=design_time");
        return new SchedulerDbContext(options.Options);
    }
}
