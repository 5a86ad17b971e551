using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Freshet.Emulators.BigQuery.Auth;
using Freshet.Emulators.BigQuery.Catalog;
using Freshet.Emulators.BigQuery.Engine;
using Freshet.Emulators.BigQuery.Sql;

namespace Freshet.Emulators.BigQuery.Rest;

/// <summary>A finished query kept for jobs.getQueryResults.</summary>
internal sealed record QueryJob(string JobId, QueryResult Result, bool Int64Timestamps);

/// <summary>
/// The BigQuery REST v2 surface the writers use (cloud.google.com/bigquery/docs/reference/rest): datasets.get,
/// tables.insert/get/patch, jobs.query and jobs.getQueryResults; and the OAuth2 token endpoint.
/// </summary>
internal sealed class RestApi(BigQueryEmulatorOptions options, DuckDbStore store, ServiceAccounts accounts, FaultPlan faults)
{
    private readonly ConcurrentDictionary<string, QueryJob> _jobs = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _jobsByRequestId = new(StringComparer.Ordinal);
    private int _incompleteQueries;

    /// <summary>Requests that ran a query (a resubmitted requestId does not count again).</summary>
    public int ExecutedQueries => _executedQueries;

    private int _executedQueries;

    /// <summary>The next <paramref name="count"/> jobs.query calls answer jobComplete=false; the rows come from getQueryResults.</summary>
    public void AnswerIncomplete(int count) => Interlocked.Add(ref _incompleteQueries, count);

    public void Map(WebApplication app)
    {
        app.MapPost("/token", (Func<HttpContext, Task<IResult>>)TokenAsync);
        var project = app.MapGroup("/bigquery/v2/projects/{projectId}");
        project.MapGet("/datasets/{datasetId}", (HttpContext c, string projectId, string datasetId) => Handle(c, projectId, () => GetDataset(datasetId)));
        project.MapPost("/datasets/{datasetId}/tables", (HttpContext c, string projectId, string datasetId) =>
            HandleAsync(c, projectId, async () => await InsertTableAsync(projectId, datasetId, await BodyAsync(c), c.RequestAborted)));
        project.MapGet("/datasets/{datasetId}/tables/{tableId}", (HttpContext c, string projectId, string datasetId, string tableId) =>
            Handle(c, projectId, () => RequireTable(datasetId, tableId).ToJson(options.ProjectId, options.Location)));
        project.MapMethods("/datasets/{datasetId}/tables/{tableId}", ["PATCH"], (HttpContext c, string projectId, string datasetId, string tableId) =>
            HandleAsync(c, projectId, async () => await PatchTableAsync(datasetId, tableId, await BodyAsync(c), c.RequestAborted)));
        project.MapPost("/queries", (HttpContext c, string projectId) => HandleAsync(c, projectId, async () => await QueryAsync(await BodyAsync(c), c.RequestAborted)));
        project.MapGet("/queries/{jobId}", (HttpContext c, string projectId, string jobId) => Handle(c, projectId, () => GetQueryResults(c, jobId)));
    }

    private async Task<IResult> TokenAsync(HttpContext context)
    {
        if (!context.Request.HasFormContentType)
        {
            return OAuthResult(new OAuthError("invalid_request", "The token request must be application/x-www-form-urlencoded."));
        }
        var form = await context.Request.ReadFormAsync(context.RequestAborted);
        try
        {
            var (token, expiresIn) = accounts.Exchange(form["grant_type"].FirstOrDefault(), form["assertion"].FirstOrDefault());
            return Results.Json(new { access_token = token, expires_in = expiresIn, token_type = "Bearer" });
        }
        catch (OAuthError error)
        {
            return OAuthResult(error);
        }
    }

    private static IResult OAuthResult(OAuthError error) =>
        Results.Json(new { error = error.Error, error_description = error.Message }, statusCode: 400);

    private Task<IResult> Handle(HttpContext context, string projectId, Func<JsonNode> action) =>
        HandleAsync(context, projectId, () => Task.FromResult(action()));

    private async Task<IResult> HandleAsync(HttpContext context, string projectId, Func<Task<JsonNode>> action)
    {
        try
        {
            if (faults.Next(FaultTarget.Rest) is { } fault)
            {
                throw fault.Kind == FaultKind.Throttled
                    ? new RestError(429, "rateLimitExceeded", "RESOURCE_EXHAUSTED", "Exceeded rate limits: too many api requests per user per method for this user_method. [injected]") { RetryAfter = fault.RetryAfter }
                    : new RestError(503, "backendError", "UNAVAILABLE", "The service is currently unavailable. [injected]") { RetryAfter = fault.RetryAfter };
            }
            if (accounts.Authenticate(context.Request.Headers.Authorization.FirstOrDefault()) is null)
            {
                throw RestError.Unauthenticated("Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
            }
            if (!string.Equals(projectId, options.ProjectId, StringComparison.Ordinal))
            {
                throw RestError.NotFound($"Project {projectId}");
            }
            return Results.Text((await action()).ToJsonString(), "application/json; charset=UTF-8");
        }
        catch (RestError error)
        {
            return error.ToResult(context);
        }
    }

    private static async Task<JsonNode> BodyAsync(HttpContext context)
    {
        try
        {
            return await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted) ?? throw RestError.Invalid("The request body is empty.");
        }
        catch (JsonException exception)
        {
            throw new RestError(400, "parseError", "INVALID_ARGUMENT", "Invalid JSON payload received. " + exception.Message);
        }
    }

