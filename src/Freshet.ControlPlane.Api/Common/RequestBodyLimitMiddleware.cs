using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Freshet.ControlPlane.Api.Common;

internal sealed class ApiOptions
{
    public const string Section = "Freshet:Api";

    /// <summary>Largest request body accepted; larger ones get 413 before anything reads them.</summary>
    [System.ComponentModel.DataAnnotations.Range(1024, 64 * 1024 * 1024)]
    public long MaxRequestBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Sustained requests per second per tenant (token bucket refill).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 100_000)]
    public int RateLimitPerSecond { get; set; } = 100;

    /// <summary>Burst size per tenant (token bucket capacity).</summary>
    [System.ComponentModel.DataAnnotations.Range(1, 1_000_000)]
    public int RateLimitBurst { get; set; } = 400;
}

/// <summary>Refuses oversized bodies with a problem body, whatever server hosts the API (Kestrel or a test host).</summary>
internal sealed class RequestBodyLimitMiddleware(RequestDelegate next, IOptions<ApiOptions> options)
{
    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var limit = options.Value.MaxRequestBodyBytes;
        if (context.Request.ContentLength > limit)
        {
            context.Response.StatusCode = StatusCodes.Status413PayloadTooLarge;
            await problems.WriteAsync(new ProblemDetailsContext
            {
                HttpContext = context,
                ProblemDetails =
                {
                    Status = StatusCodes.Status413PayloadTooLarge,
                    Title = "Request body too large",
                    Detail = $"The request body is {context.Request.ContentLength} bytes; the limit is {limit} bytes.",
                },
            });
            return;
        }

        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
        {
            feature.MaxRequestBodySize = limit;
        }

        await next(context);
    }
}
