namespace Freshet.ServiceDefaults;

/// <summary>
/// A module's schema step. Migrations run only through the host's explicit <c>migrate</c> command (or the
/// Helm migration job), never as a side effect of serving requests.
/// </summary>
public interface IDatabaseMigrator
{
    /// <summary>The module whose schema this applies, for logs.</summary>
    string Module { get; }

    /// <summary>Order among modules: lower runs first (tables others refer to come first).</summary>
    int Order { get; }

    /// <summary>Applies pending migrations with the administrative connection.</summary>
    Task MigrateAsync(string adminConnectionString, CancellationToken cancellationToken);
}
