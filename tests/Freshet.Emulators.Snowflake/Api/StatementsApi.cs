using System.Globalization;
using System.Text.Json;
using Freshet.Emulators.Snowflake.Auth;
using Freshet.Emulators.Snowflake.Engine;

namespace Freshet.Emulators.Snowflake.Api;

/// <summary>
/// The SQL API v2 surface (docs.snowflake.com/developer-guide/sql-api/reference): submit, poll with partitions, cancel.
/// </summary>
internal static class StatementsApi
{
    public static void MapStatementsApi(this WebApplication app)
    {
        var group = app.MapGroup("/api/v2/statements");
        group.MapPost("", SubmitAsync);
        group.MapGet("/{handle}", PollAsync);
        group.MapPost("/{handle}/cancel", Cancel);
    }

    private static async Task<IResult> SubmitAsync(HttpContext context, StatementService service, TokenAuthenticator authenticator,
        FaultPlan faults, SnowflakeEmulatorOptions options)
    {
        try
        {
            if (Preflight(context, faults, authenticator, requireJsonBody: true) is { } rejected)
            {
                return rejected;
            }
            var request = await ReadBodyAsync(context, options);
            var query = context.Request.Query;
            var requestId = query["requestId"].FirstOrDefault();
            var retry = string.Equals(query["retry"].FirstOrDefault(), "true", StringComparison.OrdinalIgnoreCase);
            var isAsync = string.Equals(query["async"].FirstOrDefault(), "true", StringComparison.OrdinalIgnoreCase);
            var nullable = !string.Equals(query["nullable"].FirstOrDefault(), "false", StringComparison.OrdinalIgnoreCase);
            if (requestId is not null && !Guid.TryParse(requestId, out _))
            {
                throw new SqlApiError(400, "390000", "08P01", $"requestId '{requestId}' is not a UUID.");
            }
            StatementRecord record;
            if (requestId is not null && service.FindByRequestId(requestId) is { } previous)
            {
                // Resubmission: Snowflake answers with the earlier execution instead of running the statement again.
                if (!retry)
                {
                    throw new SqlApiError(400, "990001", "08P01",
                        $"requestId {requestId} was already submitted; a resubmission must set retry=true. [emulator code]");
                }
                record = previous;
            }
            else
            {
                record = service.Submit(request, requestId);
            }
            if (!isAsync)
            {
                await Task.WhenAny(record.Completion.Task, Task.Delay(options.SynchronousWait, options.TimeProvider, context.RequestAborted));
            }
            if (record.State != StatementState.Running && faults.TakeLostResponse())
            {
                return Unavailable(null);
            }
            return Describe(record, service, options, partition: 0, nullable);
        }
        catch (SqlApiError error)
        {
            return Failure(error, null);
        }
    }

    private static IResult PollAsync(HttpContext context, string handle, StatementService service, TokenAuthenticator authenticator,
        FaultPlan faults, SnowflakeEmulatorOptions options)
    {
        try
        {
            if (Preflight(context, faults, authenticator, requireJsonBody: false) is { } rejected)
            {
                return rejected;
            }
            var record = service.Find(handle) ?? throw new SqlApiError(404, "333333", "02000", $"Statement {handle} not found.");
            var partitionText = context.Request.Query["partition"].FirstOrDefault();
            var partition = 0;
            if (partitionText is not null && (!int.TryParse(partitionText, NumberStyles.None, CultureInfo.InvariantCulture, out partition)))
            {
                throw new SqlApiError(400, "390000", "08P01", $"partition '{partitionText}' is not a number.");
            }
            var nullable = !string.Equals(context.Request.Query["nullable"].FirstOrDefault(), "false", StringComparison.OrdinalIgnoreCase);
            return Describe(record, service, options, partition, nullable);
        }
        catch (SqlApiError error)
        {
            return Failure(error, null);
        }
    }

    private static IResult Cancel(HttpContext context, string handle, StatementService service, TokenAuthenticator authenticator, FaultPlan faults)
    {
        try
        {
            if (Preflight(context, faults, authenticator, requireJsonBody: false) is { } rejected)
            {
                return rejected;
            }
            var record = service.Find(handle) ?? throw new SqlApiError(404, "333333", "02000", $"Statement {handle} not found.");
            service.Cancel(record);
            return Results.Json(new { code = "000604", sqlState = "57014", message = "Statement canceled.", statementHandle = handle,
                statementStatusUrl = StatusUrl(record) });
        }
        catch (SqlApiError error)
        {
            return Failure(error, null);
        }
    }

