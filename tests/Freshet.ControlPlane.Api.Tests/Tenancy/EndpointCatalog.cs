namespace Freshet.ControlPlane.Api.Tests.Tenancy;

/// <summary>Every /v1 endpoint with the least role it needs; the access tests walk this table.</summary>
public static class EndpointCatalog
{
    public enum Needs
    {
        Viewer,
        Editor,
        Admin,
        Owner,
        PlatformSupport,
        PlatformAdmin,
        /// <summary>The worker pool's token only; everyone else gets 404.</summary>
        Worker,
    }

    /// <summary>{id} is replaced by an id; bodies are deliberately incomplete so an allowed write changes nothing.</summary>
    public sealed record Endpoint(string Method, string Route, Needs Needs, string? Body = null)
    {
        public bool Writes => Method != "GET";

        public override string ToString() => $"{Method} {Route}";
    }

    public static readonly Endpoint[] All =
    [
        new("GET", "/v1/tenant", Needs.Viewer),
        new("PATCH", "/v1/tenant", Needs.Owner, "{}"),
        new("GET", "/v1/members", Needs.Viewer),
        new("POST", "/v1/members", Needs.Admin, "{}"),
        new("GET", "/v1/members/{id}", Needs.Viewer),
        new("PATCH", "/v1/members/{id}", Needs.Admin, "{}"),
        new("DELETE", "/v1/members/{id}", Needs.Admin),
        new("GET", "/v1/api-clients", Needs.Viewer),
        new("POST", "/v1/api-clients", Needs.Admin, "{}"),
        new("GET", "/v1/api-clients/{id}", Needs.Viewer),
        new("POST", "/v1/api-clients/{id}/rotate-secret", Needs.Admin),
        new("DELETE", "/v1/api-clients/{id}", Needs.Admin),
        new("GET", "/v1/connection-types", Needs.Viewer),
        new("GET", "/v1/connections", Needs.Viewer),
        new("POST", "/v1/connections", Needs.Editor, "{}"),
        new("GET", "/v1/connections/{id}", Needs.Viewer),
        new("PATCH", "/v1/connections/{id}", Needs.Editor, "{}"),
        new("DELETE", "/v1/connections/{id}", Needs.Editor),
        new("POST", "/v1/connections/{id}/test", Needs.Editor),
        new("GET", "/v1/connections/{id}/schema", Needs.Viewer),
        new("GET", "/v1/pipelines", Needs.Viewer),
        new("POST", "/v1/pipelines", Needs.Editor, "{}"),
        new("GET", "/v1/pipelines/{id}", Needs.Viewer),
        new("PATCH", "/v1/pipelines/{id}", Needs.Editor, "{}"),
        new("DELETE", "/v1/pipelines/{id}", Needs.Editor),
        new("POST", "/v1/pipelines/{id}/pause", Needs.Editor),
        new("POST", "/v1/pipelines/{id}/resume", Needs.Editor),
        new("POST", "/v1/pipelines/{id}/resnapshot", Needs.Editor, "{}"),
        new("GET", "/v1/pipelines/{id}/resnapshots", Needs.Viewer),
        new("GET", "/v1/pipelines/{id}/revisions", Needs.Viewer),
        new("GET", "/v1/pipelines/{id}/revisions/1", Needs.Viewer),
        new("GET", "/v1/pipelines/{id}/status", Needs.Viewer),
        new("GET", "/v1/pipelines/{id}/metrics", Needs.Viewer),
        new("GET", "/v1/pipelines/{id}/events", Needs.Viewer),
        new("GET", "/v1/status", Needs.Viewer),
        new("GET", "/v1/status/stream", Needs.Viewer),
        new("GET", "/v1/alert-rules", Needs.Viewer),
        new("POST", "/v1/alert-rules", Needs.Editor, "{}"),
        new("GET", "/v1/alert-rules/{id}", Needs.Viewer),
        new("PATCH", "/v1/alert-rules/{id}", Needs.Editor, "{}"),
        new("DELETE", "/v1/alert-rules/{id}", Needs.Editor),
        new("POST", "/v1/alert-rules/{id}/rotate-secret", Needs.Editor),
        new("POST", "/v1/alert-rules/{id}/test", Needs.Editor),
        new("GET", "/v1/alert-rules/{id}/deliveries", Needs.Viewer),
        new("GET", "/v1/alerts", Needs.Viewer),
        new("GET", "/v1/audit-events", Needs.Admin),
        new("GET", "/v1/tenants", Needs.PlatformSupport),
        new("GET", "/v1/support/tenants", Needs.PlatformSupport),
        new("GET", "/v1/support/tenants/{id}/status", Needs.PlatformSupport),
        new("POST", "/v1/tenants", Needs.PlatformAdmin, "{}"),
        new("GET", "/v1/tenants/{id}", Needs.PlatformSupport),
        new("PATCH", "/v1/tenants/{id}", Needs.PlatformAdmin, "{}"),
        new("GET", "/v1/workers", Needs.PlatformSupport),
        new("GET", "/v1/workers/{id}", Needs.PlatformSupport),
        new("POST", "/v1/workers/{id}/drain", Needs.PlatformAdmin),
        new("POST", "/v1/workers/move", Needs.PlatformAdmin, "{}"),
        new("POST", "/v1/worker/register", Needs.Worker, "{}"),
        new("POST", "/v1/worker/heartbeat", Needs.Worker, "{}"),
        new("GET", "/v1/worker/{id}/assignments", Needs.Worker),
        new("GET", "/v1/worker/{id}/pipelines/{id}/spec", Needs.Worker),
        new("POST", "/v1/worker/{id}/pipelines/{id}/release", Needs.Worker),
        new("POST", "/v1/worker/{id}/pipelines/{id}/dropped", Needs.Worker),
    ];

    public static bool IsPlatform(this Endpoint endpoint) => endpoint.Needs is Needs.PlatformSupport or Needs.PlatformAdmin;

    public static bool IsWorker(this Endpoint endpoint) => endpoint.Needs == Needs.Worker;

    /// <summary>The kind of resource an {id} route names, to pick a real id of it.</summary>
    public static string? Resource(this Endpoint endpoint) =>
        !endpoint.Route.Contains("{id}", StringComparison.Ordinal) ? null : endpoint.Route.Split('/')[2];
}
