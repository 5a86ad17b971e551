using System.Security.Cryptography;
using System.Text.Json;
using Freshet.Emulators.Snowflake.Api;
using Freshet.Emulators.Snowflake.Auth;
using Freshet.Emulators.Snowflake.Engine;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Freshet.Emulators.Snowflake;

/// <summary>
/// A Snowflake SQL API v2 emulator over DuckDB, listening on loopback. Start it in-process with <see cref="StartAsync"/>
/// (tests) or as a process (<c>dotnet Freshet.Emulators.Snowflake.dll --port 8085</c>). Besides the API it has a test-control
/// surface, both as methods here and as <c>/emulator/…</c> endpoints for a separate process.
/// </summary>
public sealed class SnowflakeEmulator : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly DuckDbEngine _engine;
    private readonly StatementService _statements;
    private readonly TokenAuthenticator _authenticator;
    private readonly FaultPlan _faults;

    private SnowflakeEmulator(WebApplication app, DuckDbEngine engine, StatementService statements, TokenAuthenticator authenticator, FaultPlan faults, SnowflakeEmulatorOptions options)
    {
        _app = app;
        _engine = engine;
        _statements = statements;
        _authenticator = authenticator;
        _faults = faults;
        Options = options;
    }

    public SnowflakeEmulatorOptions Options { get; }

    /// <summary>Where the API listens, e.g. <c>http://127.0.0.1:41234/</c> (stands for https://ACCOUNT.snowflakecomputing.com).</summary>
    public Uri BaseAddress { get; private set; } = null!;

    /// <summary>Requests whose statements ran to completion or failed (a resubmitted requestId does not count again).</summary>
    public int ExecutedRequests => _statements.ExecutedRequests;

    /// <summary>
    /// SQL statements in those requests (a multi-statement request counts each of its statements, BEGIN and COMMIT
    /// included): the queries a Snowflake account's query history would list.
    /// </summary>
    public long ExecutedStatements => _statements.ExecutedStatements;

    public static async Task<SnowflakeEmulator> StartAsync(SnowflakeEmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SnowflakeEmulatorOptions();
        if (options.Account != options.Account.ToUpperInvariant() || options.Account.Contains('.', StringComparison.Ordinal))
        {
            throw new ArgumentException($"Account '{options.Account}' must be the JWT form: upper case, a locator without region or ORG-ACCOUNT.", nameof(options));
        }
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(System.Net.IPAddress.Loopback, options.Port);
            // The API enforces its own limit with a Snowflake-like body; Kestrel's must not answer first.
            kestrel.Limits.MaxRequestBodySize = null;
        });
        var engine = new DuckDbEngine(options.Databases);
        var statements = new StatementService(engine, options);
        var authenticator = new TokenAuthenticator(options);
        var faults = new FaultPlan();
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(statements);
        builder.Services.AddSingleton(authenticator);
        builder.Services.AddSingleton(faults);
        var app = builder.Build();
        app.MapStatementsApi();
        var emulator = new SnowflakeEmulator(app, engine, statements, authenticator, faults, options);
        emulator.MapControlApi();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        emulator.BaseAddress = new Uri(address.EndsWith('/') ? address : address + "/");
        return emulator;
    }

    /// <summary>Registers a user's RSA public key (ALTER USER … SET RSA_PUBLIC_KEY); returns its SHA256:… fingerprint.</summary>
    public string RegisterPublicKey(string user, RSA publicKey) => _authenticator.RegisterPublicKey(user, publicKey);

    /// <summary>Removes every public key of a user (ALTER USER … UNSET RSA_PUBLIC_KEY).</summary>
    public void RemovePublicKeys(string user) => _authenticator.RemovePublicKeys(user);

    /// <summary>An OAuth access token for a user, valid for <paramref name="lifetime"/> on the emulator's clock.</summary>
    public string IssueOAuthToken(string user, TimeSpan lifetime) => _authenticator.IssueOAuthToken(user, lifetime);

    /// <summary>The next <paramref name="count"/> API requests answer <paramref name="status"/> (429 or 503) with Retry-After.</summary>
    public void InjectFaults(int status, int count, TimeSpan? retryAfter = null)
    {
        if (status is not (429 or 503))
        {
            throw new ArgumentOutOfRangeException(nameof(status), status, "Only 429 and 503 are injected.");
        }
        _faults.Add(status, count, retryAfter);
    }

    /// <summary>Injected 429/503 answers the emulator has given so far.</summary>
    public int FaultsServed => _faults.Served;

    /// <summary>The next <paramref name="count"/> completed submissions run, but their responses are replaced by a 503.</summary>
    public void LoseResponses(int count) => _faults.LoseResponses(count);

    /// <summary>Statements wait (as if long-running) until the returned handle is disposed.</summary>
    public IDisposable HoldStatements() => _statements.Hold();

    /// <summary>Runs DuckDB SQL on the account's storage directly, bypassing the API (catalogs are the database names).</summary>
    public Task<List<object?[]>> QueryAsync(string duckDbSql, CancellationToken cancellationToken = default) => _engine.QueryDirectAsync(duckDbSql, cancellationToken);

    private void MapControlApi()
    {
        var control = _app.MapGroup("/emulator");
        control.MapPost("/faults", async (HttpContext context) =>
        {
            var body = (await JsonDocument.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted)).RootElement;
            var status = body.GetProperty("status").GetInt32();
            var count = body.TryGetProperty("count", out var c) ? c.GetInt32() : 1;
            TimeSpan? retryAfter = body.TryGetProperty("retryAfterSeconds", out var r) ? TimeSpan.FromSeconds(r.GetDouble()) : null;
            if (status is not (429 or 503))
            {
                return Results.BadRequest(new { message = "status must be 429 or 503" });
            }
            InjectFaults(status, count, retryAfter);
            return Results.NoContent();
        });
        control.MapGet("/counters", () => Results.Ok(new { executedRequests = ExecutedRequests, executedStatements = ExecutedStatements, faultsServed = FaultsServed }));
        control.MapPost("/lost-responses", (int count) =>
        {
            LoseResponses(count);
            return Results.NoContent();
        });
        control.MapDelete("/faults", () =>
        {
            _faults.Clear();
            return Results.NoContent();
        });
        control.MapPost("/hold", () =>
        {
            _statements.Hold();
            return Results.NoContent();
        });
        control.MapPost("/release", () =>
        {
            _statements.ReleaseHold();
            return Results.NoContent();
        });
        control.MapPost("/users/{user}/public-keys", async (string user, HttpContext context) =>
        {
            using var reader = new StreamReader(context.Request.Body);
            var pem = await reader.ReadToEndAsync(context.RequestAborted);
            using var key = RSA.Create();
            try
            {
                key.ImportFromPem(pem);
            }
            catch (ArgumentException exception)
            {
                return Results.BadRequest(new { message = "body must be a PEM public key: " + exception.Message });
            }
            return Results.Ok(new { fingerprint = RegisterPublicKey(user, key) });
        });
        control.MapPost("/users/{user}/oauth-tokens", (string user, int? lifetimeSeconds) =>
            Results.Ok(new { token = IssueOAuthToken(user, TimeSpan.FromSeconds(lifetimeSeconds ?? 600)) }));
    }

    public async ValueTask DisposeAsync()
    {
        _statements.ReleaseHold();
        await _app.StopAsync();
        await _app.DisposeAsync();
        _engine.Dispose();
    }
}