    // Order of checks: injected faults first (a throttling front end answers before anything else), then the headers the
    // documentation requires on every request, then the token.
    private static IResult? Preflight(HttpContext context, FaultPlan faults, TokenAuthenticator authenticator, bool requireJsonBody)
    {
        if (faults.NextBeforeRequest() is { } fault)
        {
            return fault.Status == 503 ? Unavailable(fault.RetryAfter) : Throttled(fault);
        }
        var headers = context.Request.Headers;
        if (string.IsNullOrWhiteSpace(headers.UserAgent))
        {
            throw new SqlApiError(400, "391903", "08P01", "User-Agent header is required.");
        }
        var accept = headers.Accept.ToString();
        if (string.IsNullOrEmpty(accept) || !(accept.Contains("application/json", StringComparison.OrdinalIgnoreCase) || accept.Contains("*/*", StringComparison.Ordinal)))
        {
            throw new SqlApiError(406, "391904", "08P01", "Accept header must be application/json.");
        }
        if (requireJsonBody && !(context.Request.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            throw new SqlApiError(415, "391905", "08P01", "Content-Type must be application/json.");
        }
        context.Items["user"] = authenticator.Authenticate(headers.Authorization.ToString(), headers["X-Snowflake-Authorization-Token-Type"].FirstOrDefault());
        return null;
    }

    private static async Task<SubmittedRequest> ReadBodyAsync(HttpContext context, SnowflakeEmulatorOptions options)
    {
        if (context.Request.ContentLength > options.MaxRequestBytes)
        {
            throw new SqlApiError(413, "391920", "08P01", $"Request body of {context.Request.ContentLength} bytes exceeds the limit of {options.MaxRequestBytes} bytes.");
        }
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await context.Request.Body.ReadAsync(chunk, context.RequestAborted)) > 0)
        {
            buffer.Write(chunk, 0, read);
            if (buffer.Length > options.MaxRequestBytes)
            {
                throw new SqlApiError(413, "391920", "08P01", $"Request body exceeds the limit of {options.MaxRequestBytes} bytes.");
            }
        }
        JsonElement body;
        try
        {
            body = JsonDocument.Parse(buffer.ToArray()).RootElement;
        }
        catch (JsonException exception)
        {
            throw new SqlApiError(400, "390000", "08P01", "Request body is not valid JSON: " + exception.Message);
        }
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("statement", out var statement) || statement.ValueKind != JsonValueKind.String)
        {
            throw new SqlApiError(400, "390000", "08P01", "Request body must be an object with a 'statement' string.");
        }
        var timeout = body.TryGetProperty("timeout", out var t) && t.ValueKind == JsonValueKind.Number ? t.GetInt32() : 0;
        var bindings = new Dictionary<int, Binding>();
        if (body.TryGetProperty("bindings", out var b) && b.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in b.EnumerateObject())
            {
                if (!int.TryParse(property.Name, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number < 1)
                {
                    throw new SqlApiError(400, "390000", "08P01", $"Binding name '{property.Name}' must be a positive number.");
                }
                if (property.Value.ValueKind != JsonValueKind.Object
                    || !property.Value.TryGetProperty("type", out var type) || type.ValueKind != JsonValueKind.String
                    || !property.Value.TryGetProperty("value", out var value) || value.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                {
                    // Array values (the connectors' array binding) are not accepted: the SQL API's documented values are strings.
                    throw SqlApiError.Execution("100037", "22018", $"Binding '{property.Name}' must be {{\"type\": …, \"value\": \"string\"}}.");
                }
                bindings[number] = new Binding(type.GetString()!, value.ValueKind == JsonValueKind.Null ? null : value.GetString());
            }
        }
        int? multiStatementCount = null;
        if (body.TryGetProperty("parameters", out var parameters) && parameters.ValueKind == JsonValueKind.Object)
        {
            foreach (var parameter in parameters.EnumerateObject())
            {
                if (!parameter.Name.Equals("MULTI_STATEMENT_COUNT", StringComparison.OrdinalIgnoreCase))
                {
                    continue;
                }
                var text = parameter.Value.ValueKind == JsonValueKind.Number ? parameter.Value.GetRawText() : parameter.Value.GetString();
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
                {
                    throw SqlApiError.Execution("002029", "22023", $"MULTI_STATEMENT_COUNT '{text}' is not a non-negative integer.");
                }
                multiStatementCount = count;
            }
        }
        return new SubmittedRequest(statement.GetString()!, timeout, OptionalString(body, "database"), OptionalString(body, "schema"), bindings, multiStatementCount);
    }

    private static string? OptionalString(JsonElement body, string name) =>
        body.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String && value.GetString() is { Length: > 0 } text ? text : null;

    private static IResult Describe(StatementRecord record, StatementService service, SnowflakeEmulatorOptions options, int partition, bool nullable)
    {
        switch (record.State)
        {
            case StatementState.Running:
                return Results.Json(new
                {
                    code = "333334",
                    message = "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
                    statementHandle = record.Handle,
                    statementStatusUrl = StatusUrl(record),
                }, statusCode: 202);
            case StatementState.Failed:
                return Failure(record.Error!, record);
            case StatementState.Canceled:
                return Failure(new SqlApiError(422, "000604", "57014", "SQL execution canceled"), record);
            case StatementState.TimedOut:
                return Failure(new SqlApiError(408, "000630", "57014",
                    $"Statement reached its statement or warehouse timeout of {record.TimeoutSeconds} second(s) and was canceled."), record);
        }
        var result = record.Result!;
        var limit = Math.Max(1, options.PartitionRowLimit);
        var partitions = Math.Max(1, (result.Rows.Count + limit - 1) / limit);
        if (partition < 0 || partition >= partitions)
        {
            return Failure(new SqlApiError(422, "000002", "22023", $"Partition {partition} does not exist; the result has {partitions} partition(s)."), record);
        }
        var data = result.Rows.Skip(partition * limit).Take(limit)
            .Select(row => row.Select(value => value ?? (nullable ? null : "null")).ToArray()).ToList();
        if (partition > 0)
        {
            // Later partitions carry only their rows; the metadata came with the first response.
            return Results.Json(new { data });
        }
        var partitionInfo = Enumerable.Range(0, partitions).Select(p =>
        {
            var rows = result.Rows.Skip(p * limit).Take(limit).ToList();
            return new { rowCount = rows.Count, uncompressedSize = rows.Sum(r => r.Sum(v => (v?.Length ?? 4) + 3) + 2) };
        }).ToList();
        return Results.Json(new
        {
            resultSetMetaData = new
            {
                numRows = result.Rows.Count,
                format = "jsonv2",
                partitionInfo,
                rowType = result.Columns.Select(c => new
                {
                    name = c.Name,
                    database = "",
                    schema = "",
                    table = "",
                    type = c.Type,
                    precision = c.Precision,
                    scale = c.Scale,
                    nullable = c.Nullable,
                    byteLength = c.Type == "text" ? 16777216 : (int?)null,
                    length = c.Type == "text" ? 16777216 : (int?)null,
                }).ToList(),
            },
            data,
            code = "090001",
            statementStatusUrl = StatusUrl(record),
            requestId = record.RequestId,
            sqlState = "00000",
            statementHandle = record.Handle,
            statementHandles = record.ChildHandles.Count > 0 ? record.ChildHandles : null,
            message = "Statement executed successfully.",
            createdOn = record.CreatedOn.ToUnixTimeMilliseconds(),
            stats = result.Stats is { } s ? new { numRowsInserted = s.Inserted, numRowsUpdated = s.Updated, numRowsDeleted = s.Deleted, numDmlDuplicates = 0 } : null,
        });
    }

    private static IResult Failure(SqlApiError error, StatementRecord? record)
    {
        return Results.Json(new
        {
            code = error.Code,
            message = error.Message,
            sqlState = error.SqlState,
            statementHandle = record?.Handle,
            statementStatusUrl = record is null ? null : StatusUrl(record),
        }, statusCode: error.HttpStatus);
    }

    private static IResult Throttled(Fault fault) => new RetryAfterResult(fault.Status, fault.RetryAfter,
        new { code = "390400", message = "Too many requests. Retry after the time in the Retry-After header." });

    private static IResult Unavailable(TimeSpan? retryAfter) => new RetryAfterResult(503, retryAfter,
        new { code = "390503", message = "Service temporarily unavailable." });

    private static string StatusUrl(StatementRecord record) =>
        $"/api/v2/statements/{record.Handle}" + (record.RequestId is null ? "" : $"?requestId={record.RequestId}");

    private sealed class RetryAfterResult(int status, TimeSpan? retryAfter, object body) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            if (retryAfter is { } delay)
            {
                httpContext.Response.Headers.RetryAfter = ((int)Math.Ceiling(delay.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
            }
            return Results.Json(body, statusCode: status).ExecuteAsync(httpContext);
        }
    }
}
