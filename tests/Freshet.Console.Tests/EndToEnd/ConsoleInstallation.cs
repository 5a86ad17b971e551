using System.Security.Cryptography;
using System.Text.Json;
using Freshet.Testing;
using Freshet.Testing.Pool;
using Npgsql;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>What an installation starts besides PostgreSQL, the control plane and the console.</summary>
/// <param name="WithWorker">
/// Also a data-plane worker (RabbitMQ for its hints and reports, as <c>run.sh</c> with workers) and a second database of
/// the same PostgreSQL server as the customer's source (<see cref="ConsoleInstallation.SourceDatabase"/>; the test
/// server runs with <c>wal_level=logical</c>). The control plane lets connections reach loopback addresses, as
/// <c>run.sh</c> sets for local runs, and the demo pipeline is paused so the worker runs only what a test creates.
/// </param>
public sealed record ConsoleInstallationOptions(bool WithWorker = false);

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
    private ConsoleInstallationOptions _options = new();
    private NodeProcess? _worker;

    private ConsoleInstallation(string directory) => Directory = directory;

    public string Directory { get; }

    public Uri ApiUrl { get; private set; } = null!;

    public Uri ConsoleUrl { get; private set; } = null!;

    public string ControlConnectionString { get; private set; } = "";

    /// <summary>The demo tenant's owner, as <c>seed-demo</c> wrote them to the credentials file.</summary>
    public (string Email, string Password) DemoAdmin { get; private set; }

    public Guid DemoPipelineId { get; private set; }

    /// <summary>The PostgreSQL server of the control database (and, with a worker, of the source database).</summary>
    public PostgresServer Postgres { get; private set; } = null!;

    /// <summary>With <see cref="ConsoleInstallationOptions.WithWorker"/>: the customer's source database, empty until a test creates tables.</summary>
    public string? SourceDatabase { get; private set; }

    public string SourceConnectionString => Postgres.ConnectionString(SourceDatabase ?? throw new InvalidOperationException("This installation has no source database; start it WithWorker."));

    public string WorkerOutput => _worker?.Output ?? "";

    /// <summary>Each seeded tenant's API client (role admin) by tenant slug: demo, acme.</summary>
    private readonly Dictionary<string, (string Id, string Secret)> _tenantClients = [];

    public string ConsoleOutput => _processes.Count > 1 ? _processes[1].Output : "";

    public string ControlPlaneOutput => _processes.Count > 0 ? _processes[0].Output : "";

    public static Task<ConsoleInstallation> StartAsync() => StartAsync(new ConsoleInstallationOptions());

    public static async Task<ConsoleInstallation> StartAsync(ConsoleInstallationOptions options)
    {
        var postgres = await PostgresServer.SharedAsync();
        var directory = Path.Combine(PostgresServer.Root, $"console-{Guid.NewGuid():N}"[..20]);
        System.IO.Directory.CreateDirectory(directory);
        var installation = new ConsoleInstallation(directory) { _options = options, Postgres = postgres };
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
        var workerSecret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        RabbitMqServer? rabbit = null;
        if (_options.WithWorker)
        {
            rabbit = await RabbitMqServer.SharedAsync();
            SourceDatabase = await postgres.CreateDatabaseAsync("source");
            // As run.sh sets for local development: the source and the worker's DuckDB live on this machine.
            control["Freshet__Connections__AllowPrivateNetworks"] = "true";
            // migrate creates the worker pool's OAuth2 client when its secret is set.
            control["Freshet__Auth__WorkerClient__ClientSecret"] = workerSecret;
            control["Freshet__Messaging__Transport"] = "rabbitmq";
            control["Freshet__Messaging__RabbitMq__Port"] = rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

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
        if (rabbit is not null)
        {
            await StartWorkerAsync(rabbit, workerSecret);
        }
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
    public async Task<string> AddDemoMemberAsync(string email, string role) =>
        await AddMemberAsync("demo", email, role) ?? throw new InvalidOperationException($"{email} already had an account; a test's new member needs a new address.");

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

    /// <summary>
    /// The worker, as <c>run.sh</c> starts one: the worker pool's client, hints over RabbitMQ, no database credentials
    /// and no master key (specs, secrets included, come from the control plane). Short poll and restart delays keep the
    /// test quick. The demo pipeline is paused first: its recorded source is not a real shop.
    /// </summary>
    private async Task StartWorkerAsync(RabbitMqServer rabbit, string workerSecret)
    {
        using (var api = await TenantApiAsync("demo"))
        {
            using var paused = await api.PostAsync($"v1/pipelines/{DemoPipelineId}/pause", System.Net.Http.Json.JsonContent.Create(new { }));
            if (!paused.IsSuccessStatusCode)
            {
                throw new InvalidOperationException($"Pausing the demo pipeline answered {(int)paused.StatusCode}: {await paused.Content.ReadAsStringAsync()}");
            }
        }

        _worker = NodeProcess.Start("worker", "Freshet.DataPlane.Worker", ["run"], new Dictionary<string, string>
        {
            ["Freshet__Worker__ControlPlane__Url"] = ApiUrl.ToString(),
            ["Freshet__Worker__ControlPlane__ClientId"] = PoolCluster.WorkerClientId,
            ["Freshet__Worker__ControlPlane__ClientSecret"] = workerSecret,
            ["Freshet__Worker__Name"] = "console-worker",
            ["Freshet__Worker__Capacity"] = "4",
            ["Freshet__Worker__SourceHeartbeatInterval"] = "00:00:01",
            ["Freshet__Worker__MinRestartDelay"] = "00:00:00.200",
            ["Freshet__Worker__MaxRestartDelay"] = "00:00:02",
            ["Freshet__Worker__AssignmentPollInterval"] = "00:00:01",
            ["Freshet__Messaging__Transport"] = "rabbitmq",
            ["Freshet__Messaging__RabbitMq__Port"] = rabbit.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        _processes.Add(_worker);
    }

    /// <summary>Runs SQL in the source database (a test's stand-in for the customer's application).</summary>
    public async Task ExecuteInSourceAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(SourceConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
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
