namespace Freshet.ControlPlane.Api.Common;

/// <summary>
/// <c>If-None-Match</c> on reads: when the handler's ETag equals one the caller already has, answer 304 with no
/// body, so a console polling a pipeline every few seconds moves a header instead of the document.
/// </summary>
internal sealed class ConditionalGetFilter : IEndpointFilter
{
    private static readonly object VolatileKey = new();

    /// <summary>
    /// The representation carries state that changes without a new version (a pipeline's runtime): its ETag still
    /// guards writes (<c>If-Match</c>) but a read is never answered 304.
    /// </summary>
    public static void MarkVolatile(HttpContext http) => http.Items[VolatileKey] = true;

    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        var result = await next(context);
        var http = context.HttpContext;
        if (!HttpMethods.IsGet(http.Request.Method) || http.Request.Headers.IfNoneMatch.Count == 0 || http.Items.ContainsKey(VolatileKey))
        {
            return result;
        }

        var inner = result is INestedHttpResult nested ? nested.Result : result;
        var etag = http.Response.Headers.ETag.ToString();
        if (etag.Length == 0 || inner is not IStatusCodeHttpResult { StatusCode: StatusCodes.Status200OK })
        {
            return result;
        }

        var matches = http.Request.Headers.IfNoneMatch
            .SelectMany(v => (v ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            .Any(tag => tag == "*" || tag == etag || tag == "W/" + etag);
        return matches ? TypedResults.StatusCode(StatusCodes.Status304NotModified) : result;
    }
}
