using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>A named query parameter (GoogleSQL <c>@name</c>) with its type and value as text (null: NULL).</summary>
public sealed record BigQueryParameter(string Name, string Type, string? Value)
{
    public static BigQueryParameter Int64(string name, long? value) => new(name, "INT64", value?.ToString(CultureInfo.InvariantCulture));

    public static BigQueryParameter String(string name, string? value) => new(name, "STRING", value);

    public static BigQueryParameter Timestamp(string name, DateTimeOffset? value) =>
        new(name, "TIMESTAMP", value?.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture));
}

/// <summary>A finished query: column names and types, rows as the REST API's strings, and the DML count when it was DML.</summary>
public sealed record BigQueryQueryResult(IReadOnlyList<(string Name, string Type)> Columns, IReadOnlyList<string?[]> Rows, long? AffectedRows, string JobId);

/// <summary>A table as tables.get describes it (the fields this project uses).</summary>
public sealed record BigQueryTable(string Dataset, string Table, IReadOnlyList<BigQueryColumn> Columns, IReadOnlyList<string> PrimaryKey, string? MaxStaleness);

/// <summary>
/// A client of the BigQuery REST API v2 on HttpClient (cloud.google.com/bigquery/docs/reference/rest): datasets.get,
/// tables.get/insert/patch, jobs.query and jobs.getQueryResults. Queries are GoogleSQL (<c>useLegacySql: false</c>; the
/// API defaults to legacy SQL), carry a <c>requestId</c> so that a retried jobs.query does not run twice, ask for
/// TIMESTAMP values as int64 microseconds, and are polled and paged to completion. Transient failures (429, 5xx,
/// 403 rateLimitExceeded/backendError, network) are retried after Retry-After; a breaker stops calls to a service that
/// keeps failing; a 401 is retried once with a renewed token.
/// </summary>
public sealed class BigQueryRestClient
{
    private readonly HttpClient _http;
    private readonly BigQueryClientOptions _options;
    private readonly IBigQueryTokenSource _tokens;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _resilience;

    public BigQueryRestClient(HttpClient http, BigQueryClientOptions options, IBigQueryTokenSource tokens, TimeProvider time, ILogger? logger = null)
    {
        _http = http;
        _options = options;
        _tokens = tokens;
        _time = time;
        _resilience = WarehouseHttp.Resilience<BigQueryException>(options, "BigQuery", time, logger ?? NullLogger.Instance);
    }

    private string ProjectPath => $"bigquery/v2/projects/{Uri.EscapeDataString(_options.ProjectId)}";

    /// <summary>Whether the dataset exists (and this account may see it).</summary>
    public async Task<bool> DatasetExistsAsync(string dataset, CancellationToken cancellationToken)
    {
        var json = await SendAsync(HttpMethod.Get, $"{ProjectPath}/datasets/{Uri.EscapeDataString(dataset)}", null, allowNotFound: true, cancellationToken).ConfigureAwait(false);
        return json is not null;
    }

    /// <summary>The table, or null when it does not exist.</summary>
    public async Task<BigQueryTable?> GetTableAsync(string dataset, string table, CancellationToken cancellationToken)
    {
        var json = await SendAsync(HttpMethod.Get, TablePath(dataset, table), null, allowNotFound: true, cancellationToken).ConfigureAwait(false);
        return json is null ? null : ReadTable(json);
    }

