using Freshet.Contracts;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Pipelines;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Freshet.ControlPlane.Api.Status;

/// <summary>
/// Pipelines' health, series and events, read from the status module (<see cref="IPipelineStatusReader"/>). Every read
/// first finds the pipeline in the caller's tenant (query filters and row-level security), so the status tables, keyed
/// by pipeline alone, are reached only through a pipeline the caller may see.
/// </summary>
internal static class StatusApi
{
    /// <summary>The most points one metrics read returns.</summary>
    public const int MaxPoints = 1_500;

    private static readonly TimeSpan FineStep = TimeSpan.FromSeconds(10);

    public static RouteGroupBuilder MapStatusApi(this RouteGroupBuilder v1)
    {
        var pipelines = v1.MapGroup("/pipelines").WithTags("Status");
        pipelines.MapGet("/{id:guid}/status", GetStatusAsync).Reads()
            .WithSummary("The pipeline's health (with reasons and, while it snapshots, per-table progress) and its latest figures.");
        pipelines.MapGet("/{id:guid}/metrics", GetMetricsAsync).Reads()
            .WithSummary("Series of lag seconds, lag bytes, rows/s, bytes/s and errors; from and to are RFC 3339 times, step a duration in seconds (a multiple of 10).");
        pipelines.MapGet("/{id:guid}/events", GetEventsAsync).Reads()
            .WithSummary("State changes, errors, quarantines and restarts (with worker and epoch), newest first.");
        v1.MapGet("/status", GetTenantStatusAsync).Reads().WithTags("Status")
            .WithSummary("The tenant's overview: its pipelines by health, worst first, and counts by state.");
        v1.MapGet("/status/stream", StreamTenantStatus).Reads().WithTags("Status")
            .WithSummary("Server-sent events: `status` (a pipeline's status, as GET /v1/pipelines/{id}/status) for every pipeline at once, then for each one whose status changes; `heartbeat` when nothing changed for a while.")
            .WithDescription("A change is pushed within moments of the worker's report reaching the control plane; health that changes with the clock alone (stale, failing for lack of progress) is re-judged every few seconds.");
        return v1;
    }

    private static IResult StreamTenantStatus(
        ControlDbContext db, HttpContext http, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json, CancellationToken cancellationToken) =>
        Reader(http) is not { } reader || http.RequestServices.GetService<IPipelineStatusFeed>() is not { } feed
            ? Unavailable()
            : TypedResults.ServerSentEvents(StreamEventsAsync(db, http, reader, feed, json.Value.SerializerOptions, cancellationToken));

    private static async IAsyncEnumerable<SseItem<string>> StreamEventsAsync(
        ControlDbContext db,
        HttpContext http,
        IPipelineStatusReader reader,
        IPipelineStatusFeed feed,
        System.Text.Json.JsonSerializerOptions json,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The feed is pumped into a local queue so a tick can wait on it with a timeout; ids of other tenants are dropped
        // below, and a burst of changes is read in one go.
        var changes = Channel.CreateBounded<Guid>(new BoundedChannelOptions(4_096) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pump = PumpAsync(feed, changes.Writer, stop.Token);
        try
        {
            var pipelines = await db.Pipelines.AsNoTracking().ToDictionaryAsync(p => p.Id, cancellationToken);
            var sent = new Dictionary<Guid, (PipelineHealthState Health, DateTimeOffset? ReportedAt)>();
            var items = new List<SseItem<string>>();
            await CollectAsync(pipelines.Values.ToList(), onlyChanged: false);
            if (items.Count == 0)
            {
                // Something at once, so a client knows the stream is open even in a tenant with no pipeline.
                items.Add(new SseItem<string>("{}", "heartbeat"));
            }

            foreach (var item in items)
            {
                yield return item;
            }

            while (!cancellationToken.IsCancellationRequested)
            {
                var changed = new HashSet<Guid>();
                using (var tick = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
                {
                    tick.CancelAfter(feed.RejudgeInterval);
                    try
                    {
                        if (await changes.Reader.WaitToReadAsync(tick.Token))
                        {
                            while (changes.Reader.TryRead(out var id))
                            {
                                changed.Add(id);
                            }
                        }
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        // The tick: nothing was ingested for this tenant meanwhile.
                    }
                }

                items.Clear();
                if (changed.Count == 0)
                {
                    await CollectAsync(pipelines.Values.ToList(), onlyChanged: true);
                    if (items.Count == 0)
                    {
                        items.Add(new SseItem<string>("{}", "heartbeat"));
                    }
                }
                else
                {
                    // A pipeline created since the stream began is looked up in the tenant (the wall drops the others').
                    var unknown = changed.Where(id => !pipelines.ContainsKey(id)).ToList();
                    if (unknown.Count > 0)
                    {
                        foreach (var added in await db.Pipelines.AsNoTracking().Where(p => unknown.Contains(p.Id)).ToListAsync(cancellationToken))
                        {
                            pipelines[added.Id] = added;
                        }
                    }

                    await CollectAsync(changed.Where(pipelines.ContainsKey).Select(id => pipelines[id]).ToList(), onlyChanged: false);
                }

                foreach (var item in items)
                {
                    yield return item;
                }
            }

            async Task CollectAsync(List<Pipeline> which, bool onlyChanged)
            {
                if (which.Count == 0)
                {
                    return;
                }

                var statuses = await ReadAsync(http, reader, which, cancellationToken);
                foreach (var pipeline in which)
                {
                    var response = PipelineStatusResponse.From(pipeline, statuses[pipeline.Id]);
                    var key = (response.Health, response.ReportedAt);
                    if (onlyChanged && sent.TryGetValue(pipeline.Id, out var last) && last == key)
                    {
                        continue;
                    }

                    sent[pipeline.Id] = key;
                    items.Add(new SseItem<string>(System.Text.Json.JsonSerializer.Serialize(response, json), "status"));
                }
            }
        }
        finally
        {
            await stop.CancelAsync();
            await pump;
        }
    }

    private static async Task PumpAsync(IPipelineStatusFeed feed, ChannelWriter<Guid> writer, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var id in feed.ChangesAsync(cancellationToken))
            {
                writer.TryWrite(id);
            }
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }
    }

