using System.Text.Json.Nodes;

namespace Freshet.Emulators.BigQuery.Rest;

/// <summary>
/// An error answer in the Google API shape (cloud.google.com/bigquery/docs/error-messages):
/// <c>{"error": {"code", "message", "errors": [{"reason", "message"}], "status"}}</c>.
/// </summary>
internal sealed class RestError(int httpStatus, string reason, string status, string message) : Exception(message)
{
    public int HttpStatus { get; } = httpStatus;

    public string Reason { get; } = reason;

    public string Status { get; } = status;

    public TimeSpan? RetryAfter { get; init; }

    public static RestError Invalid(string message) => new(400, "invalid", "INVALID_ARGUMENT", message);

    public static RestError InvalidQuery(string message) => new(400, "invalidQuery", "INVALID_ARGUMENT", message);

    public static RestError NotFound(string message) => new(404, "notFound", "NOT_FOUND", "Not found: " + message);

    public static RestError Duplicate(string message) => new(409, "duplicate", "ALREADY_EXISTS", "Already Exists: " + message);

    public static RestError Unauthenticated(string message) => new(401, "unauthorized", "UNAUTHENTICATED", message);

    public IResult ToResult(HttpContext context)
    {
        if (RetryAfter is { } after)
        {
            context.Response.Headers.RetryAfter = ((int)Math.Ceiling(after.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }
        if (HttpStatus == 401)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"https://accounts.google.com/\"";
        }
        var body = new JsonObject
        {
            ["error"] = new JsonObject
            {
                ["code"] = HttpStatus,
                ["message"] = Message,
                ["errors"] = new JsonArray(new JsonObject { ["message"] = Message, ["domain"] = "global", ["reason"] = Reason }),
                ["status"] = Status,
            },
        };
        return Results.Text(body.ToJsonString(), "application/json; charset=UTF-8", statusCode: HttpStatus);
    }
}