    /// <summary>
    /// Creates a table; with <paramref name="primaryKey"/> it declares <c>PRIMARY KEY (…) NOT ENFORCED</c> (what CDC
    /// writes need), with <paramref name="maxStaleness"/> (an INTERVAL such as <c>0-0 0 0:15:0</c>) BigQuery may answer
    /// queries from data that old and apply changes in the background.
    /// </summary>
    public async Task<BigQueryTable> CreateTableAsync(string dataset, string table, IReadOnlyList<BigQueryColumn> columns, IReadOnlyList<string> primaryKey,
        string? maxStaleness, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["tableReference"] = new JsonObject { ["projectId"] = _options.ProjectId, ["datasetId"] = dataset, ["tableId"] = table },
            ["schema"] = Schema(columns),
        };
        if (primaryKey.Count > 0)
        {
            body["tableConstraints"] = new JsonObject { ["primaryKey"] = new JsonObject { ["columns"] = new JsonArray([.. primaryKey.Select(k => (JsonNode)JsonValue.Create(k))]) } };
        }
        if (maxStaleness is not null)
        {
            body["maxStaleness"] = maxStaleness;
        }
        var json = await SendAsync(HttpMethod.Post, $"{ProjectPath}/datasets/{Uri.EscapeDataString(dataset)}/tables", body, allowNotFound: false, cancellationToken).ConfigureAwait(false);
        return ReadTable(json!);
    }

    /// <summary>Replaces the table's schema (only additions and REQUIRED → NULLABLE are allowed by BigQuery).</summary>
    public async Task<BigQueryTable> PatchSchemaAsync(string dataset, string table, IReadOnlyList<BigQueryColumn> columns, CancellationToken cancellationToken)
    {
        var json = await SendAsync(HttpMethod.Patch, TablePath(dataset, table), new JsonObject { ["schema"] = Schema(columns) }, allowNotFound: false, cancellationToken)
            .ConfigureAwait(false);
        return ReadTable(json!);
    }

    /// <summary>Runs a GoogleSQL query or script to completion and returns every row.</summary>
    public async Task<BigQueryQueryResult> QueryAsync(string sql, IReadOnlyList<BigQueryParameter>? parameters, CancellationToken cancellationToken)
    {
        var body = new JsonObject
        {
            ["query"] = sql,
            ["useLegacySql"] = false,
            // One id for every attempt: a retried jobs.query whose first answer was lost does not run the query twice.
            ["requestId"] = Guid.NewGuid().ToString(),
            ["timeoutMs"] = (long)_options.QueryWait.TotalMilliseconds,
            ["formatOptions"] = new JsonObject { ["useInt64Timestamp"] = true },
        };
        if (_options.Location is not null)
        {
            body["location"] = _options.Location;
        }
        if (parameters is { Count: > 0 })
        {
            body["parameterMode"] = "NAMED";
            body["queryParameters"] = new JsonArray([.. parameters.Select(p => (JsonNode)new JsonObject
            {
                ["name"] = p.Name,
                ["parameterType"] = new JsonObject { ["type"] = p.Type },
                ["parameterValue"] = p.Value is null ? new JsonObject() : new JsonObject { ["value"] = p.Value },
            })]);
        }
        var json = (await SendAsync(HttpMethod.Post, $"{ProjectPath}/queries", body, allowNotFound: false, cancellationToken).ConfigureAwait(false))!;
        var jobId = json["jobReference"]?["jobId"]?.GetValue<string>() ?? throw Protocol("a jobs.query answer without jobReference.jobId");
        var location = json["jobReference"]?["location"]?.GetValue<string>() ?? _options.Location;
        while (json["jobComplete"]?.GetValue<bool>() is not true)
        {
            json = (await SendAsync(HttpMethod.Get, ResultsPath(jobId, location, null), null, allowNotFound: false, cancellationToken).ConfigureAwait(false))!;
        }
        var columns = (json["schema"]?["fields"]?.AsArray() ?? []).Select(f => (f!["name"]!.GetValue<string>(), f["type"]!.GetValue<string>())).ToList();
        var rows = new List<string?[]>();
        ReadRows(json, rows);
        while (json["pageToken"]?.GetValue<string>() is { } pageToken)
        {
            json = (await SendAsync(HttpMethod.Get, ResultsPath(jobId, location, pageToken), null, allowNotFound: false, cancellationToken).ConfigureAwait(false))!;
            ReadRows(json, rows);
        }
        long? affected = json["numDmlAffectedRows"]?.GetValue<string>() is { } count ? long.Parse(count, CultureInfo.InvariantCulture) : null;
        return new BigQueryQueryResult(columns, rows, affected, jobId);
    }

    private string ResultsPath(string jobId, string? location, string? pageToken)
    {
        var query = new StringBuilder($"{ProjectPath}/queries/{Uri.EscapeDataString(jobId)}?timeoutMs={(long)_options.QueryWait.TotalMilliseconds}&formatOptions.useInt64Timestamp=true");
        if (location is not null)
        {
            query.Append("&location=").Append(Uri.EscapeDataString(location));
        }
        if (pageToken is not null)
        {
            query.Append("&pageToken=").Append(Uri.EscapeDataString(pageToken));
        }
        return query.ToString();
    }

    private static void ReadRows(JsonNode json, List<string?[]> rows)
    {
        foreach (var row in json["rows"]?.AsArray() ?? [])
        {
            rows.Add([.. row!["f"]!.AsArray().Select(f => f?["v"]?.GetValue<string>())]);
        }
    }

    private string TablePath(string dataset, string table) => $"{ProjectPath}/datasets/{Uri.EscapeDataString(dataset)}/tables/{Uri.EscapeDataString(table)}";

    private static JsonObject Schema(IReadOnlyList<BigQueryColumn> columns) => new()
    {
        ["fields"] = new JsonArray([.. columns.Select(c =>
        {
            var field = new JsonObject { ["name"] = c.Name, ["type"] = c.Type, ["mode"] = c.Required ? "REQUIRED" : "NULLABLE" };
            if (c.Precision is { } p)
            {
                field["precision"] = p.ToString(CultureInfo.InvariantCulture);
                field["scale"] = (c.Scale ?? 0).ToString(CultureInfo.InvariantCulture);
            }
            return (JsonNode)field;
        })]),
    };

    private static BigQueryTable ReadTable(JsonNode json)
    {
        var reference = json["tableReference"] ?? throw Protocol("a table without tableReference");
        var columns = (json["schema"]?["fields"]?.AsArray() ?? []).Select(f =>
        {
            var type = f!["type"]!.GetValue<string>() switch
            {
                "INTEGER" => "INT64",
                "FLOAT" => "FLOAT64",
                "BOOLEAN" => "BOOL",
                var t => t,
            };
            int? Number(string name) => f[name]?.GetValue<string>() is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : null;
            var encoding = type switch
            {
                "INT64" => ProtoEncoding.Int64,
                "FLOAT64" => ProtoEncoding.Double,
                "BOOL" => ProtoEncoding.Bool,
                "BYTES" => ProtoEncoding.Bytes,
                "DATE" => ProtoEncoding.DateDays,
                "TIMESTAMP" => ProtoEncoding.TimestampMicros,
                _ => ProtoEncoding.String,
            };
            return new BigQueryColumn(f["name"]!.GetValue<string>(), type, Number("precision"), Number("scale"), f["mode"]?.GetValue<string>() == "REQUIRED", encoding);
        }).ToList();
        var primaryKey = (json["tableConstraints"]?["primaryKey"]?["columns"]?.AsArray() ?? []).Select(c => c!.GetValue<string>()).ToList();
        return new BigQueryTable(reference["datasetId"]!.GetValue<string>(), reference["tableId"]!.GetValue<string>(), columns, primaryKey, json["maxStaleness"]?.GetValue<string>());
    }

    private async Task<JsonNode?> SendAsync(HttpMethod method, string path, JsonNode? body, bool allowNotFound, CancellationToken cancellationToken)
    {
        var payload = body is null ? null : Encoding.UTF8.GetBytes(body.ToJsonString());
        return await _resilience.ExecuteAsync(async token =>
        {
            var (status, json, retryAfter) = await SendOnceAsync(method, path, payload, renewToken: false, token).ConfigureAwait(false);
            if (status == HttpStatusCode.Unauthorized)
            {
                (status, json, retryAfter) = await SendOnceAsync(method, path, payload, renewToken: true, token).ConfigureAwait(false);
            }
            if (status == HttpStatusCode.NotFound && allowNotFound)
            {
                return null;
            }
            if (status != HttpStatusCode.OK)
            {
                throw Failure(method, path, status, json, retryAfter);
            }
            return json;
        }, cancellationToken).ConfigureAwait(false);
    }

    private async Task<(HttpStatusCode, JsonNode?, TimeSpan?)> SendOnceAsync(HttpMethod method, string path, byte[]? payload, bool renewToken, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", await _tokens.GetTokenAsync(renewToken, cancellationToken).ConfigureAwait(false));
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        request.Headers.UserAgent.ParseAdd(_options.UserAgent);
        if (payload is not null)
        {
            request.Content = new ByteArrayContent(payload);
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        }
        try
        {
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            JsonNode? json = null;
            try
            {
                json = text.Length > 0 ? JsonNode.Parse(text) : null;
            }
            catch (JsonException)
            {
                // A proxy's HTML error page: judged by its status alone.
            }
            return (response.StatusCode, json, WarehouseHttp.RetryAfterOf(response, _time));
        }
        catch (HttpRequestException exception)
        {
            throw new BigQueryException($"BigQuery at {_http.BaseAddress} could not be reached: {exception.Message}", 0, null, isRetryable: true, inner: exception);
        }
        catch (TaskCanceledException exception) when (!cancellationToken.IsCancellationRequested)
        {
            throw new BigQueryException($"BigQuery at {_http.BaseAddress} did not answer within {_http.Timeout}.", 0, null, isRetryable: true, inner: exception);
        }
    }

    private static BigQueryException Failure(HttpMethod method, string path, HttpStatusCode status, JsonNode? json, TimeSpan? retryAfter)
    {
        var error = json?["error"];
        var message = error?["message"]?.GetValue<string>() ?? $"HTTP {(int)status} {status}";
        var reason = error?["errors"]?[0]?["reason"]?.GetValue<string>();
        // cloud.google.com/bigquery/docs/error-messages: backendError, rateLimitExceeded and internalError are worth retrying.
        var retryable = (int)status is 429 or 500 or 502 or 503 or 504 || reason is "rateLimitExceeded" or "backendError" or "internalError";
        var what = path.Contains("/queries", StringComparison.Ordinal) ? "query" : $"{method} {path[(path.IndexOf("/datasets", StringComparison.Ordinal) is var at and >= 0 ? at + 1 : 0)..]}";
        return new BigQueryException($"BigQuery answered {(int)status}{(reason is null ? "" : " " + reason)} to {what}: {message}", (int)status, reason, retryable, retryAfter);
    }

    private static BigQueryException Protocol(string what) => new($"The BigQuery API sent {what}.", 200, null, isRetryable: false);
}
