using System.Security.Cryptography;
using System.Text.Json;
using Freshet.Testing;
using Freshet.Testing.Pool;
using Npgsql;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// The console as a person meets it, every part a real process: PostgreSQL, the control plane (api, scheduler, status;
/// migrated and seeded with the demo tenants and the demo pipeline) and the console, which signs in through the
/// control plane's OAuth2 server. No worker runs, so the demo pipeline waits for one (health Pending).
/// </summary>
public sealed class ConsoleInstallation : IAsyncDisposable
{
    /// <summary>The shortest access-token lifetime the control plane accepts is 10 s; a minute keeps clock skew harmless.</summary>
    private const int AccessTokenLifetimeSeconds = 60;

    /// <summary>How long the console uses an access token before it refreshes it (the lifetime less its refresh margin).</summary>
    public static readonly TimeSpan AccessTokenUsableFor = TimeSpan.FromSeconds(2);

    private readonly List<NodeProcess> _processes = [];

    private ConsoleInstallation(string directory) => Directory = directory;

    public string Directory { get; }

    public Uri ApiUrl { get; private set; } = null!;

    public Uri ConsoleUrl { get; private set; } = null!;

    public string ControlConnectionString { get; private set; } = "";

    /// <summary>The demo tenant's owner, as <c>seed-demo</c> wrote them to the credentials file.</summary>
    public (string Email, string Password) DemoAdmin { get; private set; }

    public Guid DemoPipelineId { get; private set; }

    /// <summary>The demo tenant's API client (role admin), for setting things up through the REST API.</summary>
    private (string Id, string Secret) DemoClient { get; set; }

    public string ConsoleOutput => _processes.Count > 1 ? _processes[1].Output : "";

    public string ControlPlaneOutput => _processes.Count > 0 ? _processes[0].Output : "";

    public static async Task<ConsoleInstallation> StartAsync()
    {
        var postgres = await PostgresServer.SharedAsync();
        var directory = Path.Combine(PostgresServer.Root, $"console-{Guid.NewGuid():N}"[..20]);
        System.IO.Directory.CreateDirectory(directory);
        var installation = new ConsoleInstallation(directory);
        try
        {
            await installation.StartProcessesAsync(postgres);
            return installation;
        }
        catch
        {
            await installation.DisposeAsync();
            throw;
        }
    }

