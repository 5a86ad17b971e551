using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>RFC 9457 problem responses with titles people can act on.</summary>
internal static class Problems
{
    public static ProblemHttpResult NotFound(string resource) =>
        TypedResults.Problem(title: $"{resource} not found", detail: $"No {resource.ToLowerInvariant()} with this id exists in this tenant.", statusCode: StatusCodes.Status404NotFound);

    public static ProblemHttpResult Conflict(string detail, IDictionary<string, object?>? extensions = null) =>
        TypedResults.Problem(title: "Conflict", detail: detail, statusCode: StatusCodes.Status409Conflict, extensions: extensions);

    public static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(title: "Forbidden", detail: detail, statusCode: StatusCodes.Status403Forbidden);

    public static ProblemHttpResult BadRequest(string detail) =>
        TypedResults.Problem(title: "Bad request", detail: detail, statusCode: StatusCodes.Status400BadRequest);

    public static ProblemHttpResult PreconditionFailed() =>
        TypedResults.Problem(
            title: "Precondition failed",
            detail: "The resource changed since you read it (If-Match does not match its current ETag). Read it again and reapply your change.",
            statusCode: StatusCodes.Status412PreconditionFailed);

    public static ValidationProblem Validation(IDictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The request is not valid", detail: "See errors for each field.");
}