    /// <summary>Support staff's view across tenants (platform group: read-only for support, every read audited).</summary>
    public static RouteGroupBuilder MapSupportStatusApi(this RouteGroupBuilder platform)
    {
        var support = platform.MapGroup("/support/tenants").WithTags("Status (support)");
        support.MapGet("/", GetSupportTenantsAsync).PlatformReads()
            .WithSummary("Every tenant with its worst pipeline health and counts by state, worst first, then by lag (platform staff; audited).");
        support.MapGet("/{id:guid}/status", GetSupportTenantStatusAsync).PlatformReads()
            .WithSummary("One tenant's overview, as its members see it at /v1/status (platform staff; audited in the tenant's own audit log).");
        return platform;
    }

    private static async Task<Results<Ok<List<SupportTenantResponse>>, ProblemHttpResult>> GetSupportTenantsAsync(
        ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        if (Reader(http) is not { } reader)
        {
            return Unavailable();
        }

        var tenants = await db.Tenants.AsNoTracking().ToListAsync(cancellationToken);
        var pipelines = await db.Pipelines.AsNoTracking().ToListAsync(cancellationToken);
        var statuses = await ReadAsync(http, reader, pipelines, cancellationToken);
        var byTenant = pipelines.ToLookup(p => p.TenantId, p => PipelineStatusResponse.From(p, statuses[p.Id]));
        var rows = tenants
            .Select(t =>
            {
                var own = byTenant[t.Id].ToList();
                var worst = own.Count == 0 ? (PipelineHealthState?)null : own.MinBy(r => PipelineHealthStates.Rank(r.Health))!.Health;
                return new SupportTenantResponse(t.Id, t.Slug, t.Name, worst, own.Count == 0 ? null : own.Max(r => r.LagSeconds ?? 0), Counts(own), own.Count);
            })
            .OrderBy(t => t.Worst is { } state ? PipelineHealthStates.Rank(state) : int.MaxValue)
            .ThenByDescending(t => t.MaxLagSeconds ?? 0)
            .ThenBy(t => t.Slug, StringComparer.Ordinal)
            .ToList();
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(rows);
    }

    private static async Task<Results<Ok<TenantStatusResponse>, ProblemHttpResult>> GetSupportTenantStatusAsync(
        Guid id, ControlDbContext db, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        if (!await db.Tenants.AnyAsync(t => t.Id == id, cancellationToken))
        {
            return Problems.NotFound("Tenant");
        }

        if (Reader(http) is not { } reader)
        {
            return Unavailable();
        }

        // The tenant sees in its own audit log that support staff looked (the platform filter records it on the platform's).
        audit.Record("support.read", "tenant", id, new JsonObject { ["method"] = http.Request.Method, ["path"] = http.Request.Path.Value }, tenantId: id);
        await db.SaveChangesAsync(cancellationToken);
        var pipelines = await db.Pipelines.AsNoTracking().Where(p => p.TenantId == id).OrderBy(p => p.Id).ToListAsync(cancellationToken);
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(await OverviewAsync(http, reader, pipelines, cancellationToken));
    }

