using System.Security.Cryptography.X509Certificates;
using System.Threading.RateLimiting;
using Freshet.ControlPlane.Api.Alerts;
using Freshet.ControlPlane.Api.ApiClients;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Auth;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Connections;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Members;
using Freshet.ControlPlane.Api.Pipelines;
using Freshet.ControlPlane.Api.Secrets;
using Freshet.ControlPlane.Api.Seeding;
using Freshet.ControlPlane.Api.Status;
using Freshet.ControlPlane.Api.Tenancy;
using Freshet.ControlPlane.Api.Tenants;
using Freshet.ControlPlane.Api.Workers;
using Freshet.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Identity;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenIddict.Validation.AspNetCore;

namespace Freshet.ControlPlane.Api;

/// <summary>The API module: REST /v1, the OAuth2 server, tenancy, connections, pipelines, audit.</summary>
public static class ApiModule
{
    public const string ControlConnectionName = "Control";

    public static IHostApplicationBuilder AddApiModule(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        var connectionString = builder.Configuration.GetConnectionString(ControlConnectionName)
            ?? throw new InvalidOperationException($"ConnectionStrings:{ControlConnectionName} is not set: the control plane needs its database.");

        services.AddOptions<SecretsOptions>().BindConfiguration(SecretsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<DuckDbOptions>().BindConfiguration(DuckDbOptions.Section);
        services.AddOptions<NetworkPolicyOptions>().BindConfiguration(NetworkPolicyOptions.Section);
        services.AddSingleton<NetworkPolicy>();
        services.AddSingleton<IValidateOptions<SecretsOptions>, ValidateSecretsOptions>();

        services.AddScoped<TenantContext>();
        services.AddDbContext<ControlDbContext>(options =>
        {
            ControlDbContextOptions.Configure(options, connectionString);
            options.UseOpenIddict<Guid>();
        });
        services.AddSingleton<IDatabaseMigrator, ApiDatabaseMigrator>();
        services.AddHealthChecks().AddCheck<ControlDatabaseHealthCheck>("control-database", tags: [ServiceDefaultsExtensions.ReadyTag]);

        services.AddSingleton<SecretBox>();
        services.AddScoped<ConnectionSecrets>();
        services.AddScoped<ConnectionEndpoints>();
        services.AddScoped<ConnectionTester>();
        services.AddScoped<SchemaBrowser>();
        services.AddScoped<CallerResolver>();
        services.AddScoped<AuditLog>();
        services.AddScoped<ApiClientProvisioner>();
        services.AddScoped<TenantProvisioner>();
        services.AddScoped<BuiltInClients>();
        services.AddScoped<DemoSeeder>();
        services.AddScoped<PipelineSpecs>();
        services.AddSingleton<Freshet.Contracts.IPipelineCatalog, PipelineCatalog>();
        services.AddSingleton<Freshet.Contracts.IAlertRuleCatalog, AlertRuleCatalog>();
        services.AddHostedService<Housekeeping>();

        services.Configure<JsonOptions>(options => ApiJson.Configure(options.SerializerOptions));
        services.Configure<RouteHandlerOptions>(options => options.ThrowOnBadRequest = true);
        services.AddExceptionHandler<ApiExceptionHandler>();
        services.AddDataProtection().SetApplicationName("freshet-control-plane").PersistKeysToDbContext<ControlDbContext>();
        services.AddAntiforgery(options => options.Cookie.Name = "freshet.af");

        AddIdentityAndOAuth(builder);
        AddRateLimiting(services);
        return builder;
    }

    public static WebApplication UseApiModule(this WebApplication app)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<RequestBodyLimitMiddleware>();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseRateLimiter();
        app.UseMiddleware<IdempotencyMiddleware>();

        app.MapAuthorizationEndpoints();

        var api = app.MapGroup("/v1")
            .RequireAuthorization(ApiPolicy)
            .ProducesProblem(StatusCodes.Status401Unauthorized)
            .ProducesProblem(StatusCodes.Status429TooManyRequests);
        api.MapGet("/me", TenantsApi.GetMeAsync).WithTags("Me").WithSummary("Who the token belongs to, and the tenants it reaches.");

        var tenantScoped = api.MapGroup("").AddEndpointFilter<TenantAccessFilter>().AddEndpointFilter<ConditionalGetFilter>()
            .ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesValidationProblem();
        tenantScoped.MapCurrentTenantApi();
        tenantScoped.MapMembersApi();
        tenantScoped.MapApiClientsApi();
        tenantScoped.MapConnectionsApi();
        tenantScoped.MapPipelinesApi();
        tenantScoped.MapAuditApi();
        tenantScoped.MapStatusApi();
        tenantScoped.MapAlertRulesApi();

        var platform = api.MapGroup("").AddEndpointFilter<PlatformAccessFilter>();
        platform.MapTenantsApi();
        platform.MapWorkersApi();
        platform.MapSupportStatusApi();

        api.MapWorkerApi();
        return app;
    }