    private async Task StartProcessesAsync(PostgresServer postgres)
    {
        var controlDatabase = await postgres.CreateDatabaseAsync("console");
        ControlConnectionString = postgres.ConnectionString(controlDatabase);
        var app = new NpgsqlConnectionStringBuilder(ControlConnectionString) { Username = "freshet_app", Password = Convert.ToHexString(RandomNumberGenerator.GetBytes(12)) };
        ApiUrl = new Uri($"http://127.0.0.1:{LocalMachine.FreePort()}/");
        ConsoleUrl = new Uri($"http://127.0.0.1:{LocalMachine.FreePort()}/");
        var control = new Dictionary<string, string>
        {
            ["ConnectionStrings__Control"] = app.ConnectionString,
            ["ConnectionStrings__ControlAdmin"] = ControlConnectionString,
            ["Freshet__Secrets__MasterKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Freshet__DuckDb__Root"] = Path.Combine(Directory, "duckdb"),
            ["Freshet__Roles"] = "api,scheduler,status",
            // Short-lived access tokens (with the console's refresh margin below) make the console refresh within the test.
            ["Freshet__Auth__AccessTokenLifetimeSeconds"] = AccessTokenLifetimeSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // The console's address on this run: migrate registers it with the console's OAuth client.
            ["Freshet__Auth__ConsoleClient__RedirectUris__0"] = new Uri(ConsoleUrl, "signin-oidc").ToString(),
            ["Freshet__Auth__ConsoleClient__PostLogoutRedirectUris__0"] = new Uri(ConsoleUrl, "signout-callback-oidc").ToString(),
        };
        await NodeProcess.RunToEndAsync("Freshet.ControlPlane.Host", ["migrate"], control, TimeSpan.FromMinutes(2));

        // The demo pipeline's source is only recorded by the seed; with no worker nothing connects to it.
        var credentialsPath = Path.Combine(Directory, "dev-credentials.json");
        var demoSource = new NpgsqlConnectionStringBuilder(postgres.ConnectionString(controlDatabase)) { Password = "unused" }.ConnectionString;
        await NodeProcess.RunToEndAsync(
            "Freshet.ControlPlane.Host",
            ["seed-demo", "--credentials-out", credentialsPath, "--api-url", ApiUrl.ToString(), "--demo-source", demoSource, "--console-url", ConsoleUrl.ToString()],
            control,
            TimeSpan.FromMinutes(2));
        var credentials = JsonDocument.Parse(await File.ReadAllTextAsync(credentialsPath)).RootElement;
        var demo = credentials.GetProperty("tenants").EnumerateArray().Single(t => t.GetProperty("slug").GetString() == "demo");
        DemoAdmin = (demo.GetProperty("adminEmail").GetString()!, demo.GetProperty("adminPassword").GetString()!);
        DemoClient = (demo.GetProperty("clientId").GetString()!, demo.GetProperty("clientSecret").GetString()!);
        DemoPipelineId = credentials.GetProperty("demo").GetProperty("pipelineId").GetGuid();
        if (credentials.GetProperty("consoleUrl").GetString() != ConsoleUrl.ToString())
        {
            throw new InvalidOperationException($"seed-demo did not record the console's URL in {credentialsPath}.");
        }

        var controlPlane = NodeProcess.Start("control-plane", "Freshet.ControlPlane.Host", ["--urls", ApiUrl.ToString()], control);
        _processes.Add(controlPlane);
        await WaitReadyAsync(controlPlane, new Uri(ApiUrl, "health/ready"));

        var console = NodeProcess.Start(
            "console",
            "Freshet.Console",
            ["--urls", ConsoleUrl.ToString()],
            new Dictionary<string, string>
            {
                ["Freshet__Console__ControlPlaneUrl"] = ApiUrl.ToString(),
                ["Freshet__Console__RefreshBeforeExpiry"] = (TimeSpan.FromSeconds(AccessTokenLifetimeSeconds) - AccessTokenUsableFor).ToString("c", System.Globalization.CultureInfo.InvariantCulture),
            },
            folder: "web");
        _processes.Add(console);
        await WaitReadyAsync(console, new Uri(ConsoleUrl, "health/live"));
    }