    private static async Task<Results<Ok<PipelineStatusResponse>, ProblemHttpResult>> GetStatusAsync(
        Guid id, ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var pipeline = await db.Pipelines.AsNoTracking().FirstOrDefaultAsync(p => p.Id == id, cancellationToken);
        if (pipeline is null)
        {
            return Problems.NotFound("Pipeline");
        }

        if (Reader(http) is not { } reader)
        {
            return Unavailable();
        }

        var statuses = await ReadAsync(http, reader, [pipeline], cancellationToken);
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(PipelineStatusResponse.From(pipeline, statuses[pipeline.Id]));
    }

    private static async Task<Results<Ok<MetricsResponse>, ValidationProblem, ProblemHttpResult>> GetMetricsAsync(
        Guid id,
        ControlDbContext db,
        HttpContext http,
        TimeProvider time,
        [FromQuery(Name = "from")] string? from,
        [FromQuery(Name = "to")] string? to,
        [FromQuery(Name = "step")] string? step,
        CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var validator = new RequestValidator();
        var end = ParseTime(validator, "to", to) ?? now;
        var start = ParseTime(validator, "from", from) ?? end - TimeSpan.FromHours(1);
        TimeSpan? stepLength = null;
        if (step is not null)
        {
            if (!int.TryParse(step, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var seconds) || seconds < 10 || seconds % 10 != 0)
            {
                validator.Add("step", "Must be a whole number of seconds, at least 10 and a multiple of 10.");
            }
            else
            {
                stepLength = TimeSpan.FromSeconds(seconds);
            }
        }

        if (validator.IsValid && start >= end)
        {
            validator.Add("from", "Must be before to.");
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        // Without a step, the finest one that stays within the point limit.
        var chosen = stepLength ?? TimeSpan.FromSeconds(Math.Max(1, Math.Ceiling((end - start) / FineStep / MaxPoints)) * FineStep.TotalSeconds);
        if ((end - start) / chosen > MaxPoints)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["step"] = [$"The range holds more than {MaxPoints} steps of {chosen.TotalSeconds:0} s; choose a larger step or a shorter range."] });
        }

        if (!await db.Pipelines.AnyAsync(p => p.Id == id, cancellationToken))
        {
            return Problems.NotFound("Pipeline");
        }

        if (Reader(http) is not { } reader)
        {
            return Unavailable();
        }

        var series = await reader.ReadMetricsAsync(id, start, end, chosen, cancellationToken);
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(new MetricsResponse(start, end, series.StepSeconds, series.Points.Select(MetricPointResponse.From).ToList()));
    }

    private static async Task<Results<Ok<Page<PipelineEventView>>, ValidationProblem, ProblemHttpResult>> GetEventsAsync(
        Guid id,
        ControlDbContext db,
        HttpContext http,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(pageSize, pageToken, 1, out var page, out var problem))
        {
            return problem!;
        }

        long? before = null;
        if (page.After is [var cursor])
        {
            if (!long.TryParse(cursor, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var value))
            {
                return Problems.Validation(new Dictionary<string, string[]> { ["page_token"] = ["Not a page token from this list."] });
            }

            before = value;
        }

        if (!await db.Pipelines.AnyAsync(p => p.Id == id, cancellationToken))
        {
            return Problems.NotFound("Pipeline");
        }

        if (Reader(http) is not { } reader)
        {
            return Unavailable();
        }

        var events = await reader.ReadEventsAsync(id, before, page.Size + 1, cancellationToken);
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(page.ToPage(events.ToList(), e => e, e => [e.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]));
    }

    private static async Task<Results<Ok<TenantStatusResponse>, ProblemHttpResult>> GetTenantStatusAsync(
        ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        if (Reader(http) is not { } reader)
        {
            return Unavailable();
        }

        var pipelines = await db.Pipelines.AsNoTracking().OrderBy(p => p.Id).ToListAsync(cancellationToken);
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(await OverviewAsync(http, reader, pipelines, cancellationToken));
    }

    private static async Task<TenantStatusResponse> OverviewAsync(HttpContext http, IPipelineStatusReader reader, List<Pipeline> pipelines, CancellationToken cancellationToken)
    {
        var statuses = await ReadAsync(http, reader, pipelines, cancellationToken);
        var rows = pipelines
            .Select(p => PipelineStatusResponse.From(p, statuses[p.Id]))
            .OrderBy(r => PipelineHealthStates.Rank(r.Health))
            .ThenByDescending(r => r.LagSeconds ?? 0)
            .ThenBy(r => r.Name, StringComparer.Ordinal)
            .ToList();
        return new TenantStatusResponse(rows.FirstOrDefault()?.Health, Counts(rows), rows);
    }

    /// <summary>Pipelines per health state, keyed in the API's enum spelling (snake_case), every state present so a console can draw zeros.</summary>
    private static Dictionary<string, int> Counts(IReadOnlyCollection<PipelineStatusResponse> rows) =>
        Enum.GetValues<PipelineHealthState>().ToDictionary(
            ApiJson.EnumValue, s => rows.Count(r => r.Health == s), StringComparer.Ordinal);

    private static async Task<IReadOnlyDictionary<Guid, PipelineStatusView>> ReadAsync(
        HttpContext http, IPipelineStatusReader reader, IReadOnlyList<Pipeline> pipelines, CancellationToken cancellationToken)
    {
        // Where each pipeline runs, as its runtime shows it (null when this process cannot read placements: placed nowhere).
        var runtimeOf = await PipelineRuntimes.ReadAsync(http, pipelines, cancellationToken);
        var queries = pipelines.Select(p => PipelineStatusQueries.For(p, runtimeOf?.Invoke(p))).ToList();
        return await reader.ReadAsync(queries, cancellationToken);
    }

    private static DateTimeOffset? ParseTime(RequestValidator validator, string field, string? text)
    {
        if (text is null)
        {
            return null;
        }

        if (DateTimeOffset.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var value))
        {
            return value.ToUniversalTime();
        }

        validator.Add(field, "Must be an RFC 3339 time, e.g. 2026-12-04T10:00:00Z.");
        return null;
    }

    private static IPipelineStatusReader? Reader(HttpContext http) => http.RequestServices.GetService<IPipelineStatusReader>();

    private static ProblemHttpResult Unavailable() =>
        TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Status unavailable", detail: "This control plane runs no status module.");
}