    internal const string ApiPolicy = "freshet-api";

    private static void AddIdentityAndOAuth(IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        var auth = builder.Configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();

        services.AddAuthentication(options =>
            {
                options.DefaultScheme = OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme;
                options.DefaultChallengeScheme = OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme;
            })
            .AddIdentityCookies();
        services.ConfigureApplicationCookie(options =>
        {
            options.LoginPath = "/account/login";
            options.Cookie.Name = "freshet.session";
            options.Cookie.SameSite = SameSiteMode.Lax;
            options.ExpireTimeSpan = TimeSpan.FromHours(8);
        });
        services.AddIdentityCore<ApplicationUser>(options =>
            {
                options.User.RequireUniqueEmail = true;
                options.Lockout.AllowedForNewUsers = true;
                options.Lockout.MaxFailedAccessAttempts = auth.MaxFailedSignInAttempts;
                options.Lockout.DefaultLockoutTimeSpan = TimeSpan.FromMinutes(auth.LockoutMinutes);
                options.Password.RequiredLength = 10;
            })
            .AddRoles<IdentityRole<Guid>>()
            .AddEntityFrameworkStores<ControlDbContext>()
            .AddSignInManager()
            .AddDefaultTokenProviders();

        services.AddAuthorizationBuilder().AddPolicy(ApiPolicy, policy => policy
            .AddAuthenticationSchemes(OpenIddictValidationAspNetCoreDefaults.AuthenticationScheme)
            .RequireAuthenticatedUser());

        services.AddOpenIddict()
            .AddCore(options => options.UseEntityFrameworkCore().UseDbContext<ControlDbContext>().ReplaceDefaultEntities<Guid>())
            .AddServer(options =>
            {
                options.SetTokenEndpointUris("connect/token")
                    .SetAuthorizationEndpointUris("connect/authorize")
                    .SetEndSessionEndpointUris("connect/logout")
                    .SetRevocationEndpointUris("connect/revoke");
                options.AllowClientCredentialsFlow()
                    .AllowAuthorizationCodeFlow()
                    .RequireProofKeyForCodeExchange()
                    .AllowRefreshTokenFlow();
                options.RegisterScopes("openid", "profile", "email", "offline_access", FreshetClaims.ApiScope);
                options.SetAccessTokenLifetime(TimeSpan.FromSeconds(auth.AccessTokenLifetimeSeconds));
                options.SetRefreshTokenLifetime(TimeSpan.FromSeconds(auth.RefreshTokenLifetimeSeconds));
                if (!string.IsNullOrEmpty(auth.SigningCertificatePath) && !string.IsNullOrEmpty(auth.EncryptionCertificatePath))
                {
                    options.AddSigningCertificate(X509CertificateLoader.LoadPkcs12FromFile(auth.SigningCertificatePath, auth.CertificatePassword, X509KeyStorageFlags.EphemeralKeySet));
                    options.AddEncryptionCertificate(X509CertificateLoader.LoadPkcs12FromFile(auth.EncryptionCertificatePath, auth.CertificatePassword, X509KeyStorageFlags.EphemeralKeySet));
                }
                else
                {
                    options.AddDevelopmentSigningCertificate().AddDevelopmentEncryptionCertificate();
                }

                // Access tokens are signed JWTs (not encrypted) so other services and workers can validate them.
                options.DisableAccessTokenEncryption();
                var aspNetCore = options.UseAspNetCore()
                    .EnableTokenEndpointPassthrough()
                    .EnableAuthorizationEndpointPassthrough()
                    .EnableEndSessionEndpointPassthrough();
                if (!auth.RequireHttps)
                {
                    aspNetCore.DisableTransportSecurityRequirement();
                }
            })
            .AddValidation(options =>
            {
                options.UseLocalServer();
                options.UseAspNetCore();
            });
    }

