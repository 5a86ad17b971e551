using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using Npgsql;

namespace Freshet.Testing.Pool;

/// <summary>
/// A whole installation on this machine, every part a real process: PostgreSQL (control database, source database,
/// DuckDB destination files on disk), a RabbitMQ node, control-plane hosts (api, scheduler, status) and data-plane
/// workers that reach the control plane over HTTP with the worker pool's OAuth2 client and hear hints over RabbitMQ.
/// Pipelines are created through the public REST API as a tenant's automation would.
/// </summary>
public sealed class PoolCluster : IAsyncDisposable
{
    public const string WorkerClientId = "freshet-worker";

    private readonly List<NodeProcess> _controlPlanes = [];
    private readonly List<NodeProcess> _workers = [];
    private readonly Dictionary<string, string> _controlEnvironment;
    private readonly Dictionary<string, string> _workerEnvironment;
    private readonly string _directory;
    private int _workerCount;

    private PoolCluster(PostgresServer postgres, RabbitMqServer rabbit, string directory, string controlDatabase, string sourceDatabase, Dictionary<string, string> controlEnvironment, Dictionary<string, string> workerEnvironment)
    {
        Postgres = postgres;
        Rabbit = rabbit;
        _directory = directory;
        ControlDatabase = controlDatabase;
        SourceDatabase = sourceDatabase;
        _controlEnvironment = controlEnvironment;
        _workerEnvironment = workerEnvironment;
    }

    public PostgresServer Postgres { get; }

    public RabbitMqServer Rabbit { get; }

    public string ControlDatabase { get; }

    public string SourceDatabase { get; }

    public string SourceConnectionString => Postgres.ConnectionString(SourceDatabase);

    /// <summary>The database PostgreSQL destinations write to (schema <c>freshet</c>).</summary>
    public string DestinationDatabase { get; private init; } = "";

    public string DestinationConnectionString => Postgres.ConnectionString(DestinationDatabase);

    public string ControlConnectionString => Postgres.ConnectionString(ControlDatabase);

    public IReadOnlyList<NodeProcess> ControlPlanes => _controlPlanes;

    public IReadOnlyList<NodeProcess> Workers => _workers;

    /// <summary>The tenant's API client, authenticated.</summary>
    public HttpClient Api { get; private set; } = null!;

    /// <summary>The platform admin client, authenticated.</summary>
    public HttpClient Platform { get; private set; } = null!;

    /// <summary>Where DuckDB destination files of the demo tenant live.</summary>
    public string DuckDbRoot => Path.Combine(_directory, "duckdb");

