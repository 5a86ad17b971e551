using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Freshet.ControlPlane.Host;

/// <summary>
/// Describes how to authenticate in the OpenAPI document, so the docs page (and generated clients) can fetch a
/// token with client credentials or the authorization code flow and send it on every call.
/// </summary>
internal static class OpenApiDocumentSetup
{
    public const string SchemeName = "oauth2";

    public static void Configure(OpenApiOptions options) =>
        options.AddDocumentTransformer((document, _, _) =>
        {
            document.Info = new OpenApiInfo
            {
                Title = "Freshet API",
                Version = "v1",
                Description = "Tenants, connections, pipelines and audit of the Freshet change-data-capture service. "
                    + "JSON is snake_case; errors are RFC 9457 problem details; lists are cursor-paginated.",
            };
            var scopes = new Dictionary<string, string> { ["api"] = "Call the Freshet API" };
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes[SchemeName] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.OAuth2,
                Description = "API clients use client credentials; people use authorization code with PKCE.",
                Flows = new OpenApiOAuthFlows
                {
                    ClientCredentials = new OpenApiOAuthFlow { TokenUrl = new Uri("/connect/token", UriKind.Relative), Scopes = scopes },
                    AuthorizationCode = new OpenApiOAuthFlow
                    {
                        AuthorizationUrl = new Uri("/connect/authorize", UriKind.Relative),
                        TokenUrl = new Uri("/connect/token", UriKind.Relative),
                        RefreshUrl = new Uri("/connect/token", UriKind.Relative),
                        Scopes = scopes,
                    },
                },
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(SchemeName, document)] = ["api"] }];
            return Task.CompletedTask;
        });
}
