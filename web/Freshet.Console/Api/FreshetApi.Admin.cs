using System.Globalization;
using System.Net.Http.Json;

namespace Freshet.Console.Api;

// Members, API clients and the audit log.
internal sealed partial class FreshetApi
{
    /// <summary>Every member of the tenant (the API pages them; a tenant has few, so all pages are read).</summary>
    public Task<List<Member>> ListMembersAsync(CancellationToken cancellationToken) => ListAllAsync<Member>("v1/members", cancellationToken);

    public Task<AddedMember> AddMemberAsync(string email, string role, string? displayName, CancellationToken cancellationToken) =>
        SendJsonAsync<AddedMember>(HttpMethod.Post, "v1/members", new { email, role, display_name = string.IsNullOrWhiteSpace(displayName) ? null : displayName }, cancellationToken);

    public Task<Member> ChangeMemberRoleAsync(Guid userId, string role, CancellationToken cancellationToken) =>
        SendJsonAsync<Member>(HttpMethod.Patch, $"v1/members/{userId}", new { role }, cancellationToken);

    public Task RemoveMemberAsync(Guid userId, CancellationToken cancellationToken) => DeleteAsync($"v1/members/{userId}", cancellationToken);

    /// <summary>The tenant's API clients that are not revoked (never their secrets).</summary>
    public Task<List<ApiClient>> ListApiClientsAsync(CancellationToken cancellationToken) => ListAllAsync<ApiClient>("v1/api-clients", cancellationToken);

    public Task<ApiClientWithSecret> CreateApiClientAsync(string name, string role, CancellationToken cancellationToken) =>
        SendJsonAsync<ApiClientWithSecret>(HttpMethod.Post, "v1/api-clients", new { name, role }, cancellationToken);

    public Task<ApiClientWithSecret> RotateApiClientSecretAsync(Guid id, CancellationToken cancellationToken) =>
        SendJsonAsync<ApiClientWithSecret>(HttpMethod.Post, $"v1/api-clients/{id}/rotate-secret", new { }, cancellationToken);

    public Task RevokeApiClientAsync(Guid id, CancellationToken cancellationToken) => DeleteAsync($"v1/api-clients/{id}", cancellationToken);

    /// <summary>One page of the audit log, newest first.</summary>
    public Task<Page<AuditEvent>> GetAuditEventsAsync(AuditFilter filter, int pageSize, string? pageToken, CancellationToken cancellationToken)
    {
        var query = new List<string> { $"page_size={pageSize}" };
        void Add(string name, string? value)
        {
            if (!string.IsNullOrWhiteSpace(value))
            {
                query.Add($"{name}={Uri.EscapeDataString(value.Trim())}");
            }
        }

        Add("actor", filter.Actor);
        Add("action", filter.Action);
        Add("resource_type", filter.ResourceType);
        Add("resource_id", filter.ResourceId);
        Add("from", filter.From?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
        Add("to", filter.To?.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture));
        Add("page_token", pageToken);
        return GetAsync<Page<AuditEvent>>("v1/audit-events?" + string.Join('&', query), cancellationToken);
    }

    private async Task<List<T>> ListAllAsync<T>(string path, CancellationToken cancellationToken)
    {
        var all = new List<T>();
        string? token = null;
        do
        {
            var page = await GetAsync<Page<T>>(token is null ? $"{path}?page_size=100" : $"{path}?page_size=100&page_token={Uri.EscapeDataString(token)}", cancellationToken);
            all.AddRange(page.Items);
            token = page.NextPageToken;
        }
        while (token is not null);

        return all;
    }

    private async Task DeleteAsync(string path, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        using var request = await RequestAsync(HttpMethod.Delete, path, deadline.Token);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token, cancellationToken);
    }
}