    /// <summary>
    /// Starts the servers, migrates and seeds the control database, starts <paramref name="controlPlanes"/> hosts (the
    /// first becomes the scheduler's leader) and <paramref name="workers"/> workers, which talk to the last host.
    /// </summary>
    public static async Task<PoolCluster> StartAsync(
        int controlPlanes, int workers, int workerCapacity = 8, IReadOnlyDictionary<string, string>? workerSettings = null, IReadOnlyDictionary<string, string>? controlSettings = null)
    {
        var postgres = await PostgresServer.SharedAsync();
        var rabbit = await RabbitMqServer.SharedAsync();
        var directory = Path.Combine(PostgresServer.Root, $"pool-{Guid.NewGuid():N}"[..20]);
        Directory.CreateDirectory(directory);
        var controlDatabase = await postgres.CreateDatabaseAsync("control");
        var sourceDatabase = await postgres.CreateDatabaseAsync("source");
        var appPassword = Convert.ToHexString(RandomNumberGenerator.GetBytes(12));
        var workerSecret = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        var app = new NpgsqlConnectionStringBuilder(postgres.ConnectionString(controlDatabase)) { Username = "freshet_app", Password = appPassword };
        var control = new Dictionary<string, string>
        {
            ["ConnectionStrings__Control"] = app.ConnectionString,
            ["ConnectionStrings__ControlAdmin"] = postgres.ConnectionString(controlDatabase),
            ["Freshet__Secrets__MasterKey"] = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)),
            ["Freshet__Auth__WorkerClient__ClientSecret"] = workerSecret,
            ["Freshet__Connections__AllowPrivateNetworks"] = "true",
            ["Freshet__DuckDb__Root"] = Path.Combine(directory, "duckdb"),
            ["Freshet__Api__RateLimitPerSecond"] = "1000",
            ["Freshet__Api__RateLimitBurst"] = "4000",
            ["Freshet__Messaging__Transport"] = "rabbitmq",
            ["Freshet__Messaging__RabbitMq__Port"] = rabbit.Port.ToString(CultureInfo.InvariantCulture),
            ["Freshet__Roles"] = "api,scheduler,status",
        };
        var worker = new Dictionary<string, string>
        {
            ["Freshet__Worker__ControlPlane__ClientId"] = WorkerClientId,
            ["Freshet__Worker__ControlPlane__ClientSecret"] = workerSecret,
            ["Freshet__Worker__Capacity"] = workerCapacity.ToString(CultureInfo.InvariantCulture),
            ["Freshet__Worker__SourceHeartbeatInterval"] = "00:00:01",
            ["Freshet__Worker__MinRestartDelay"] = "00:00:00.200",
            ["Freshet__Worker__MaxRestartDelay"] = "00:00:01",
            ["Freshet__Worker__AssignmentPollInterval"] = "00:00:01",
            ["Freshet__Messaging__Transport"] = "rabbitmq",
            ["Freshet__Messaging__RabbitMq__Port"] = rabbit.Port.ToString(CultureInfo.InvariantCulture),
        };
        foreach (var (key, value) in workerSettings ?? new Dictionary<string, string>())
        {
            worker[key] = value;
        }

        foreach (var (key, value) in controlSettings ?? new Dictionary<string, string>())
        {
            control[key] = value;
        }

        var cluster = new PoolCluster(postgres, rabbit, directory, controlDatabase, sourceDatabase, control, worker)
        {
            DestinationDatabase = await postgres.CreateDatabaseAsync("destination"),
        };
        try
        {
            await NodeProcess.RunToEndAsync("Freshet.ControlPlane.Host", ["migrate"], control, TimeSpan.FromMinutes(2));
            var credentials = Path.Combine(directory, "credentials.json");
            await NodeProcess.RunToEndAsync("Freshet.ControlPlane.Host", ["seed-demo", "--credentials-out", credentials], control, TimeSpan.FromMinutes(2));
            for (var i = 0; i < controlPlanes; i++)
            {
                await cluster.StartControlPlaneAsync();
            }

            var seeded = JsonDocument.Parse(await File.ReadAllTextAsync(credentials)).RootElement;
            var tenant = seeded.GetProperty("tenants")[0];
            cluster.Api = await cluster.ClientAsync(tenant.GetProperty("clientId").GetString()!, tenant.GetProperty("clientSecret").GetString()!);
            var platform = seeded.GetProperty("platformClient");
            cluster.Platform = await cluster.ClientAsync(platform.GetProperty("clientId").GetString()!, platform.GetProperty("clientSecret").GetString()!);
            for (var i = 0; i < workers; i++)
            {
                cluster.StartWorker();
            }

            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The URL workers and clients use: the last control-plane host started.</summary>
    public Uri ApiUrl { get; private set; } = null!;

    public async Task<NodeProcess> StartControlPlaneAsync()
    {
        var port = LocalMachine.FreePort();
        var url = new Uri($"http://127.0.0.1:{port}");
        var node = NodeProcess.Start($"cp{_controlPlanes.Count}", "Freshet.ControlPlane.Host", ["--urls", url.ToString()], _controlEnvironment);
        _controlPlanes.Add(node);
        using var http = new HttpClient { BaseAddress = url };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            try
            {
                if ((await http.GetAsync("/health/ready")).IsSuccessStatusCode)
                {
                    break;
                }
            }
            catch (HttpRequestException)
            {
            }

            if (node.HasExited || DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"Control plane {node.Name} did not become ready:\n{node.Output}");
            }

            await Task.Delay(200);
        }

        ApiUrl = url;
        return node;
    }

    /// <summary>Starts one more worker against <see cref="ApiUrl"/>.</summary>
    public NodeProcess StartWorker(IReadOnlyDictionary<string, string>? settings = null)
    {
        var name = $"worker{_workerCount++}";
        var environment = new Dictionary<string, string>(_workerEnvironment)
        {
            ["Freshet__Worker__ControlPlane__Url"] = ApiUrl.ToString(),
            ["Freshet__Worker__Name"] = name,
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }

        var node = NodeProcess.Start(name, "Freshet.DataPlane.Worker", ["run"], environment);
        _workers.Add(node);
        return node;
    }

    /// <summary>Creates a source table <c>public.NAME (id bigint primary key, v text, n integer)</c>.</summary>
    public async Task CreateSourceTableAsync(string name)
    {
        await using var connection = new NpgsqlConnection(SourceConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE TABLE IF NOT EXISTS \"{name}\" (id bigint PRIMARY KEY, v text NOT NULL, n integer NOT NULL DEFAULT 0)", connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Creates (through the API) a source connection, a destination and a running pipeline for one table. DuckDB files
    /// enforce no key, so a change applied twice shows as a duplicate row; a PostgreSQL destination (schema
    /// <c>freshet</c> of the destination database) has no file lock, so a frozen worker cannot hold it up.
    /// </summary>
    public async Task<PoolPipeline> CreatePipelineAsync(string table, bool postgresDestination = false)
    {
        var source = await PostAsync("/v1/connections", new
        {
            name = $"source {table}",
            kind = "source",
            type = "postgres",
            settings = new { host = "127.0.0.1", port = Postgres.Port, database = SourceDatabase, username = "postgres" },
            secrets = new { password = "unused-with-trust-auth" },
        });
        var destination = postgresDestination
            ? await PostAsync("/v1/connections", new
            {
                name = $"postgres {table}",
                kind = "destination",
                type = "postgres",
                settings = new { host = "127.0.0.1", port = Postgres.Port, database = DestinationDatabase, username = "postgres", schema = "freshet" },
                secrets = new { password = "unused-with-trust-auth" },
            })
            : await PostAsync("/v1/connections", new
            {
                name = $"duckdb {table}",
                kind = "destination",
                type = "duckdb",
                settings = new { path = $"{table}.duckdb" },
            });
        var pipeline = await PostAsync("/v1/pipelines", new
        {
            name = $"pipeline {table}",
            source_connection_id = source.GetProperty("id").GetGuid(),
            destination_connection_id = destination.GetProperty("id").GetGuid(),
            tables = new[] { new { schema = "public", name = table } },
        });
        var tenant = pipeline.TryGetProperty("tenant_id", out var t) ? t.GetGuid() : Guid.Empty;
        var id = pipeline.GetProperty("id").GetGuid();
        var file = Directory.Exists(DuckDbRoot) ? Directory.GetFiles(DuckDbRoot, $"{table}.duckdb", SearchOption.AllDirectories).FirstOrDefault() : null;
        return new PoolPipeline(id, table, file, tenant);
    }

    /// <summary>The DuckDB file a pipeline writes (known once the worker created it).</summary>
    public string? DuckDbFileOf(string table) =>
        Directory.Exists(DuckDbRoot) ? Directory.GetFiles(DuckDbRoot, $"{table}.duckdb", SearchOption.AllDirectories).FirstOrDefault() : null;

    /// <summary>Placements as the control database holds them now: pipeline → (worker name, epoch, report).</summary>
    public async Task<IReadOnlyDictionary<Guid, PlacementRow>> PlacementsAsync()
    {
        await using var connection = new NpgsqlConnection(ControlConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            """
            SELECT a.pipeline_id, w.name, a.epoch, a.report->>'state', (a.report->>'lastDeliveryAt')::timestamptz
            FROM assignments a LEFT JOIN workers w ON w.id = a.worker_id
            """,
            connection);
        var rows = new Dictionary<Guid, PlacementRow>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            rows[reader.GetGuid(0)] = new PlacementRow(
                reader.IsDBNull(1) ? null : reader.GetString(1),
                reader.GetInt64(2),
                reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.IsDBNull(4) ? null : reader.GetFieldValue<DateTimeOffset>(4));
        }

        return rows;
    }

    /// <summary>Waits until <paramref name="condition"/> holds for the placements, or throws with what they were.</summary>
    public async Task<IReadOnlyDictionary<Guid, PlacementRow>> WaitForPlacementsAsync(Func<IReadOnlyDictionary<Guid, PlacementRow>, bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        IReadOnlyDictionary<Guid, PlacementRow> last = new Dictionary<Guid, PlacementRow>();
        while (DateTime.UtcNow < deadline)
        {
            last = await PlacementsAsync();
            if (condition(last))
            {
                return last;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"Timed out waiting for {what}. Placements: {string.Join("; ", last.Select(p => $"{p.Key}: {p.Value}"))}\n{Logs()}");
    }

    /// <summary>Every process's output, for failure messages.</summary>
    public string Logs(int tailLines = 60) =>
        string.Join("\n", _controlPlanes.Concat(_workers).Select(n =>
            $"--- {n.Name} (pid {n.Pid}{(n.HasExited ? ", exited" : "")}) ---\n" + string.Join('\n', n.Output.Split('\n').TakeLast(tailLines))));

    public async ValueTask DisposeAsync()
    {
        foreach (var node in _workers.Concat(_controlPlanes))
        {
            await node.DisposeAsync();
        }

        Api?.Dispose();
        Platform?.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<JsonElement> PostAsync(string path, object body)
    {
        var response = await Api.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"POST {path} answered {(int)response.StatusCode}: {text}\n{Logs()}");
        }

        return JsonDocument.Parse(text).RootElement;
    }

    private async Task<HttpClient> ClientAsync(string clientId, string clientSecret)
    {
        var http = new HttpClient { BaseAddress = ApiUrl };
        var token = await http.PostAsync("/connect/token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "client_credentials",
            ["client_id"] = clientId,
            ["client_secret"] = clientSecret,
        }));
        var body = JsonDocument.Parse(await token.Content.ReadAsStringAsync()).RootElement;
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", body.GetProperty("access_token").GetString());
        return http;
    }
}

/// <summary>A pipeline of the cluster: its id and source table.</summary>
public sealed record PoolPipeline(Guid Id, string Table, string? DuckDbFile, Guid TenantId);

/// <summary>A placement row: the worker's name (null when placed nowhere), the epoch and the worker's last report.</summary>
public sealed record PlacementRow(string? Worker, long Epoch, string? State, DateTimeOffset? LastDeliveryAt);
