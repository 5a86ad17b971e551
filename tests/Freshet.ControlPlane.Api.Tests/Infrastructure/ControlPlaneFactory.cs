using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Freshet.ControlPlane.Api;
using Freshet.ControlPlane.Host;
using Freshet.Testing;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Tests.Infrastructure;

/// <summary>
/// The real control plane (all roles) on a fresh database of the shared throwaway PostgreSQL: migrated by the
/// host's own <c>migrate</c> command and seeded by its own <c>seed-demo</c>, so tests start from what a newcomer gets.
/// The application connects as the non-owner <c>freshet_app</c> role, so row-level security is in force.
/// </summary>
public class ControlPlaneFactory : WebApplicationFactory<Program>, IAsyncLifetime
{
    private static readonly SemaphoreSlim MigrationLock = new(1, 1);
    private readonly Dictionary<string, string?> _settings = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _tokens = new(StringComparer.Ordinal);

    public PostgresServer Postgres { get; private set; } = null!;

    public string Database { get; private set; } = "";

    public Credentials Seed { get; private set; } = null!;

    public string AdminConnectionString => Postgres.ConnectionString(Database);

    public string AppConnectionString => Postgres.ConnectionString(Database, "freshet_app", "app-password");

    /// <summary>Settings a derived factory changes (e.g. rate limits), as configuration keys.</summary>
    protected virtual IEnumerable<KeyValuePair<string, string?>> ExtraSettings => [];

    /// <summary>Starts what a derived factory's settings need (e.g. a broker) before they are read.</summary>
    protected virtual Task StartDependenciesAsync() => Task.CompletedTask;

    public async Task InitializeAsync()
    {
        await StartDependenciesAsync();
        Postgres = await PostgresServer.SharedAsync();
        Database = await Postgres.CreateDatabaseAsync("cp");
        _settings["ConnectionStrings:Control"] = AppConnectionString;
        _settings["ConnectionStrings:ControlAdmin"] = AdminConnectionString;
        _settings["Freshet:Secrets:MasterKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
        _settings["Freshet:DuckDb:Root"] = Path.Combine(PostgresServer.Root, "duckdb", Database);
        // The test databases are on loopback, like a self-hosted installation's (the policy itself is tested apart).
        _settings["Freshet:Connections:AllowPrivateNetworks"] = "true";
        foreach (var (key, value) in ExtraSettings)
        {
            _settings[key] = value;
        }

        // The application role is cluster-wide: factories of parallel test classes migrate one at a time.
        await MigrationLock.WaitAsync();
        try
        {
            await HostCommands.MigrateAsync(Arguments());
        }
        finally
        {
            MigrationLock.Release();
        }

        var credentialsPath = Path.Combine(PostgresServer.Root, $"{Database}-credentials.json");
        await using (var scope = Services.CreateAsyncScope())
        {
            // The demo pipeline's source is this very database: a real PostgreSQL the connection test can reach.
            await ApiModuleCommands.SeedDemoAsync(scope.ServiceProvider, credentialsPath, "http://localhost", AdminConnectionString, consoleUrl: null, CancellationToken.None);
        }

        Seed = JsonSerializer.Deserialize<Credentials>(await File.ReadAllTextAsync(credentialsPath), new JsonSerializerOptions(JsonSerializerDefaults.Web))!;
        File.Delete(credentialsPath);
    }

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    public string[] Arguments() => _settings.Select(s => $"--{s.Key}={s.Value}").ToArray();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
    }

    /// <summary>A client-credentials access token, cached per client for the factory's life.</summary>
    public async Task<string> ClientTokenAsync(string clientId, string clientSecret)
    {
        if (_tokens.TryGetValue(clientId, out var cached))
        {
            return cached;
        }

        using var http = CreateClient();
        var response = await http.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
            ["client_secret"] = clientSecret,
        }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"token request for {clientId} failed: {(int)response.StatusCode} {body}");
        var token = JsonDocument.Parse(body).RootElement.GetProperty("access_token").GetString()!;
        _tokens[clientId] = token;
        return token;
    }

    public async Task<HttpClient> ClientForAsync(string clientId, string clientSecret, string? tenant = null)
    {
        var http = CreateClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await ClientTokenAsync(clientId, clientSecret));
        if (tenant is not null)
        {
            http.DefaultRequestHeaders.Add("Freshet-Tenant", tenant);
        }

        return http;
    }

    public Task<HttpClient> DemoAdminClientAsync() => ClientForAsync(Seed.Tenants[0].ClientId, Seed.Tenants[0].ClientSecret);

    public Task<HttpClient> AcmeAdminClientAsync() => ClientForAsync(Seed.Tenants[1].ClientId, Seed.Tenants[1].ClientSecret);

    /// <summary>A source (PostgreSQL, with a password) and a DuckDB destination in the demo tenant; a pipeline between them.</summary>
    public async Task<Guid> CreateDemoPipelineAsync(string password, string desiredState = "running")
    {
        using var admin = await DemoAdminClientAsync();
        var suffix = Guid.NewGuid().ToString("N");
        var source = await HttpAssert.OkAsync(
            await admin.PostAsJsonAsync("/v1/connections", new
            {
                name = $"src-{suffix}",
                kind = "source",
                type = "postgres",
                settings = new { host = "127.0.0.1", port = Postgres.Port, database = Database, username = "postgres" },
                secrets = new { password },
            }),
            System.Net.HttpStatusCode.Created);
        var destination = await HttpAssert.OkAsync(
            await admin.PostAsJsonAsync("/v1/connections", new { name = $"dst-{suffix}", kind = "destination", type = "duckdb", settings = new { path = $"{suffix}.duckdb" } }),
            System.Net.HttpStatusCode.Created);
        var pipeline = await HttpAssert.OkAsync(
            await admin.PostAsJsonAsync("/v1/pipelines", new
            {
                name = $"p-{suffix}",
                source_connection_id = source.GetProperty("id").GetString(),
                destination_connection_id = destination.GetProperty("id").GetString(),
                tables = new[] { new { schema = "public", name = "orders" } },
                desired_state = desiredState,
            }),
            System.Net.HttpStatusCode.Created);
        return pipeline.GetProperty("id").GetGuid();
    }

    /// <summary>Creates an API client of the given role in the demo tenant, through the API.</summary>
    public async Task<(string ClientId, string Secret)> CreateDemoClientAsync(string role)
    {
        using var admin = await DemoAdminClientAsync();
        var response = await admin.PostAsJsonAsync("/v1/api-clients", new { name = $"{role} client {Guid.NewGuid():N}", role });
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        var json = JsonDocument.Parse(body).RootElement;
        return (json.GetProperty("client_id").GetString()!, json.GetProperty("client_secret").GetString()!);
    }
}

public sealed record Credentials(string ApiUrl, UserCredentials PlatformAdmin, UserCredentials SupportUser, ClientCredentials PlatformClient, List<TenantCredentials> Tenants);

public sealed record UserCredentials(string Email, string Password);

public sealed record ClientCredentials(string ClientId, string ClientSecret);

public sealed record TenantCredentials(string Slug, string AdminEmail, string AdminPassword, string ClientId, string ClientSecret);