/// <summary>A pipeline's status as the API shows it.</summary>
internal sealed record PipelineStatusResponse(
    Guid PipelineId,
    string Name,
    PipelineHealthState Health,
    IReadOnlyList<HealthReason> Reasons,
    IReadOnlyList<TableSnapshotProgress> Snapshot,
    double? LagSeconds,
    long? LagBytes,
    double? RowsPerSecond,
    double? BytesPerSecond,
    double? ReadRowsPerSecond,
    double? ReadBytesPerSecond,
    DateTimeOffset? LastDeliveryAt,
    long? SourceHeadPosition,
    long? CommittedPosition,
    long? RetainedWalBytes,
    long? Retries,
    long? Errors,
    IReadOnlyDictionary<string, TableProgressReport>? Tables,
    Guid? WorkerId,
    long? Epoch,
    DateTimeOffset? ReportedAt,
    DateTimeOffset? ReceivedAt,
    DateTimeOffset? LastProgressAt)
{
    public static PipelineStatusResponse From(Pipeline pipeline, PipelineStatusView view)
    {
        var report = view.Report;
        return new(
            pipeline.Id,
            pipeline.Name,
            view.Health.State,
            view.Health.Reasons,
            view.Health.Snapshot,
            report?.LagSeconds,
            report?.LagBytes,
            report?.RowsPerSecond,
            report?.BytesPerSecond,
            report?.ReadRowsPerSecond,
            report?.ReadBytesPerSecond,
            report?.LastDeliveryAt,
            report?.SourceHeadPosition,
            report?.CommittedPosition,
            report?.RetainedWalBytes,
            report?.Retries,
            report?.Errors,
            report?.Tables,
            view.WorkerId,
            report?.Epoch,
            report?.ReportedAt,
            view.ReceivedAt,
            view.LastProgressAt);
    }
}

/// <summary>A series read.</summary>
internal sealed record MetricsResponse(DateTimeOffset From, DateTimeOffset To, int StepSeconds, IReadOnlyList<MetricPointResponse> Points);

/// <summary>One step of a series.</summary>
internal sealed record MetricPointResponse(
    DateTimeOffset At, double LagSeconds, double LagSecondsMax, long? LagBytes, double RowsPerSecond, double BytesPerSecond, long Errors)
{
    public static MetricPointResponse From(PipelineMetricPoint point) =>
        new(point.At, point.LagSeconds, point.LagSecondsMax, point.LagBytes, point.RowsPerSecond, point.BytesPerSecond, point.Errors);
}

/// <summary>One tenant in support staff's list.</summary>
internal sealed record SupportTenantResponse(
    Guid TenantId, string Slug, string Name, PipelineHealthState? Worst, double? MaxLagSeconds, IReadOnlyDictionary<string, int> Counts, int Pipelines);

/// <summary>A tenant's overview.</summary>
internal sealed record TenantStatusResponse(
    PipelineHealthState? Worst, IReadOnlyDictionary<string, int> Counts, IReadOnlyList<PipelineStatusResponse> Pipelines);
