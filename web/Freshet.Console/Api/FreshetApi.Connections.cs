using System.Net.Http.Json;

namespace Freshet.Console.Api;

// Connections and pipeline editing (the connections pages, the pipeline wizard and its revisions).
internal sealed partial class FreshetApi
{
    public Task<IReadOnlyList<ConnectionTypeInfo>> GetConnectionTypesAsync(CancellationToken cancellationToken) =>
        GetAsync<IReadOnlyList<ConnectionTypeInfo>>("v1/connection-types", cancellationToken);

    /// <summary>Every connection of the tenant, following the pages (a tenant has tens, not thousands).</summary>
    public async Task<IReadOnlyList<Connection>> GetConnectionsAsync(string? kind, CancellationToken cancellationToken)
    {
        var all = new List<Connection>();
        string? token = null;
        do
        {
            var path = $"v1/connections?page_size=100{(kind is null ? "" : $"&kind={kind}")}{(token is null ? "" : $"&page_token={Uri.EscapeDataString(token)}")}";
            var page = await GetAsync<Page<Connection>>(path, cancellationToken);
            all.AddRange(page.Items);
            token = page.NextPageToken;
        }
        while (token is not null);

        return all;
    }

    public Task<Connection> GetConnectionAsync(Guid id, CancellationToken cancellationToken) => GetAsync<Connection>($"v1/connections/{id}", cancellationToken);

    public Task<Connection> CreateConnectionAsync(ConnectionDraft draft, CancellationToken cancellationToken) =>
        SendJsonAsync<Connection>(HttpMethod.Post, "v1/connections", new { name = draft.Name, kind = draft.Kind, type = draft.Type, settings = draft.Settings, secrets = draft.Secrets }, cancellationToken);

    /// <summary>
    /// Only the secrets typed in are sent: the others stay as they are. <paramref name="ifMatch"/> is the edited
    /// connection's <see cref="Connection.ETag"/>: a change made meanwhile is refused, not overwritten.
    /// </summary>
    public Task<Connection> UpdateConnectionAsync(Guid id, ConnectionDraft draft, string? ifMatch, CancellationToken cancellationToken) =>
        SendJsonAsync<Connection>(HttpMethod.Patch, $"v1/connections/{id}", new { name = draft.Name, settings = draft.Settings, secrets = draft.Secrets }, cancellationToken, ifMatch);

    public async Task DeleteConnectionAsync(Guid id, CancellationToken cancellationToken)
    {
        using var deadline = Deadline(cancellationToken);
        using var request = await RequestAsync(HttpMethod.Delete, $"v1/connections/{id}", deadline.Token);
        using var response = await SendAsync(request, HttpCompletionOption.ResponseContentRead, deadline.Token, cancellationToken);
    }

    public Task<ConnectionTestResult> TestConnectionAsync(Guid id, CancellationToken cancellationToken) => PostAsync<ConnectionTestResult>($"v1/connections/{id}/test", cancellationToken);

    public Task<SourceSchema> GetSchemaAsync(Guid id, CancellationToken cancellationToken) => GetAsync<SourceSchema>($"v1/connections/{id}/schema", cancellationToken);

    public Task<PipelineForEdit> GetPipelineForEditAsync(Guid id, CancellationToken cancellationToken) => GetAsync<PipelineForEdit>($"v1/pipelines/{id}", cancellationToken);

    public Task<PipelineForEdit> CreatePipelineAsync(PipelineDraft draft, CancellationToken cancellationToken) =>
        SendJsonAsync<PipelineForEdit>(HttpMethod.Post, "v1/pipelines", new
        {
            name = draft.Name,
            source_connection_id = draft.SourceConnectionId,
            destination_connection_id = draft.DestinationConnectionId,
            tables = draft.Tables,
            delete_mode = draft.DeleteMode,
            schema_change_policy = draft.SchemaChangePolicy,
            lag_threshold_seconds = draft.LagThresholdSeconds,
            desired_state = draft.DesiredState,
        }, cancellationToken);

    /// <summary>
    /// The source and the desired state are not part of an edit (a new source is a new pipeline; pause has its own
    /// button). <paramref name="ifMatch"/> is the edited pipeline's <see cref="PipelineForEdit.ETag"/>: a change made
    /// meanwhile is refused, not overwritten.
    /// </summary>
    public Task<PipelineForEdit> UpdatePipelineAsync(Guid id, PipelineDraft draft, string? ifMatch, CancellationToken cancellationToken) =>
        SendJsonAsync<PipelineForEdit>(HttpMethod.Patch, $"v1/pipelines/{id}", new
        {
            name = draft.Name,
            destination_connection_id = draft.DestinationConnectionId,
            tables = draft.Tables,
            delete_mode = draft.DeleteMode,
            schema_change_policy = draft.SchemaChangePolicy,
            lag_threshold_seconds = draft.LagThresholdSeconds,
        }, cancellationToken, ifMatch);

    public Task<Page<PipelineRevision>> GetRevisionsAsync(Guid id, CancellationToken cancellationToken) =>
        GetAsync<Page<PipelineRevision>>($"v1/pipelines/{id}/revisions?page_size=100", cancellationToken);

    public Task<PipelineRevision> GetRevisionAsync(Guid id, long generation, CancellationToken cancellationToken) =>
        GetAsync<PipelineRevision>($"v1/pipelines/{id}/revisions/{generation}", cancellationToken);
}
