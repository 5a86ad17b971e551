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

    /// <summary>Each seeded tenant's API client (role admin) by tenant slug: demo, acme.</summary>
    private readonly Dictionary<string, (string Id, string Secret)> _tenantClients = [];

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
        foreach (var tenant in credentials.GetProperty("tenants").EnumerateArray())
        {
            _tenantClients[tenant.GetProperty("slug").GetString()!] = (tenant.GetProperty("clientId").GetString()!, tenant.GetProperty("clientSecret").GetString()!);
        }

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

    /// <summary>The REST API as a seeded tenant's admin API client would call it (<c>demo</c> or <c>acme</c>); the caller disposes it.</summary>
    public async Task<HttpClient> TenantApiAsync(string slug)
    {
        var (clientId, secret) = _tenantClients.TryGetValue(slug, out var client) ? client : throw new ArgumentException($"No seeded tenant \"{slug}\".", nameof(slug));
        var http = new HttpClient { BaseAddress = ApiUrl };
        var accessToken = await ClientCredentialsTokenAsync(clientId, secret) ?? throw new InvalidOperationException($"The {slug} tenant's API client was refused a token.");
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", accessToken);
        return http;
    }

    /// <summary>An access token for an API client (client credentials at the token endpoint); null when the control plane refuses it.</summary>
    public async Task<string?> ClientCredentialsTokenAsync(string clientId, string clientSecret)
    {
        using var http = new HttpClient { BaseAddress = ApiUrl };
        using var token = await http.PostAsync("connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
            ["client_secret"] = clientSecret,
        }));
        return token.IsSuccessStatusCode ? JsonDocument.Parse(await token.Content.ReadAsStringAsync()).RootElement.GetProperty("access_token").GetString() : null;
    }

    /// <summary>
    /// Adds a person to a seeded tenant through its REST API. A new e-mail gets an account with the returned password; an
    /// existing account only joins the tenant (then the password is null).
    /// </summary>
    public async Task<string?> AddMemberAsync(string slug, string email, string role)
    {
        using var http = await TenantApiAsync(slug);
        var password = "Pw-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)) + "-a1";
        using var added = await http.PostAsync("v1/members", System.Net.Http.Json.JsonContent.Create(new { email, role, initial_password = password }));
        var body = await added.Content.ReadAsStringAsync();
        if (!added.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST /v1/members in {slug} answered {(int)added.StatusCode}: {body}");
        }

        return JsonDocument.Parse(body).RootElement.GetProperty("account_created").GetBoolean() ? password : null;
    }

    /// <summary>
    /// A pipeline in a seeded tenant, made through its REST API: a PostgreSQL source on a host nothing resolves and a DuckDB
    /// destination. No worker runs here, so nothing connects to either; the pipeline waits for a worker.
    /// </summary>
    public async Task<Guid> CreatePipelineAsync(string slug, string name)
    {
        using var http = await TenantApiAsync(slug);
        async Task<JsonElement> PostAsync(string path, object body)
        {
            using var response = await http.PostAsync(path, System.Net.Http.Json.JsonContent.Create(body));
            var text = await response.Content.ReadAsStringAsync();
            return response.IsSuccessStatusCode
                ? JsonDocument.Parse(text).RootElement.Clone()
                : throw new InvalidOperationException($"POST {path} in {slug} answered {(int)response.StatusCode}: {text}");
        }

        var suffix = Guid.NewGuid().ToString("N")[..8];
        var source = await PostAsync("v1/connections", new
        {
            name = $"{name} source {suffix}",
            kind = "source",
            type = "postgres",
            settings = new { host = "source.invalid", database = "shop", username = "freshet" },
            secrets = new { password = "unused" },
        });
        var destination = await PostAsync("v1/connections", new
        {
            name = $"{name} destination {suffix}",
            kind = "destination",
            type = "duckdb",
            settings = new { path = $"{suffix}.duckdb" },
        });
        var pipeline = await PostAsync("v1/pipelines", new
        {
            name,
            source_connection_id = source.GetProperty("id").GetGuid(),
            destination_connection_id = destination.GetProperty("id").GetGuid(),
            tables = new[] { new { schema = "public", name = "events" } },
        });
        return pipeline.GetProperty("id").GetGuid();
    }

    /// <summary>
    /// Revokes every refresh token the control plane issued to one person, in the control database, as an administrator
    /// ending their sessions would: the console's next refresh is refused.
    /// </summary>
    public async Task<int> RevokeRefreshTokensAsync(string email)
    {
        await using var connection = new NpgsqlConnection(ControlConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            UPDATE "OpenIddictTokens" t SET status = 'revoked' FROM users u
            WHERE t.subject = u.id::text AND u.email = @email AND t.type LIKE '%refresh_token' AND t.status = 'valid'
            """,
            connection);
        command.Parameters.AddWithValue("email", email);
        return await command.ExecuteNonQueryAsync();
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
