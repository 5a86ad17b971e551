using System.Text.Json;
using System.Text.RegularExpressions;
using Freshet.Contracts;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>
/// Turns every exception that escapes an endpoint into a problem body: bad JSON becomes a 400 naming the field,
/// lost races become 409/412, and anything else a 500 that carries a trace id but never a stack trace.
/// </summary>
internal sealed partial class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        var problem = Map(exception);
        if (problem is null)
        {
            return false;
        }

        if (problem.Status >= 500)
        {
            LogUnhandled(logger, exception, httpContext.Request.Method, httpContext.Request.Path);
        }

        httpContext.Response.StatusCode = problem.Status ?? 500;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem, Exception = exception });
    }

    private static ProblemDetails? Map(Exception exception)
    {
        switch (exception)
        {
            case BadHttpRequestException bad when FindJsonException(bad) is { } json:
                return InvalidJson(json);
            case BadHttpRequestException { StatusCode: StatusCodes.Status413PayloadTooLarge }:
                return new ProblemDetails { Status = 413, Title = "Request body too large", Detail = "The request body exceeds the limit for this API." };
            case BadHttpRequestException bad:
                return new ProblemDetails { Status = bad.StatusCode, Title = "Bad request", Detail = DescribeBinding(bad) };
            case DbUpdateConcurrencyException:
                return new ProblemDetails { Status = 412, Title = "Precondition failed", Detail = "The resource was changed by another request at the same time. Read it again and retry." };
            case DbUpdateException { InnerException: PostgresException { SqlState: PostgresErrorCodes.UniqueViolation } pg }:
                return new ProblemDetails { Status = 409, Title = "Conflict", Detail = $"A resource with the same unique value already exists ({pg.ConstraintName})." };
            case DbUpdateException { InnerException: PostgresException { SqlState: PostgresErrorCodes.ForeignKeyViolation } }:
                return new ProblemDetails { Status = 409, Title = "Conflict", Detail = "The resource is referenced by another resource, or refers to one that no longer exists." };
            case OperationCanceledException:
                return new ProblemDetails { Status = 499, Title = "Request cancelled" };
            default:
                return new ProblemDetails { Status = 500, Title = "Internal error", Detail = "Something went wrong on our side. The trace id identifies this failure for support." };
        }
    }

    private static JsonException? FindJsonException(Exception exception)
    {
        for (var inner = exception.InnerException; inner is not null; inner = inner.InnerException)
        {
            if (inner is JsonException json)
            {
                return json;
            }
        }

        return null;
    }

    private static ProblemDetails InvalidJson(JsonException json)
    {
        var field = string.IsNullOrEmpty(json.Path) || json.Path == "$" ? "$" : json.Path.StartsWith("$.", StringComparison.Ordinal) ? json.Path[2..] : json.Path;
        var message = json.Message.Contains("could not be converted to", StringComparison.Ordinal)
            ? DescribeExpectedType(json)
            : json.Path is null || json.Path == "$" ? "The request body is not valid JSON." : "The value is not valid JSON for this field.";

        var problem = new HttpValidationProblemDetails(new Dictionary<string, string[]> { [field] = [message] })
        {
            Status = 400,
            Title = "The request body is not valid",
            Detail = "See errors for each field.",
        };
        return problem;
    }

    /// <summary>
    /// System.Text.Json names the request type in its message, not the field's; follow the JSON path through the
    /// request type's properties to learn what the field expects, and say it in words a caller can act on.
    /// </summary>
    private static string DescribeExpectedType(JsonException json)
    {
        var typeName = json.Message[(json.Message.IndexOf("could not be converted to", StringComparison.Ordinal) + 26)..].Split(". Path:")[0].Trim();
        var type = typeof(ApiExceptionHandler).Assembly.GetType(typeName) ?? typeof(TenantRole).Assembly.GetType(typeName);
        foreach (var segment in (json.Path ?? "$").Split('.').Skip(1))
        {
            if (type is null)
            {
                break;
            }

            var name = segment.Split('[')[0];
            var property = ElementType(type).GetProperties().FirstOrDefault(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name) == name);
            type = property?.PropertyType;
            if (segment.Contains('[', StringComparison.Ordinal) && type is not null)
            {
                type = ElementType(type);
            }
        }

        type = type is null ? null : Nullable.GetUnderlyingType(type) ?? type;
        if (type is { IsEnum: true })
        {
            return $"Unknown value. Allowed values: {string.Join(", ", Enum.GetNames(type).Select(JsonNamingPolicy.SnakeCaseLower.ConvertName))}.";
        }

        var expected = type switch
        {
            null => "another type",
            _ when type == typeof(string) => "a string",
            _ when type == typeof(int) || type == typeof(long) => "an integer",
            _ when type == typeof(bool) => "true or false",
            _ when type == typeof(Guid) => "a UUID",
            _ when type == typeof(DateTimeOffset) => "an ISO 8601 timestamp",
            _ when type != typeof(string) && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) && !type.Name.Contains("Dictionary", StringComparison.Ordinal) && type != typeof(System.Text.Json.Nodes.JsonObject) => "an array",
            _ => "an object",
        };
        return $"Wrong type: expected {expected}.";
    }

    private static Type ElementType(Type type) =>
        type.IsArray ? type.GetElementType()!
        : type.IsGenericType && type.GetGenericArguments().Length == 1 && typeof(System.Collections.IEnumerable).IsAssignableFrom(type) ? Nullable.GetUnderlyingType(type.GetGenericArguments()[0]) ?? type.GetGenericArguments()[0]
        : Nullable.GetUnderlyingType(type) ?? type;

    private static string DescribeBinding(BadHttpRequestException bad) =>
        bad.Message.Contains("was not provided from body", StringComparison.Ordinal) || bad.Message.Contains("Implicit body inferred", StringComparison.Ordinal)
            ? "A JSON request body is required."
            : bad.Message.Contains("Content-Type", StringComparison.OrdinalIgnoreCase)
                ? "Send the body as application/json."
                : SanitiseBindingMessage(bad.Message);

    // Binding messages name C# parameter types; keep the parameter name and the value, drop the type.
    private static string SanitiseBindingMessage(string message)
    {
        var match = ParameterMessage().Match(message);
        return match.Success ? $"The value \"{match.Groups[3].Value}\" is not valid for {match.Groups[2].Value}." : "The request could not be read.";
    }

    [GeneratedRegex("Failed to bind parameter \"(\\S+) (\\S+)\" from \"(.*)\"", RegexOptions.CultureInvariant)]
    private static partial Regex ParameterMessage();

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path}")]
    private static partial void LogUnhandled(ILogger logger, Exception exception, string method, string path);
}
