using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.CircuitBreaker;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>Where and as whom statements run.</summary>
public sealed record SnowflakeClientOptions : IWarehouseRetryOptions
{
    /// <summary>The API root: <see cref="SnowflakeAccount.DefaultEndpoint"/>, or another address (an emulator, PrivateLink).</summary>
    public required Uri Endpoint { get; init; }

    public string? Database { get; init; }
    public string? Schema { get; init; }
    public string? Warehouse { get; init; }
    public string? Role { get; init; }

    /// <summary>Retries of one request after transient failures (429, 5xx, network), each with the same requestId; 0: none.</summary>
    public int MaxRetryAttempts { get; init; } = 6;

    /// <summary>First backoff when the service gives no Retry-After; doubles with jitter up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>First wait between polls of a running statement (grows to <see cref="MaxPollInterval"/>).</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(100);

    public TimeSpan MaxPollInterval { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Consecutive transient failures (over at least this many calls in 30 s, nearly all failing) that open the breaker.</summary>
    public int CircuitBreakerMinimumThroughput { get; init; } = 10;

    /// <summary>How long an open breaker refuses calls before letting one through.</summary>
    public TimeSpan CircuitBreakDuration { get; init; } = TimeSpan.FromSeconds(30);

    public string UserAgent { get; init; } = "Freshet/1.0 (+https://github.com/freshet)";
}

/// <summary>
/// A client of the Snowflake SQL API v2 on HttpClient (docs.snowflake.com/developer-guide/sql-api): submits statements
/// with bindings, polls statements that answer 202, fetches every result partition, cancels on cancellation, and retries
/// transient failures with the same requestId (and <c>retry=true</c>) so that a statement whose response was lost runs once.
/// Retries honour Retry-After; a circuit breaker stops calls to a service that keeps failing.
/// </summary>
public sealed partial class SnowflakeSqlClient
{
    private const string StatementsPath = "api/v2/statements";

    private readonly HttpClient _http;
    private readonly SnowflakeClientOptions _options;
    private readonly ISnowflakeTokenSource _tokens;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly ResiliencePipeline _resilience;

    public SnowflakeSqlClient(HttpClient http, SnowflakeClientOptions options, ISnowflakeTokenSource tokens, TimeProvider time, ILogger? logger = null)
    {
        _http = http;
        _options = options;
        _tokens = tokens;
        _time = time;
        _logger = logger ?? NullLogger.Instance;
        _resilience = WarehouseHttp.Resilience<SnowflakeException>(options, "Snowflake", time, _logger);
    }

    /// <summary>
    /// Runs a request to completion and returns its whole result. Throws <see cref="SnowflakeException"/> when the service
    /// refuses it (after retries when the failure is transient) and <see cref="BrokenCircuitException"/> while the
    /// breaker is open. Cancelling <paramref name="cancellationToken"/> cancels the statement on the service too.
    /// </summary>
    public async Task<SnowflakeResult> ExecuteAsync(SnowflakeStatement statement, CancellationToken cancellationToken)
    {
        var requestId = Guid.NewGuid();
        var attempt = 0;
        var body = Body(statement);
        return await _resilience.ExecuteAsync(
            async token => await SubmitAndWaitAsync(statement, body, requestId, resubmission: attempt++ > 0, token).ConfigureAwait(false),
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Asks the service to cancel a statement (best effort: a finished statement stays finished).</summary>
    public async Task CancelAsync(string statementHandle, CancellationToken cancellationToken)
    {
        using var response = await SendAsync(HttpMethod.Post, $"{StatementsPath}/{Uri.EscapeDataString(statementHandle)}/cancel", null, renewToken: false, cancellationToken)
            .ConfigureAwait(false);
    }

    private async Task<SnowflakeResult> SubmitAndWaitAsync(SnowflakeStatement statement, SegmentedBuffer body, Guid requestId, bool resubmission, CancellationToken cancellationToken)
    {
        var query = $"{StatementsPath}?requestId={requestId}" + (resubmission ? "&retry=true" : "") + (statement.Asynchronous ? "&async=true" : "");
        var (status, json, retryAfter) = await SendJsonAsync(HttpMethod.Post, query, body, cancellationToken).ConfigureAwait(false);
        string? handle = json?["statementHandle"]?.GetValue<string>();
        var delay = _options.PollInterval;
        try
        {
            while (status == HttpStatusCode.Accepted)
            {
                handle ??= json?["statementHandle"]?.GetValue<string>() ?? throw Protocol("a 202 answer without statementHandle");
                await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxPollInterval.Ticks));
                (status, json, retryAfter) = await SendJsonAsync(HttpMethod.Get, $"{StatementsPath}/{Uri.EscapeDataString(handle)}", null, cancellationToken).ConfigureAwait(false);
            }
            if (status != HttpStatusCode.OK)
            {
                throw Failure(status, json, retryAfter, handle);
            }
            return await ReadResultAsync(json!, cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested && handle is not null)
        {
            // The statement keeps running on the service unless told otherwise; the caller's token is already cancelled.
            using var cancelTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await CancelAsync(handle, cancelTimeout.Token).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is HttpRequestException or OperationCanceledException or SnowflakeException)
            {
                LogCancelFailed(_logger, handle, exception.Message);
            }
            throw;
        }
    }