    private JsonNode GetDataset(string datasetId)
    {
        if (!store.HasDataset(datasetId))
        {
            throw RestError.NotFound($"Dataset {options.ProjectId}:{datasetId}");
        }
        return new JsonObject
        {
            ["kind"] = "bigquery#dataset",
            ["id"] = $"{options.ProjectId}:{datasetId}",
            ["datasetReference"] = new JsonObject { ["projectId"] = options.ProjectId, ["datasetId"] = datasetId },
            ["location"] = options.Location,
        };
    }

    private TableDefinition RequireTable(string datasetId, string tableId)
    {
        if (!store.HasDataset(datasetId))
        {
            throw RestError.NotFound($"Dataset {options.ProjectId}:{datasetId}");
        }
        return store.FindTable(datasetId, tableId) ?? throw RestError.NotFound($"Table {options.ProjectId}:{datasetId}.{tableId}");
    }

    private async Task<JsonNode> InsertTableAsync(string projectId, string datasetId, JsonNode body, CancellationToken cancellationToken)
    {
        if (!store.HasDataset(datasetId))
        {
            throw RestError.NotFound($"Dataset {options.ProjectId}:{datasetId}");
        }
        var reference = body["tableReference"] ?? throw RestError.Invalid("tableReference is required.");
        var tableId = reference["tableId"]?.GetValue<string>() ?? throw RestError.Invalid("tableReference.tableId is required.");
        if ((reference["datasetId"]?.GetValue<string>() ?? datasetId) != datasetId || (reference["projectId"]?.GetValue<string>() ?? projectId) != projectId)
        {
            throw RestError.Invalid("tableReference does not match the dataset in the URL.");
        }
        if (tableId.Length is 0 or > 1024 || tableId.Any(c => !(char.IsLetterOrDigit(c) || c is '_' or '-' or ' ')))
        {
            throw RestError.Invalid($"Invalid table ID \"{tableId}\".");
        }
        var fields = ReadFields(body["schema"]) ?? throw RestError.Invalid("The emulator needs a schema to create a table.");
        var now = options.TimeProvider.GetUtcNow();
        var table = new TableDefinition(datasetId, tableId, fields, ReadPrimaryKey(body) ?? [], ReadMaxStaleness(body), now, now, 1);
        DuckDbStore.ValidatePrimaryKey(table);
        await store.CreateTableAsync(table, cancellationToken);
        return table.ToJson(options.ProjectId, options.Location);
    }

    private async Task<JsonNode> PatchTableAsync(string datasetId, string tableId, JsonNode body, CancellationToken cancellationToken)
    {
        var current = RequireTable(datasetId, tableId);
        var maxStalenessGiven = body.AsObject().ContainsKey("maxStaleness");
        var next = await store.PatchTableAsync(current, ReadFields(body["schema"]), ReadPrimaryKey(body), ReadMaxStaleness(body), maxStalenessGiven, cancellationToken);
        return next.ToJson(options.ProjectId, options.Location);
    }

