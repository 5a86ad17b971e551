using System.Globalization;
using System.Net.Http.Json;

namespace Freshet.Console.Api;

// The operations areas: a pipeline's series, event pages and re-snapshots; alert rules, their deliveries and the alert
// history; and support staff's read-only view across tenants.
internal sealed partial class FreshetApi
{
    /// <summary>
    /// Set by support staff's pages: this client's requests then name that tenant, which support staff may read (never
    /// change) though they belong to none of them. The control plane audits every such read. Each page has its own
    /// client, so this reaches no other page.
    /// </summary>
    public Guid? SupportTenantId { get; set; }

    /// <summary>The pipeline's series between two times, one point per <paramref name="stepSeconds"/> (a multiple of 10).</summary>
    public Task<PipelineMetrics> GetPipelineMetricsAsync(Guid id, DateTimeOffset from, DateTimeOffset to, int stepSeconds, CancellationToken cancellationToken) =>
        GetAsync<PipelineMetrics>(
            string.Create(CultureInfo.InvariantCulture, $"v1/pipelines/{id}/metrics?from={Uri.EscapeDataString(Rfc3339(from))}&to={Uri.EscapeDataString(Rfc3339(to))}&step={stepSeconds}"),
            cancellationToken);

    /// <summary>One page of the event log, newest first; <paramref name="pageToken"/> from the previous page reads older events.</summary>
    public Task<Page<PipelineEvent>> GetPipelineEventsPageAsync(Guid id, int pageSize, string? pageToken, CancellationToken cancellationToken) =>
        GetAsync<Page<PipelineEvent>>($"v1/pipelines/{id}/events?page_size={pageSize}{Token(pageToken)}", cancellationToken);

    /// <summary>The pipeline's re-snapshot requests, newest first (the API lists them oldest first, 100 at most a page).</summary>
    public async Task<IReadOnlyList<SnapshotRequest>> GetResnapshotsAsync(Guid id, CancellationToken cancellationToken)
    {
        var all = new List<SnapshotRequest>();
        string? token = null;
        do
        {
            var page = await GetAsync<Page<SnapshotRequest>>($"v1/pipelines/{id}/resnapshots?page_size=100{Token(token)}", cancellationToken);
            all.AddRange(page.Items);
            token = page.NextPageToken;
        }
        while (token is not null);

        all.Reverse();
        return all;
    }

    public Task<IReadOnlyList<SnapshotRequest>> ResnapshotAsync(Guid id, IEnumerable<PipelineTable> tables, CancellationToken cancellationToken) =>
        SendJsonAsync<IReadOnlyList<SnapshotRequest>>(HttpMethod.Post, $"v1/pipelines/{id}/resnapshot", new { tables = tables.Select(t => new { schema = t.Schema, name = t.Name }) }, cancellationToken);

    /// <summary>Every pipeline of the tenant (for choosing one), read a page of 100 (the API's largest) at a time.</summary>
    public async Task<Page<PipelineSummary>> GetPipelinesAsync(CancellationToken cancellationToken)
    {
        var all = new List<PipelineSummary>();
        string? token = null;
        do
        {
            var page = await GetAsync<Page<PipelineSummary>>($"v1/pipelines?page_size=100{Token(token)}", cancellationToken);
            all.AddRange(page.Items);
            token = page.NextPageToken;
        }
        while (token is not null);

        return new Page<PipelineSummary>(all.OrderBy(p => p.Name, StringComparer.CurrentCultureIgnoreCase).ToList(), null);
    }

    public Task<Page<AlertRule>> GetAlertRulesAsync(CancellationToken cancellationToken) => GetAsync<Page<AlertRule>>("v1/alert-rules?page_size=100", cancellationToken);

    public Task<AlertRule> GetAlertRuleAsync(Guid id, CancellationToken cancellationToken) => GetAsync<AlertRule>($"v1/alert-rules/{id}", cancellationToken);

