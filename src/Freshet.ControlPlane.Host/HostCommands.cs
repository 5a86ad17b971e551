using Freshet.ControlPlane.Api;
using Freshet.ControlPlane.Scheduler;
using Freshet.ControlPlane.Status;
using Freshet.DataPlane;
using Freshet.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using Scalar.AspNetCore;

namespace Freshet.ControlPlane.Host;

/// <summary>The host's verbs: serve (default), <c>migrate</c>, <c>seed-demo</c>.</summary>
public static partial class HostCommands
{
    public const string AdminConnectionName = "ControlAdmin";

    public static async Task<int> ServeAsync(string[] args)
    {
        // appsettings.json sits beside the dll; a test host passes its own --contentRoot.
        var contentRoot = args.Any(a => a.Contains("contentRoot", StringComparison.OrdinalIgnoreCase)) ? null : AppContext.BaseDirectory;
        var app = BuildWebApplication(WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = contentRoot }));
        await app.RunAsync();
        return 0;
    }

    /// <summary>Composes the modules chosen by <c>Freshet:Roles</c>; used by the server and by functional tests.</summary>
    public static WebApplication BuildWebApplication(WebApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        PrometheusEndpoint.Add(builder);
        var roles = ControlPlaneRoles.From(builder.Configuration);
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
        if (roles.Api)
        {
            builder.AddApiModule();
            // The connection test reaches warehouses through the data plane's clients (the API module may not reference them).
            builder.Services.AddDataPlaneConnectionProbes();
            builder.Services.AddOpenApi(OpenApiDocumentSetup.Configure);
        }

        if (roles.Scheduler)
        {
            builder.AddSchedulerModule();
        }
        else if (roles.Api || roles.Status)
        {
            // Where pipelines run, read from the control database: the API shows runtimes, status judges reports by them.
            builder.AddPipelinePlacements();
        }

        if (roles.Status)
        {
            builder.AddStatusModule();
        }

        if (roles.Worker)
        {
            EmbeddedWorker.Add(builder, publishReports: !roles.Status);
        }

        // Reports reach the status store one way per process, never both: a process with the scheduler hands them over
        // with each heartbeat it accepts (WorkerCoordinator), so its status role needs no bus; a status process without
        // the scheduler receives no heartbeats and consumes what workers publish on RabbitMQ, from one durable queue all
        // such processes share. Run status either beside every scheduler or apart from all of them: a mix ingests each
        // report twice (harmless, ingest is idempotent, but twice the work).
        var consumeReports = roles.Status && !roles.Scheduler && Messaging.Transport(builder.Configuration) == "rabbitmq";
        if (roles.Scheduler || consumeReports)
        {
            Messaging.Add(builder, bus =>
            {
                if (roles.Worker)
                {
                    // Every embedded worker needs every hint: a temporary endpoint of its own, never a queue shared by processes.
                    bus.AddConsumer<EmbeddedWorkerHints>().Endpoint(e => e.Temporary = true);
                }

                if (consumeReports)
                {
                    bus.AddStatusReportConsumer();
                }
            });
        }

        var app = builder.Build();
        app.MapDefaultEndpoints();
        PrometheusEndpoint.Map(app);
        if (roles.Api)
        {
            app.UseApiModule();
            app.MapOpenApi().AllowAnonymous().DisableRateLimiting();
            app.MapScalarApiReference("/docs", options => options
                    .WithTitle("Freshet API")
                    .WithOpenApiRoutePattern("/openapi/{documentName}.json")
                    .AddPreferredSecuritySchemes(OpenApiDocumentSetup.SchemeName))
                .AllowAnonymous().DisableRateLimiting();
        }

        return app;
    }

    public static async Task<int> MigrateAsync(string[] args)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
        using var host = ComposeForCommands(builder).Build();
        await MigrateAsync(host.Services, builder.Configuration, CancellationToken.None);
        return 0;
    }

    /// <summary>
    /// Creates (or re-passwords) the application role, applies every module's migrations as the admin role, grants
    /// the application role what it needs, and syncs the built-in OAuth clients.
    /// </summary>
    public static async Task MigrateAsync(IServiceProvider services, IConfiguration configuration, CancellationToken cancellationToken)
    {
        var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Freshet.Migrate");
        var admin = configuration.GetConnectionString(AdminConnectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{AdminConnectionName} is not set: migrations need a role that may create tables and roles.");
        var app = new NpgsqlConnectionStringBuilder(configuration.GetConnectionString(ApiModule.ControlConnectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ApiModule.ControlConnectionName} is not set."));

        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync(cancellationToken);
            await EnsureApplicationRoleAsync(connection, app.Username!, app.Password, cancellationToken);
        }

        foreach (var migrator in services.GetServices<IDatabaseMigrator>().OrderBy(m => m.Order))
        {
            LogMigrating(logger, migrator.Module);
            await migrator.MigrateAsync(admin, cancellationToken);
        }

        await using (var connection = new NpgsqlConnection(admin))
        {
            await connection.OpenAsync(cancellationToken);
            await GrantAsync(connection, app.Username!, cancellationToken);
        }

        await using var scope = services.CreateAsyncScope();
        await ApiModuleCommands.SynchronizeBuiltInClientsAsync(scope.ServiceProvider, cancellationToken);
        LogMigrated(logger);
    }

    public static async Task<int> SeedDemoAsync(string[] args)
    {
        string? Option(string name)
        {
            var index = Array.IndexOf(args, name);
            return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
        }

        var credentialsPath = Option("--credentials-out") ?? ".data/dev-credentials.json";
        var apiUrl = Option("--api-url") ?? "http://127.0.0.1:5080";
        var demoSource = Option("--demo-source");
        var consoleUrl = Option("--console-url");
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        using var host = ComposeForCommands(builder).Build();
        await using var scope = host.Services.CreateAsyncScope();
        await ApiModuleCommands.SeedDemoAsync(scope.ServiceProvider, credentialsPath, apiUrl, demoSource, consoleUrl, CancellationToken.None);
        Console.WriteLine($"Wrote {credentialsPath}");
        return 0;
    }

    private static HostApplicationBuilder ComposeForCommands(HostApplicationBuilder builder)
    {
        builder.AddServiceDefaults();
        builder.AddApiModule();
        builder.AddSchedulerModule();
        builder.AddStatusModule();
        return builder;
    }

    private static async Task EnsureApplicationRoleAsync(NpgsqlConnection connection, string role, string? password, CancellationToken cancellationToken)
    {
        // Role DDL takes no parameters: format() with %I/%L quotes the name and password safely.
        await using var command = new NpgsqlCommand(
            """
            SELECT CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = @role)
                   THEN format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD %L', @role, @password)
                   ELSE format('CREATE ROLE %I WITH LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE PASSWORD %L', @role, @password) END
            """,
            connection);
        command.Parameters.AddWithValue("role", role);
        command.Parameters.AddWithValue("password", (object?)password ?? DBNull.Value);
        var ddl = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
#pragma warning disable CA2100 // The statement was built by the server's format() with %I/%L quoting.
        await using var apply = new NpgsqlCommand(ddl, connection);
#pragma warning restore CA2100
        await apply.ExecuteNonQueryAsync(cancellationToken);
    }

    private static async Task GrantAsync(NpgsqlConnection connection, string role, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            """
            SELECT format('GRANT CONNECT ON DATABASE %I TO %I; GRANT USAGE ON SCHEMA public TO %I; '
                       || 'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I; '
                       || 'GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I;',
                       current_database(), @role, @role, @role, @role)
            """,
            connection);
        command.Parameters.AddWithValue("role", role);
        var ddl = (string)(await command.ExecuteScalarAsync(cancellationToken))!;
#pragma warning disable CA2100 // The statement was built by the server's format() with %I/%L quoting.
        await using var apply = new NpgsqlCommand(ddl, connection);
#pragma warning restore CA2100
        await apply.ExecuteNonQueryAsync(cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Applying migrations of module {Module}")]
    private static partial void LogMigrating(ILogger logger, string module);

    [LoggerMessage(Level = LogLevel.Information, Message = "Migrations applied; application role granted; built-in OAuth clients synchronised")]
    private static partial void LogMigrated(ILogger logger);
}