    private async Task<SnowflakeResult> ReadResultAsync(JsonNode json, CancellationToken cancellationToken)
    {
        var handle = json["statementHandle"]?.GetValue<string>() ?? throw Protocol("a result without statementHandle");
        var metadata = json["resultSetMetaData"] ?? throw Protocol("a result without resultSetMetaData");
        var columns = (metadata["rowType"]?.AsArray() ?? []).Select(c => new SnowflakeColumn(
            c!["name"]!.GetValue<string>(), c["type"]!.GetValue<string>(), c["precision"]?.GetValue<int?>(), c["scale"]?.GetValue<int?>(),
            c["nullable"]?.GetValue<bool>() ?? true)).ToList();
        var rows = new List<string?[]>();
        ReadRows(json["data"], rows);
        var partitions = metadata["partitionInfo"]?.AsArray().Count ?? 1;
        for (var partition = 1; partition < partitions; partition++)
        {
            var (status, page, retryAfter) = await SendJsonAsync(HttpMethod.Get, $"{StatementsPath}/{Uri.EscapeDataString(handle)}?partition={partition}", null, cancellationToken)
                .ConfigureAwait(false);
            if (status != HttpStatusCode.OK)
            {
                throw Failure(status, page, retryAfter, handle);
            }
            ReadRows(page?["data"], rows);
        }
        var numRows = metadata["numRows"]?.GetValue<long>();
        if (numRows is { } expected && expected != rows.Count)
        {
            throw Protocol($"{rows.Count} rows in {partitions} partition(s) where resultSetMetaData.numRows says {expected}");
        }
        var handles = json["statementHandles"]?.AsArray().Select(h => h!.GetValue<string>()).ToList() ?? [];
        return new SnowflakeResult(handle, columns, rows, handles, partitions);
    }

    private static void ReadRows(JsonNode? data, List<string?[]> rows)
    {
        foreach (var row in data?.AsArray() ?? [])
        {
            rows.Add(row!.AsArray().Select(v => v?.GetValue<string>()).ToArray());
        }
    }

