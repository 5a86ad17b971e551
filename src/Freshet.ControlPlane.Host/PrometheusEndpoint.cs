using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;

namespace Freshet.ControlPlane.Host;

/// <summary>The Prometheus scrape endpoint (<c>Freshet:Metrics</c>).</summary>
internal sealed class MetricsOptions
{
    public const string Section = "Freshet:Metrics";

    public const string Path = "/metrics";

    /// <summary>Whether the process serves <see cref="Path"/> at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The static bearer token Prometheus sends (<c>authorization.credentials</c> in its scrape config). Without one,
    /// <see cref="Path"/> answers 404 to everyone: the metrics name tenants and pipelines, so they are never public by default.
    /// </summary>
    [MinLength(24, ErrorMessage = "Freshet:Metrics:ScrapeToken must be at least 24 characters long.")]
    public string? ScrapeToken { get; set; }
}

/// <summary>
/// Serves every meter of the process (runtime, ASP.NET Core, HttpClient, <c>Freshet.*</c>) in Prometheus text format.
/// Prometheus holds no OAuth client, so the endpoint takes no access token; a static scrape token is the gate instead,
/// which needs no network layout (a separate port, an ingress rule) to be safe.
/// </summary>
internal static class PrometheusEndpoint
{
    public static void Add(IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        if (IsEnabled(builder.Configuration))
        {
            builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddPrometheusExporter());
        }
    }

    public static void Map(WebApplication app)
    {
        if (!IsEnabled(app.Configuration))
        {
            return;
        }

        app.MapPrometheusScrapingEndpoint(MetricsOptions.Path, meterProvider: null, branch => branch.UseMiddleware<ScrapeTokenGate>(), optionsName: null)
            .AllowAnonymous()
            .DisableRateLimiting()
            .ExcludeFromDescription();
    }

    private static bool IsEnabled(IConfiguration configuration) =>
        configuration.GetSection(MetricsOptions.Section).GetValue(nameof(MetricsOptions.Enabled), defaultValue: true);
}

/// <summary>Lets a scrape through only with <c>Authorization: Bearer</c> and the configured scrape token.</summary>
internal sealed class ScrapeTokenGate(RequestDelegate next, IOptions<MetricsOptions> options)
{
    public async Task InvokeAsync(HttpContext context, IProblemDetailsService problems)
    {
        var expected = options.Value.ScrapeToken;
        if (string.IsNullOrEmpty(expected))
        {
            await RefuseAsync(context, problems, StatusCodes.Status404NotFound, "Not Found", detail: null);
            return;
        }

        if (!Presents(context.Request, expected))
        {
            context.Response.Headers.WWWAuthenticate = "Bearer realm=\"metrics\"";
            await RefuseAsync(context, problems, StatusCodes.Status401Unauthorized, "Unauthorized", "Send the scrape token as a bearer token.");
            return;
        }

        await next(context);
    }

    private static bool Presents(HttpRequest request, string expected)
    {
        const string Scheme = "Bearer ";
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // Hashes of equal length, compared in constant time: neither the token nor its length leaks through timing.
        return CryptographicOperations.FixedTimeEquals(
            SHA256.HashData(Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim())),
            SHA256.HashData(Encoding.UTF8.GetBytes(expected)));
    }

    private static async Task RefuseAsync(HttpContext context, IProblemDetailsService problems, int status, string title, string? detail)
    {
        context.Response.StatusCode = status;
        await problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = context,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }
}
