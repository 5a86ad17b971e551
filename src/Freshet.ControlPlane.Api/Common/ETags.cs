using Freshet.ControlPlane.Api.Data;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Freshet.ControlPlane.Api.Common;

/// <summary>Strong ETags from the row version; <c>If-Match</c> on updates turns lost updates into 412.</summary>
internal static class ETags
{
    public static string For(IVersioned entity) => $"\"{entity.Version}\"";

    public static void Set(HttpContext context, IVersioned entity) => context.Response.Headers.ETag = For(entity);

    /// <summary>Null when the update may go ahead; a 412 problem when If-Match names another version.</summary>
    public static ProblemHttpResult? CheckIfMatch(HttpContext context, IVersioned entity)
    {
        var ifMatch = context.Request.Headers.IfMatch;
        if (ifMatch.Count == 0)
        {
            return null;
        }

        var current = For(entity);
        foreach (var value in ifMatch)
        {
            foreach (var tag in (value ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (tag == "*" || string.Equals(tag, current, StringComparison.Ordinal))
                {
                    return null;
                }
            }
        }

        return Problems.PreconditionFailed();
    }
}
