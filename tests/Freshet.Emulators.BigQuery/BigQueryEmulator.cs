using System.Net;
using System.Text.Json;
using Freshet.Emulators.BigQuery.Auth;
using Freshet.Emulators.BigQuery.Engine;
using Freshet.Emulators.BigQuery.Rest;
using Freshet.Emulators.BigQuery.Storage;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Freshet.Emulators.BigQuery;

/// <summary>
/// A BigQuery emulator over DuckDB, listening on loopback: the REST v2 surface and the OAuth2 token endpoint on one port
/// (HTTP/1.1, stands for https://bigquery.googleapis.com and https://oauth2.googleapis.com/token), the Storage Write gRPC
/// service on another (HTTP/2 without TLS, stands for bigquerystorage.googleapis.com:443). Start it in-process with
/// <see cref="StartAsync"/> or as a process (<c>dotnet Freshet.Emulators.BigQuery.dll --rest-port 9050 --storage-port 9060</c>).
/// </summary>
public sealed class BigQueryEmulator : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DuckDbStore _store;
    private readonly ServiceAccounts _accounts;
    private readonly FaultPlan _faults;
    private readonly RestApi _rest;

    private BigQueryEmulator(WebApplication app, DuckDbStore store, ServiceAccounts accounts, FaultPlan faults, RestApi rest, StorageStatistics statistics, BigQueryEmulatorOptions options)
    {
        _app = app;
        _store = store;
        _accounts = accounts;
        _faults = faults;
        _rest = rest;
        Storage = statistics;
        Options = options;
    }

    public BigQueryEmulatorOptions Options { get; }

    /// <summary>Root of the REST API, e.g. <c>http://127.0.0.1:41234/</c> (paths start with <c>bigquery/v2/</c>).</summary>
    public Uri RestAddress { get; private set; } = null!;

    /// <summary>The OAuth2 token endpoint (what a key file's <c>token_uri</c> names).</summary>
    public Uri TokenUri => new(RestAddress, "token");

    /// <summary>Address of the Storage Write gRPC service (HTTP/2 without TLS).</summary>
    public Uri StorageAddress { get; private set; } = null!;

    /// <summary>What the Storage Write service has seen.</summary>
    public StorageStatistics Storage { get; }

    /// <summary>Access tokens issued by the token endpoint so far.</summary>
    public int IssuedTokens => _accounts.IssuedTokens;

    /// <summary>Queries run by jobs.query (a resubmitted requestId does not count again).</summary>
    public int ExecutedQueries => _rest.ExecutedQueries;

    public static async Task<BigQueryEmulator> StartAsync(BigQueryEmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new BigQueryEmulatorOptions();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(IPAddress.Loopback, options.RestPort, listen => listen.Protocols = HttpProtocols.Http1);
            kestrel.Listen(IPAddress.Loopback, options.StoragePort, listen => listen.Protocols = HttpProtocols.Http2);
        });
        // The service's own size rule answers (INVALID_ARGUMENT); gRPC's default 4 MB receive limit must not come first.
        builder.Services.AddGrpc(grpc => grpc.MaxReceiveMessageSize = Math.Max(64 * 1024 * 1024, options.MaxAppendRequestBytes * 2));
        var store = new DuckDbStore(options.Datasets, options.TimeProvider);
        var accounts = new ServiceAccounts(options);
        var faults = new FaultPlan();
        var statistics = new StorageStatistics();
        var rest = new RestApi(options, store, accounts, faults);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(store);
        builder.Services.AddSingleton(accounts);
        builder.Services.AddSingleton(faults);
        builder.Services.AddSingleton(statistics);
        var app = builder.Build();
        app.MapGrpcService<AppendRowsService>();
        rest.Map(app);
        var emulator = new BigQueryEmulator(app, store, accounts, faults, rest, statistics, options);
        emulator.MapControlApi();
        await app.StartAsync(cancellationToken);
        var addresses = app.Urls.Select(u => new Uri(u)).ToList();
        // Kestrel lists the endpoints in the order they were configured: REST first, then Storage Write.
        emulator.RestAddress = new Uri(addresses[0].GetLeftPart(UriPartial.Authority) + "/");
        emulator.StorageAddress = new Uri(addresses[1].GetLeftPart(UriPartial.Authority) + "/");
        return emulator;
    }

    /// <summary>Creates a service account key and returns the JSON key file (its <c>token_uri</c> is this emulator's).</summary>
    public string CreateServiceAccountKey(string email) => _accounts.CreateKey(email, TokenUri);

    /// <summary>Deletes an account's keys: its next token request fails with invalid_grant.</summary>
    public void DeleteServiceAccountKeys(string email) => _accounts.DeleteKeys(email);

    /// <summary>Invalidates every issued access token (as if they had all expired).</summary>
    public void RevokeAccessTokens() => _accounts.RevokeAccessTokens();

    /// <summary>
    /// <paramref name="count"/> REST calls or AppendRows requests fail with a retryable error, starting after
    /// <paramref name="afterRequests"/> more have been served normally.
    /// </summary>
    public void InjectFaults(FaultTarget target, FaultKind kind, int count, TimeSpan? retryAfter = null, int afterRequests = 0) =>
        _faults.Add(target, kind, count, retryAfter ?? TimeSpan.FromMilliseconds(200), afterRequests);

    /// <summary>Injected faults answered so far (REST and Storage Write together).</summary>
    public int FaultsServed => _faults.Served;

    /// <summary>The next <paramref name="count"/> jobs.query answers say jobComplete=false (rows via getQueryResults).</summary>
    public void AnswerQueriesIncomplete(int count) => _rest.AnswerIncomplete(count);

    /// <summary>Runs DuckDB SQL on the storage directly (schemas are dataset names).</summary>
    public Task<List<object?[]>> QueryAsync(string duckDbSql, CancellationToken cancellationToken = default) => _store.QueryDirectAsync(duckDbSql, cancellationToken);

    private void MapControlApi()
    {
        var control = _app.MapGroup("/emulator");
        control.MapPost("/service-accounts/{email}/keys", (string email) => Results.Text(CreateServiceAccountKey(email), "application/json"));
        control.MapPost("/faults", async (HttpContext context) =>
        {
            var body = (await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted)).RootElement;
            if (!Enum.TryParse<FaultTarget>(body.GetProperty("target").GetString(), ignoreCase: true, out var target)
                || !Enum.TryParse<FaultKind>(body.GetProperty("kind").GetString(), ignoreCase: true, out var kind))
            {
                return Results.BadRequest(new { message = "target must be rest or storage; kind throttled or unavailable" });
            }
            var count = body.TryGetProperty("count", out var c) ? c.GetInt32() : 1;
            TimeSpan? retryAfter = body.TryGetProperty("retryAfterSeconds", out var r) ? TimeSpan.FromSeconds(r.GetDouble()) : null;
            InjectFaults(target, kind, count, retryAfter);
            return Results.NoContent();
        });
        control.MapDelete("/faults", () =>
        {
            _faults.Clear();
            return Results.NoContent();
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        _store.Dispose();
    }
}
