using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Freshet.ControlPlane.Api.Data;

/// <summary>Lets <c>dotnet ef migrations add</c> build the model without a running host or database.</summary>
internal sealed class DesignTimeControlDbContextFactory : IDesignTimeDbContextFactory<ControlDbContext>
{
    public ControlDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<ControlDbContext>();
        ControlDbContextOptions.Configure(options, "Host=localhost;Database=design_time");
        return new ControlDbContext(options.Options, TenantContext.ForPlatform(Actor.System));
    }
}

internal static class ControlDbContextOptions
{
    public static void Configure(DbContextOptionsBuilder options, string connectionString) =>
        options
            .UseNpgsql(connectionString, npgsql => npgsql.MigrationsHistoryTable(ControlDbContext.MigrationsHistoryTable))
            .UseSnakeCaseNamingConvention()
            .AddInterceptors(new TenantSessionInterceptor());
}