    private static void AddRateLimiting(IServiceCollection services)
    {
        services.AddRateLimiter(options =>
        {
            options.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            options.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(http =>
            {
                var settings = http.RequestServices.GetRequiredService<IOptionsMonitor<ApiOptions>>().CurrentValue;
                return RateLimitPartition.GetTokenBucketLimiter(RateLimitKey(http), _ => new TokenBucketRateLimiterOptions
                {
                    TokenLimit = settings.RateLimitBurst,
                    TokensPerPeriod = settings.RateLimitPerSecond,
                    ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                    QueueLimit = 0,
                    AutoReplenishment = true,
                });
            });
            options.OnRejected = async (context, cancellationToken) =>
            {
                var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)) : 1;
                context.HttpContext.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
                var problems = context.HttpContext.RequestServices.GetRequiredService<IProblemDetailsService>();
                await problems.WriteAsync(new ProblemDetailsContext
                {
                    HttpContext = context.HttpContext,
                    ProblemDetails =
                    {
                        Status = StatusCodes.Status429TooManyRequests,
                        Title = "Too many requests",
                        Detail = $"This tenant's request rate is over its limit. Retry after {retryAfter} s.",
                    },
                });
            };
        });
    }

    /// <summary>
    /// Workers by their address (one bucket per worker process, apart from every tenant's); tenant for API clients and
    /// for people who name one; otherwise the caller; otherwise the address.
    /// </summary>
    private static string RateLimitKey(HttpContext http)
    {
        var subject = http.User.FindFirst(OpenIddict.Abstractions.OpenIddictConstants.Claims.Subject)?.Value;
        if (http.User.FindFirst(FreshetClaims.ActorType)?.Value == FreshetClaims.WorkerActor)
        {
            // All workers share one OAuth client, so the subject does not tell them apart; their addresses do.
            return "worker:" + http.Connection.RemoteIpAddress;
        }

        if (http.User.FindFirst(FreshetClaims.Tenant)?.Value is { Length: > 0 } clientTenant)
        {
            return "tenant:" + clientTenant;
        }

        var tenant = http.Request.Headers[AccessConventions.TenantHeader].ToString();
        if (subject is not null && tenant.Length is > 0 and <= 64)
        {
            return "tenant:" + tenant.ToLowerInvariant();
        }

        return subject is not null ? "caller:" + subject : "ip:" + http.Connection.RemoteIpAddress;
    }

    private sealed class ValidateSecretsOptions : IValidateOptions<SecretsOptions>
    {
        public ValidateOptionsResult Validate(string? name, SecretsOptions options)
        {
            var errors = options.Validate(new System.ComponentModel.DataAnnotations.ValidationContext(options)).Select(r => r.ErrorMessage!).ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}

internal sealed class ControlDatabaseHealthCheck(ControlDbContext db) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await db.Database.CanConnectAsync(cancellationToken)
            ? HealthCheckResult.Healthy()
            : HealthCheckResult.Unhealthy("The control database cannot be reached.");
}