    private async Task<(HttpStatusCode Status, JsonNode? Json, TimeSpan? RetryAfter)> SendJsonAsync(HttpMethod method, string path, SegmentedBuffer? body, CancellationToken cancellationToken)
    {
        using var response = await SendWithFreshTokenAsync(method, path, body, cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        JsonNode? json = null;
        if (text.Length > 0 && (response.Content.Headers.ContentType?.MediaType?.Contains("json", StringComparison.OrdinalIgnoreCase) ?? false))
        {
            try
            {
                json = JsonNode.Parse(text);
            }
            catch (JsonException)
            {
                // A proxy's HTML error page with a JSON content type: judged by its status alone.
            }
        }
        return (response.StatusCode, json, WarehouseHttp.RetryAfterOf(response, _time));
    }

    // A 401 on a cached token is answered once with a freshly minted one (a clock step or a key rotation can invalidate a
    // token before its expiry); a second 401 is the caller's configuration.
    private async Task<HttpResponseMessage> SendWithFreshTokenAsync(HttpMethod method, string path, SegmentedBuffer? body, CancellationToken cancellationToken)
    {
        var response = await SendAsync(method, path, body, renewToken: false, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode != HttpStatusCode.Unauthorized)
        {
            return response;
        }
        response.Dispose();
        return await SendAsync(method, path, body, renewToken: true, cancellationToken).ConfigureAwait(false);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpMethod method, string path, SegmentedBuffer? body, bool renewToken, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        var token = await _tokens.GetTokenAsync(renewToken, cancellationToken).ConfigureAwait(false);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Headers.Add("X-Snowflake-Authorization-Token-Type", _tokens.TokenType);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.UserAgent.ParseAdd(_options.UserAgent);
        if (body is not null)
        {
            request.Content = body.ToContent();
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        try
        {
            return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException exception)
        {
            throw new SnowflakeException($"The Snowflake SQL API at {_http.BaseAddress} could not be reached: {exception.Message}", 0, null, null, null, isRetryable: true, inner: exception);
        }
        catch (TaskCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new SnowflakeException($"The Snowflake SQL API at {_http.BaseAddress} did not answer within {_http.Timeout}.", 0, null, null, null, isRetryable: true, inner: exception);
        }
    }

    /// <summary>
    /// The request's JSON, written straight into small segments: a body carries up to the request limit (8 MiB) of staged
    /// rows, which as one string and one array — plus the growing buffers a serializer rents to escape it — took several
    /// times that on the large-object heap (see <see cref="SegmentedBuffer"/>).
    /// </summary>
    private SegmentedBuffer Body(SnowflakeStatement statement)
    {
        var body = new SegmentedBuffer();
        using var writer = new Utf8JsonWriter(body);
        writer.WriteStartObject();
        writer.WriteString("statement", statement.Sql);
        writer.WriteNumber("timeout", statement.TimeoutSeconds);
        WriteIfSet(writer, "database", _options.Database);
        WriteIfSet(writer, "schema", _options.Schema);
        WriteIfSet(writer, "warehouse", _options.Warehouse);
        WriteIfSet(writer, "role", _options.Role);
        if (statement.Bindings.Count > 0)
        {
            writer.WriteStartObject("bindings");
            for (var i = 0; i < statement.Bindings.Count; i++)
            {
                var binding = statement.Bindings[i];
                writer.WriteStartObject((i + 1).ToString(CultureInfo.InvariantCulture));
                writer.WriteString("type", binding.Type);
                writer.WritePropertyName("value");
                if (binding.Staged is { } staged)
                {
                    // The rows are held escaped already: the opening quote goes through the writer (which then counts a
                    // value as written), the text and the closing quote straight into the body after it.
                    writer.WriteRawValue("\"", skipInputValidation: true);
                    writer.Flush();
                    body.Write(staged.Escaped);
                    body.Write("\""u8);
                }
                else if (binding.Value is null)
                {
                    writer.WriteNullValue();
                }
                else
                {
                    writer.WriteStringValue(binding.Value);
                }
                writer.WriteEndObject();
            }
            writer.WriteEndObject();
        }
        if (statement.StatementCount is { } count)
        {
            writer.WriteStartObject("parameters");
            writer.WriteString("MULTI_STATEMENT_COUNT", count.ToString(CultureInfo.InvariantCulture));
            writer.WriteEndObject();
        }
        writer.WriteEndObject();
        writer.Flush();
        return body;
    }

    private static void WriteIfSet(Utf8JsonWriter writer, string name, string? value)
    {
        if (value is not null)
        {
            writer.WriteString(name, value);
        }
    }

    private static SnowflakeException Failure(HttpStatusCode status, JsonNode? json, TimeSpan? retryAfter, string? handle)
    {
        var code = json?["code"]?.GetValue<string>();
        var message = json?["message"]?.GetValue<string>() ?? $"HTTP {(int)status} {status}";
        var sqlState = json?["sqlState"]?.GetValue<string>();
        handle = json?["statementHandle"]?.GetValue<string>() ?? handle;
        var retryable = SnowflakeErrors.IsRetryable((int)status, code);
        var text = $"Snowflake answered {(int)status}" + (code is null ? "" : $" (code {code}{(sqlState is null ? "" : ", SQL state " + sqlState)})") + ": " + message;
        return new SnowflakeException(text, (int)status, code, sqlState, handle, retryable, retryAfter);
    }

    private static SnowflakeException Protocol(string what) =>
        new($"The Snowflake SQL API sent {what}.", 200, null, null, null, isRetryable: false);


    [LoggerMessage(Level = LogLevel.Warning, Message = "Cancelling Snowflake statement {Handle} failed: {Reason}")]
    private static partial void LogCancelFailed(ILogger logger, string handle, string reason);
}