    public Task<AlertRuleWithSecret> CreateAlertRuleAsync(object body, CancellationToken cancellationToken) =>
        SendJsonAsync<AlertRuleWithSecret>(HttpMethod.Post, "v1/alert-rules", body, cancellationToken);

    /// <summary><paramref name="ifMatch"/> is the edited rule's <see cref="AlertRule.ETag"/>: a change made meanwhile is refused, not overwritten.</summary>
    public Task<AlertRule> UpdateAlertRuleAsync(Guid id, object body, string? ifMatch, CancellationToken cancellationToken) =>
        SendJsonAsync<AlertRule>(HttpMethod.Patch, $"v1/alert-rules/{id}", body, cancellationToken, ifMatch);

    public async Task DeleteAlertRuleAsync(Guid id, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        using var request = await RequestAsync(HttpMethod.Delete, $"v1/alert-rules/{id}", deadline.Token);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token, cancellationToken);
    }

    public Task<AlertRuleWithSecret> RotateAlertRuleSecretAsync(Guid id, CancellationToken cancellationToken) =>
        SendJsonAsync<AlertRuleWithSecret>(HttpMethod.Post, $"v1/alert-rules/{id}/rotate-secret", new { }, cancellationToken);

    public Task<AlertDelivery> TestAlertRuleAsync(Guid id, CancellationToken cancellationToken) =>
        SendJsonAsync<AlertDelivery>(HttpMethod.Post, $"v1/alert-rules/{id}/test", new { }, cancellationToken);

    public Task<Page<AlertDelivery>> GetAlertDeliveriesAsync(Guid ruleId, string? pageToken, CancellationToken cancellationToken) =>
        GetAsync<Page<AlertDelivery>>($"v1/alert-rules/{ruleId}/deliveries?page_size=20{Token(pageToken)}", cancellationToken);

    /// <summary>The tenant's alerts, newest first; each filter is left out when null. <paramref name="state"/> is open or resolved.</summary>
    public Task<Page<AlertIncident>> GetAlertsAsync(Guid? ruleId, Guid? pipelineId, string? state, string? pageToken, CancellationToken cancellationToken)
    {
        var query = new List<string> { "page_size=50" };
        if (ruleId is { } rule)
        {
            query.Add($"rule_id={rule}");
        }

        if (pipelineId is { } pipeline)
        {
            query.Add($"pipeline_id={pipeline}");
        }

        if (!string.IsNullOrEmpty(state))
        {
            query.Add($"state={Uri.EscapeDataString(state)}");
        }

        return GetAsync<Page<AlertIncident>>($"v1/alerts?{string.Join('&', query)}{Token(pageToken)}", cancellationToken);
    }

    public async Task<IReadOnlyList<SupportTenant>> GetSupportTenantsAsync(CancellationToken cancellationToken) =>
        await GetAsync<List<SupportTenant>>("v1/support/tenants", cancellationToken);

    /// <summary>One tenant's overview as support staff read it (audited in that tenant's audit log).</summary>
    public Task<TenantStatus> GetSupportTenantStatusAsync(Guid tenantId, CancellationToken cancellationToken) =>
        GetAsync<TenantStatus>($"v1/support/tenants/{tenantId}/status", cancellationToken);

    /// <summary><paramref name="ifMatch"/>: the ETag of the version the change was made from (<see cref="IConcurrencyTagged"/>); null sends none.</summary>
    private async Task<T> SendJsonAsync<T>(HttpMethod method, string path, object body, CancellationToken cancellationToken, string? ifMatch = null)
    {
        using var deadline = Deadline(cancellationToken);
        using var request = await RequestAsync(method, path, deadline.Token);
        request.Content = JsonContent.Create(body, body.GetType(), options: Json);
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token, cancellationToken);
        return await ReadAsync<T>(response, deadline.Token);
    }

    private static string Token(string? pageToken) => pageToken is null ? "" : $"&page_token={Uri.EscapeDataString(pageToken)}";

    private static string Rfc3339(DateTimeOffset at) => at.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}