    private static List<BigQueryField>? ReadFields(JsonNode? schema)
    {
        if (schema is null)
        {
            return null;
        }
        var fields = (schema["fields"]?.AsArray() ?? throw RestError.Invalid("schema.fields is required.")).Select(BigQueryField.FromJson).ToList();
        var duplicate = fields.GroupBy(f => f.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
        {
            throw RestError.Invalid($"Field {duplicate.Key} already exists in schema");
        }
        return fields;
    }

    private static List<string>? ReadPrimaryKey(JsonNode body) =>
        body["tableConstraints"]?["primaryKey"]?["columns"]?.AsArray().Select(c => c?.GetValue<string>() ?? throw RestError.Invalid("A primary key column is null.")).ToList()
        ?? (body["tableConstraints"] is not null ? [] : null);

    // maxStaleness is an INTERVAL literal string such as "0-0 0 0:15:0" (tables resource reference).
    private static string? ReadMaxStaleness(JsonNode body)
    {
        var value = body["maxStaleness"]?.GetValue<string>();
        if (value is not null && !System.Text.RegularExpressions.Regex.IsMatch(value, @"^\d+-\d+ \d+ \d+:\d+:\d+(\.\d+)?$"))
        {
            throw RestError.Invalid($"maxStaleness '{value}' is not an INTERVAL in the form Y-M D H:M:S.");
        }
        return value;
    }

    private async Task<JsonNode> QueryAsync(JsonNode body, CancellationToken cancellationToken)
    {
        // jobs.query defaults to legacy SQL; our writers must ask for GoogleSQL, and the emulator speaks nothing else.
        if (body["useLegacySql"]?.GetValue<bool>() is not false)
        {
            throw RestError.InvalidQuery("The emulator runs GoogleSQL only: set useLegacySql to false (jobs.query defaults to legacy SQL).");
        }
        var sql = body["query"]?.GetValue<string>() ?? throw RestError.Invalid("query is required.");
        var int64Timestamps = body["formatOptions"]?["useInt64Timestamp"]?.GetValue<bool>() ?? false;
        var requestId = body["requestId"]?.GetValue<string>();
        if (requestId is not null && _jobsByRequestId.TryGetValue(requestId, out var earlier) && _jobs.TryGetValue(earlier, out var earlierJob))
        {
            // requestId makes jobs.query idempotent: the same id within minutes answers with the first run's job.
            return Response(earlierJob, pageStart: 0, MaxResults(body), complete: true);
        }
        var parameters = ReadParameters(body);
        var defaultDataset = body["defaultDataset"]?["datasetId"]?.GetValue<string>();
        var statements = GoogleSqlToDuckDb.Translate(sql, options.ProjectId);
        var result = await store.RunScriptAsync(statements, parameters, cancellationToken, defaultDataset);
        Interlocked.Increment(ref _executedQueries);
        var job = new QueryJob("job_" + Guid.NewGuid().ToString("N"), result, int64Timestamps);
        _jobs[job.JobId] = job;
        if (requestId is not null)
        {
            _jobsByRequestId[requestId] = job.JobId;
        }
        var complete = true;
        if (Volatile.Read(ref _incompleteQueries) > 0 && Interlocked.Decrement(ref _incompleteQueries) >= 0)
        {
            complete = false;
        }
        return Response(job, pageStart: 0, MaxResults(body), complete);
    }

    private JsonNode GetQueryResults(HttpContext context, string jobId)
    {
        if (!_jobs.TryGetValue(jobId, out var job))
        {
            throw RestError.NotFound($"Job {options.ProjectId}:{options.Location}.{jobId}");
        }
        var query = context.Request.Query;
        var start = int.TryParse(query["pageToken"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var token) ? token : 0;
        var max = int.TryParse(query["maxResults"].FirstOrDefault(), NumberStyles.None, CultureInfo.InvariantCulture, out var m) ? m : (int?)null;
        var int64 = query["formatOptions.useInt64Timestamp"].FirstOrDefault() is { } flag ? string.Equals(flag, "true", StringComparison.OrdinalIgnoreCase) : job.Int64Timestamps;
        return Response(job with { Int64Timestamps = int64 }, start, max, complete: true);
    }

    private static int? MaxResults(JsonNode body) => body["maxResults"] is { } node
        ? int.Parse(node.GetValueKind() == JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString(), CultureInfo.InvariantCulture)
        : null;

    private JsonObject Response(QueryJob job, int pageStart, int? maxResults, bool complete)
    {
        var response = new JsonObject
        {
            ["kind"] = "bigquery#queryResponse",
            ["jobReference"] = new JsonObject { ["projectId"] = options.ProjectId, ["jobId"] = job.JobId, ["location"] = options.Location },
            ["jobComplete"] = complete,
        };
        if (!complete)
        {
            return response;
        }
        var result = job.Result;
        response["schema"] = new JsonObject
        {
            ["fields"] = new JsonArray([.. result.Columns.Select(c => (JsonNode)new JsonObject { ["name"] = c.Name, ["type"] = c.Type, ["mode"] = "NULLABLE" })]),
        };
        response["totalRows"] = result.Rows.Count.ToString(CultureInfo.InvariantCulture);
        if (result.AffectedRows is { } affected)
        {
            response["numDmlAffectedRows"] = affected.ToString(CultureInfo.InvariantCulture);
        }
        var end = Math.Min(result.Rows.Count, pageStart + Math.Min(maxResults ?? int.MaxValue, options.PageRowLimit));
        var rows = new JsonArray();
        for (var r = pageStart; r < end; r++)
        {
            rows.Add(new JsonObject
            {
                ["f"] = new JsonArray([.. result.Rows[r].Select((v, i) => (JsonNode)new JsonObject { ["v"] = ValueText(v, result.Columns[i].Type, job.Int64Timestamps) })]),
            });
        }
        if (rows.Count > 0)
        {
            response["rows"] = rows;
        }
        if (end < result.Rows.Count)
        {
            response["pageToken"] = end.ToString(CultureInfo.InvariantCulture);
        }
        response["cacheHit"] = false;
        return response;
    }

    // The REST API's row format: every value a string. TIMESTAMP is epoch seconds in floating-point notation unless
    // formatOptions.useInt64Timestamp asks for microseconds; BYTES base64; DATETIME with a 'T'.
    private static string? ValueText(object? value, string type, bool int64Timestamps) => value switch
    {
        null => null,
        bool b => b ? "true" : "false",
        decimal d => TrimDecimal(d.ToString(CultureInfo.InvariantCulture)),
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        float f => f.ToString("R", CultureInfo.InvariantCulture),
        byte[] bytes => Convert.ToBase64String(bytes),
        DateOnly date => date.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        TimeOnly time => TrimFraction(time.ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture)),
        TimeSpan span => TrimFraction(TimeOnly.FromTimeSpan(span).ToString("HH:mm:ss.ffffff", CultureInfo.InvariantCulture)),
        DateTime dt when type == "DATE" => dt.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture),
        DateTime dt when type == "TIMESTAMP" => TimestampText(new DateTimeOffset(DateTime.SpecifyKind(dt, DateTimeKind.Utc)), int64Timestamps),
        DateTimeOffset dto => TimestampText(dto, int64Timestamps),
        DateTime dt => TrimFraction(dt.ToString("yyyy-MM-ddTHH:mm:ss.ffffff", CultureInfo.InvariantCulture)),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };

