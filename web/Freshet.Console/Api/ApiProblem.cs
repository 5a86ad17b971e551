using System.Net;
using System.Text.Json;

namespace Freshet.Console.Api;

/// <summary>
/// An error the control plane answered (an RFC 9457 problem body) or could not answer, in words for people: title,
/// detail and each field's messages. Never carries a stack trace or a response body it could not read.
/// </summary>
public sealed class ApiProblem(int status, string title, string? detail, IReadOnlyDictionary<string, string[]> errors) : Exception(detail is null ? title : $"{title}: {detail}")
{
    public int Status { get; } = status;

    public string Title { get; } = title;

    public string? Detail { get; } = detail;

    public IReadOnlyDictionary<string, string[]> Errors { get; } = errors;

    public bool IsNotFound => Status == (int)HttpStatusCode.NotFound;

    public static ApiProblem Unreachable(string reason) =>
        new(0, "The control plane cannot be reached", $"{reason} Try again in a moment.", new Dictionary<string, string[]>());

    public static async Task<ApiProblem> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        string? title = null;
        string? detail = null;
        var errors = new Dictionary<string, string[]>(StringComparer.Ordinal);
        if (response.Content.Headers.ContentType?.MediaType is { } type && type.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellationToken), cancellationToken: cancellationToken);
                var root = body.RootElement;
                title = root.TryGetProperty("title", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
                detail = root.TryGetProperty("detail", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
                if (root.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Object)
                {
                    foreach (var field in e.EnumerateObject())
                    {
                        errors[field.Name] = field.Value.ValueKind == JsonValueKind.Array
                            ? field.Value.EnumerateArray().Select(m => m.ToString()).ToArray()
                            : [field.Value.ToString()];
                    }
                }
            }
            catch (JsonException)
            {
                // Not a problem body after all: the status code alone says what happened.
            }
        }

        if (response.StatusCode == HttpStatusCode.PreconditionFailed)
        {
            // The API's words speak of If-Match and ETags, which are ours, not the person's.
            return new ApiProblem(status, "Someone else changed this since you opened it",
                "Nothing was saved, so their change stands. Reload the page to see the current version, then make your change again.", errors);
        }

        return new ApiProblem(status, title ?? DefaultTitle(response.StatusCode), detail, errors);
    }

    private static string DefaultTitle(HttpStatusCode status) => status switch
    {
        HttpStatusCode.Unauthorized => "You are not signed in",
        HttpStatusCode.Forbidden => "Your role does not allow this",
        HttpStatusCode.NotFound => "Not found",
        HttpStatusCode.Conflict => "Someone changed this meanwhile",
        HttpStatusCode.TooManyRequests => "Too many requests; wait a moment",
        HttpStatusCode.ServiceUnavailable => "The control plane is unavailable",
        _ => $"The control plane answered {(int)status}",
    };
}
