using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.ApiClients;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Connections;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Members;
using Freshet.ControlPlane.Api.Pipelines;
using Freshet.ControlPlane.Api.Tenancy;
using Freshet.ControlPlane.Api.Tenants;
using Microsoft.AspNetCore.Identity;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace Freshet.ControlPlane.Api.Seeding;

/// <summary>What a newcomer needs to sign in, written to <c>.data/dev-credentials.json</c>.</summary>
internal sealed record DevCredentials(
    string ApiUrl,
    string DocsUrl,
    UserCredentials PlatformAdmin,
    UserCredentials SupportUser,
    ClientCredentials PlatformClient,
    List<TenantCredentials> Tenants,
    DemoPipeline? Demo = null,
    string? ConsoleUrl = null);

/// <summary>The running demo pipeline: where its changes come from and the DuckDB file they land in.</summary>
internal sealed record DemoPipeline(string SourceConnectionString, string DuckdbPath, Guid PipelineId);

internal sealed record UserCredentials(string Email, string Password);

internal sealed record ClientCredentials(string ClientId, string ClientSecret);

internal sealed record TenantCredentials(string Slug, string AdminEmail, string AdminPassword, string ClientId, string ClientSecret);

/// <summary>
/// Seeds a local installation: platform admin, support user, platform client and two demo tenants, each with an
/// owner and an API client. Idempotent: a second run keeps ids and resets passwords and secrets to the ones in the
/// existing credentials file, so what the file says always works.
/// </summary>
internal sealed class DemoSeeder(
    ControlDbContext db,
    TenantContext tenant,
    UserManager<ApplicationUser> users,
    ApiClientProvisioner clients,
    TenantProvisioner tenants,
    ConnectionSecrets secrets,
    ConnectionEndpoints endpoints,
    BuiltInClients builtInClients,
    TimeProvider clock)
{
    private static readonly JsonSerializerOptions FileJson = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private static readonly (string Slug, string Name)[] DemoTenants = [("demo", "Demo Co"), ("acme", "Acme Analytics")];

    public async Task<DevCredentials> SeedAsync(string credentialsPath, string apiUrl, string? demoSourceConnectionString, string? consoleUrl, CancellationToken cancellationToken)
    {
        tenant.SetPlatformScope();
        var previous = File.Exists(credentialsPath) ? JsonSerializer.Deserialize<DevCredentials>(await File.ReadAllTextAsync(credentialsPath, cancellationToken), FileJson) : null;
        await builtInClients.SynchronizeAsync(cancellationToken);

        var admin = await EnsureUserAsync("admin@freshet.local", "Platform Admin", previous?.PlatformAdmin.Password, PlatformRole.PlatformAdmin);
        var support = await EnsureUserAsync("support@freshet.local", "Support Staff", previous?.SupportUser.Password, PlatformRole.Support);
        var platformClient = await EnsureClientAsync(null, "freshet-platform", "Platform automation", null, PlatformRole.PlatformAdmin, previous?.PlatformClient.ClientSecret, cancellationToken);

        var tenantCredentials = new List<TenantCredentials>();
        DemoPipeline? demo = null;
        foreach (var (slug, name) in DemoTenants)
        {
            var ownerEmail = $"owner@{slug}.freshet.local";
            var kept = previous?.Tenants.FirstOrDefault(t => t.Slug == slug);
            var row = await db.Tenants.FirstOrDefaultAsync(t => t.Slug == slug, cancellationToken);
            if (row is null)
            {
                await tenants.CreateAsync(slug, name, ownerEmail, kept?.AdminPassword ?? MembersApi.GeneratePassword(), cancellationToken);
                row = await db.Tenants.FirstAsync(t => t.Slug == slug, cancellationToken);
            }

            var owner = await EnsureUserAsync(ownerEmail, $"{name} owner", kept?.AdminPassword, PlatformRole.None);
            var client = await EnsureClientAsync(row.Id, $"{slug}-automation", "Demo automation", TenantRole.Admin, PlatformRole.None, kept?.ClientSecret, cancellationToken);
            tenantCredentials.Add(new TenantCredentials(slug, ownerEmail, owner.Password, client.ClientId, client.ClientSecret));
            if (slug == "demo")
            {
                demo = await EnsureDemoPipelineAsync(row.Id, demoSourceConnectionString, cancellationToken);
            }
        }

        var credentials = new DevCredentials(apiUrl, apiUrl.TrimEnd('/') + "/docs", admin, support, platformClient, tenantCredentials, demo, consoleUrl);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(credentialsPath))!);
        await File.WriteAllTextAsync(credentialsPath, JsonSerializer.Serialize(credentials, FileJson), cancellationToken);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(credentialsPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        return credentials;
    }

    private async Task<UserCredentials> EnsureUserAsync(string email, string displayName, string? password, PlatformRole platformRole)
    {
        password ??= MembersApi.GeneratePassword();
        var user = await users.FindByEmailAsync(email);
        if (user is null)
        {
            user = new ApplicationUser { Id = Guid.CreateVersion7(clock.GetUtcNow()), UserName = email, Email = email, EmailConfirmed = true, DisplayName = displayName, PlatformRole = platformRole, CreatedAt = clock.GetUtcNow() };
            Check(await users.CreateAsync(user, password));
        }
        else
        {
            user.PlatformRole = platformRole;
            Check(await users.UpdateAsync(user));
            Check(await users.RemovePasswordAsync(user));
            Check(await users.AddPasswordAsync(user, password));
            await users.SetLockoutEndDateAsync(user, null);
        }

        return new UserCredentials(email, password);
    }

    private async Task<ClientCredentials> EnsureClientAsync(
        Guid? tenantId, string clientId, string name, TenantRole? role, PlatformRole platformRole, string? secret, CancellationToken cancellationToken)
    {
        secret ??= ApiClientProvisioner.NewSecret();
        var existing = await db.ApiClients.FirstOrDefaultAsync(c => c.ClientId == clientId, cancellationToken);
        if (existing is null)
        {
            await clients.CreateAsync(tenantId, name, role, platformRole, "system:seed", cancellationToken, clientId, secret);
        }
        else
        {
            existing.RevokedAt = null;
            await clients.RotateAsync(existing, cancellationToken, secret);
        }

        await db.SaveChangesAsync(cancellationToken);
        return new ClientCredentials(clientId, secret);
    }

    /// <summary>A source on the local demo database and a DuckDB destination, with a pipeline between them.</summary>
    private async Task<DemoPipeline?> EnsureDemoPipelineAsync(Guid tenantId, string? demoSourceConnectionString, CancellationToken cancellationToken)
    {
        if (demoSourceConnectionString is null)
        {
            return null;
        }

        var existing = await db.Pipelines.Where(p => p.TenantId == tenantId).OrderBy(p => p.CreatedAt).FirstOrDefaultAsync(cancellationToken);
        if (existing is not null)
        {
            var target = await db.Connections.FirstOrDefaultAsync(c => c.Id == existing.DestinationConnectionId, cancellationToken);
            return target?.Type == ConnectionType.Duckdb ? new DemoPipeline(demoSourceConnectionString, endpoints.DuckDbPath(target), existing.Id) : null;
        }

        var source = new NpgsqlConnectionStringBuilder(demoSourceConnectionString);
        var now = clock.GetUtcNow();
        var sourceConnection = new Connection
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenantId,
            Name = "Demo shop (PostgreSQL)",
            Kind = ConnectionKind.Source,
            Type = ConnectionType.Postgres,
            Settings = new JsonObject { ["host"] = source.Host, ["port"] = source.Port, ["database"] = source.Database, ["username"] = source.Username, ["ssl_mode"] = "disable" },
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        secrets.Apply(sourceConnection, new Dictionary<string, string?> { ["password"] = source.Password });
        var destination = new Connection
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenantId,
            Name = "Demo warehouse (DuckDB)",
            Kind = ConnectionKind.Destination,
            Type = ConnectionType.Duckdb,
            Settings = new JsonObject { ["path"] = "demo.duckdb" },
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        var pipeline = new Pipeline
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenantId,
            Name = "Demo shop to warehouse",
            SourceConnectionId = sourceConnection.Id,
            DestinationConnectionId = destination.Id,
            Tables = new[] { "customers", "products", "orders", "order_items" }.Select(t => new PipelineTable("public", t, new PipelineTableOptions(null, [], true))).ToList(),
            DeleteMode = DeleteMode.Hard,
            SchemaChangePolicy = SchemaChangePolicy.Propagate,
            LagThresholdSeconds = PipelineValidation.DefaultLagThresholdSeconds,
            DesiredState = DesiredState.Running,
            Generation = 1,
            CreatedAt = now,
            UpdatedAt = now,
            Version = 1,
        };
        db.Connections.AddRange(sourceConnection, destination);
        db.Pipelines.Add(pipeline);
        PipelinesApi.AddRevision(db, pipeline, "system:seed", now, "Created by the demo seed.");
        await db.SaveChangesAsync(cancellationToken);
        return new DemoPipeline(demoSourceConnectionString, endpoints.DuckDbPath(destination), pipeline.Id);
    }

    private static void Check(IdentityResult result)
    {
        if (!result.Succeeded)
        {
            throw new InvalidOperationException("Seeding a user failed: " + string.Join("; ", result.Errors.Select(e => e.Description)));
        }
    }
}