    private static string TimestampText(DateTimeOffset value, bool int64Timestamps)
    {
        var micros = (value.UtcTicks - DateTime.UnixEpoch.Ticks) / 10;
        if (int64Timestamps)
        {
            return micros.ToString(CultureInfo.InvariantCulture);
        }
        // Seconds in floating-point notation with every microsecond digit, e.g. 1.767323045123456E9 (.NET's double
        // formatting stops at 15 significant digits, so the text is built from the exact microsecond count).
        var digits = Math.Abs(micros).ToString(CultureInfo.InvariantCulture);
        if (micros == 0)
        {
            return "0.0E0";
        }
        var exponent = digits.Length - 7;
        var mantissa = digits[..1] + "." + (digits.Length > 1 ? digits[1..].TrimEnd('0') : "");
        return (micros < 0 ? "-" : "") + (mantissa.EndsWith('.') ? mantissa + "0" : mantissa) + "E" + exponent.ToString(CultureInfo.InvariantCulture);
    }

    private static string TrimDecimal(string text) => text.Contains('.', StringComparison.Ordinal) ? text.TrimEnd('0').TrimEnd('.') : text;

    private static string TrimFraction(string text) => text.EndsWith(".000000", StringComparison.Ordinal) ? text[..^7] : text.TrimEnd('0');

    private static Dictionary<string, object?> ReadParameters(JsonNode body)
    {
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        var list = body["queryParameters"]?.AsArray();
        if (list is null)
        {
            return result;
        }
        if (body["parameterMode"]?.GetValue<string>() is not "NAMED")
        {
            throw RestError.Invalid("The emulator supports named query parameters only (parameterMode NAMED).");
        }
        foreach (var parameter in list)
        {
            var name = parameter?["name"]?.GetValue<string>() ?? throw RestError.Invalid("A query parameter has no name.");
            var type = parameter["parameterType"]?["type"]?.GetValue<string>() ?? throw RestError.Invalid($"Query parameter {name} has no parameterType.type.");
            var text = parameter["parameterValue"]?["value"]?.GetValue<string>();
            try
            {
                result[name] = text is null ? null : type switch
                {
                    "INT64" or "INTEGER" => long.Parse(text, CultureInfo.InvariantCulture),
                    "FLOAT64" or "FLOAT" => double.Parse(text, CultureInfo.InvariantCulture),
                    "NUMERIC" or "BIGNUMERIC" => decimal.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
                    "BOOL" or "BOOLEAN" => bool.Parse(text),
                    "STRING" or "JSON" => text,
                    "BYTES" => Convert.FromBase64String(text),
                    "DATE" => DateOnly.ParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture),
                    "TIME" => TimeOnly.Parse(text, CultureInfo.InvariantCulture),
                    "DATETIME" => DateTime.Parse(text, CultureInfo.InvariantCulture),
                    "TIMESTAMP" => DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).UtcDateTime,
                    _ => throw RestError.Invalid($"Query parameter {name}: type {type} is not emulated."),
                };
            }
            catch (FormatException)
            {
                throw RestError.Invalid($"Query parameter {name}: '{text}' is not a valid {type}.");
            }
        }
        return result;
    }
}