    private static async Task WaitReadyAsync(NodeProcess process, Uri probe)
    {
        using var http = new HttpClient();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                if ((await http.GetAsync(probe)).IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            if (process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"{process.Name} did not become ready at {probe}:\n{process.Output}");
            }

            await Task.Delay(200);
        }
    }

    /// <summary>Adds a member to the demo tenant through the REST API, as its admin automation would; returns the new account's password.</summary>
    public async Task<string> AddDemoMemberAsync(string email, string role)
    {
        using var http = new HttpClient { BaseAddress = ApiUrl };
        using var token = await http.PostAsync("connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = DemoClient.Id,
            ["client_secret"] = DemoClient.Secret,
        }));
        token.EnsureSuccessStatusCode();
        var accessToken = JsonDocument.Parse(await token.Content.ReadAsStringAsync()).RootElement.GetProperty("access_token").GetString();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        var password = "Pw-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)) + "-a1";
        using var added = await http.PostAsync("v1/members", System.Net.Http.Json.JsonContent.Create(new { email, role, initial_password = password }));
        if (!added.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /v1/members answered {(int)added.StatusCode}: {await added.Content.ReadAsStringAsync()}");
        }

        return password;
    }

    /// <summary>A person <c>seed-demo</c> wrote to the credentials file: <c>supportUser</c>, or a tenant's owner by its slug.</summary>
    public async Task<(string Email, string Password)> SeededSignInAsync(string? tenantSlug = null)
    {
        var credentials = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Directory, "dev-credentials.json"))).RootElement;
        if (tenantSlug is null)
        {
            var support = credentials.GetProperty("supportUser");
            return (support.GetProperty("email").GetString()!, support.GetProperty("password").GetString()!);
        }

        var tenant = credentials.GetProperty("tenants").EnumerateArray().Single(t => t.GetProperty("slug").GetString() == tenantSlug);
        return (tenant.GetProperty("adminEmail").GetString()!, tenant.GetProperty("adminPassword").GetString()!);
    }

    /// <summary>
    /// Creates a pipeline in a seeded tenant through the REST API, as that tenant's admin automation would: a PostgreSQL
    /// source and a DuckDB destination (recorded only; no worker runs here), then the pipeline. Returns its id.
    /// </summary>
    public async Task<Guid> CreatePipelineInTenantAsync(string tenantSlug, string name, string desiredState = "running")
    {
        using var http = await TenantApiAsync(tenantSlug);
        var source = await PostForIdAsync(http, "v1/connections", new
        {
            name = $"{name} source",
            kind = "source",
            type = "postgres",
            settings = new { host = "db.invalid", database = "shop", username = "freshet" },
            secrets = new Dictionary<string, string> { ["password"] = "unused" },
        });
        var destination = await PostForIdAsync(http, "v1/connections", new
        {
            name = $"{name} warehouse",
            kind = "destination",
            type = "duckdb",
            settings = new { path = $"{tenantSlug}-{Guid.NewGuid():N}.duckdb" },
        });
        return await PostForIdAsync(http, "v1/pipelines", new
        {
            name,
            source_connection_id = source,
            destination_connection_id = destination,
            tables = new[] { new { schema = "public", name = "orders" } },
            desired_state = desiredState,
        });
    }

    /// <summary>An HTTP client on the REST API with an access token of the seeded tenant's API client (role admin).</summary>
    private async Task<HttpClient> TenantApiAsync(string tenantSlug)
    {
        var credentials = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(Directory, "dev-credentials.json"))).RootElement;
        var tenant = credentials.GetProperty("tenants").EnumerateArray().Single(t => t.GetProperty("slug").GetString() == tenantSlug);
        var http = new HttpClient { BaseAddress = ApiUrl };
        using var token = await http.PostAsync("connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = tenant.GetProperty("clientId").GetString()!,
            ["client_secret"] = tenant.GetProperty("clientSecret").GetString()!,
        }));
        token.EnsureSuccessStatusCode();
        var accessToken = JsonDocument.Parse(await token.Content.ReadAsStringAsync()).RootElement.GetProperty("access_token").GetString();
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        return http;
    }

    private static async Task<Guid> PostForIdAsync(HttpClient http, string path, object body)
    {
        using var response = await http.PostAsync(path, System.Net.Http.Json.JsonContent.Create(body));
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /{path} answered {(int)response.StatusCode}: {text}");
        }

        return JsonDocument.Parse(text).RootElement.GetProperty("id").GetGuid();
    }

    /// <summary>
    /// The state of the refresh tokens the control plane issued to one person, oldest first (OpenIddict's token table;
    /// OpenIddict 5+ stores the type as a URN).
    /// </summary>
    public async Task<List<string>> RefreshTokenStatusesAsync(string email)
    {
        await using var connection = new NpgsqlConnection(ControlConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT t.status FROM "OpenIddictTokens" t JOIN users u ON t.subject = u.id::text
            WHERE u.email = @email AND t.type LIKE '%refresh_token' ORDER BY t.creation_date
            """,
            connection);
        command.Parameters.AddWithValue("email", email);
        var statuses = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            statuses.Add(reader.GetString(0));
        }

        return statuses;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in Enumerable.Reverse(_processes))
        {
            await process.DisposeAsync();
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Left for the next run's cleanup of the test folder.
        }
    }
}
