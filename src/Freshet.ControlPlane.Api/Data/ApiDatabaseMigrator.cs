using Freshet.ControlPlane.Api.Tenancy;
using Freshet.ServiceDefaults;
using Microsoft.EntityFrameworkCore;

namespace Freshet.ControlPlane.Api.Data;

internal sealed class ApiDatabaseMigrator : IDatabaseMigrator
{
    public string Module => "api";

    public int Order => 0;

    public async Task MigrateAsync(string adminConnectionString, CancellationToken cancellationToken)
    {
        var options = new DbContextOptionsBuilder<ControlDbContext>();
        ControlDbContextOptions.Configure(options, adminConnectionString);
        await using var db = new ControlDbContext(options.Options, TenantContext.ForPlatform(Actor.System));
        await db.Database.MigrateAsync(cancellationToken).ConfigureAwait(false);
    }
}
