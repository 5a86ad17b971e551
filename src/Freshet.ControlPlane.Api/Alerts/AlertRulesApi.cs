using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Secrets;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Alerts;

internal sealed record CreateAlertRuleRequest(
    string? Name,
    AlertCondition? Condition,
    double? Threshold,
    List<PipelineHealthState>? States,
    int? ForSeconds,
    int? QuietPeriodSeconds,
    Guid? PipelineId,
    string? WebhookUrl,
    bool? Enabled);

/// <summary>Absent fields stay as they are; <c>all_pipelines: true</c> widens a rule watching one pipeline to all of them.</summary>
internal sealed record UpdateAlertRuleRequest(
    string? Name,
    double? Threshold,
    List<PipelineHealthState>? States,
    int? ForSeconds,
    int? QuietPeriodSeconds,
    Guid? PipelineId,
    bool? AllPipelines,
    string? WebhookUrl,
    bool? Enabled);

internal sealed record AlertRuleResponse(
    Guid Id,
    string Name,
    AlertCondition Condition,
    double? Threshold,
    IReadOnlyList<PipelineHealthState> States,
    int ForSeconds,
    int QuietPeriodSeconds,
    Guid? PipelineId,
    string WebhookUrl,
    bool Enabled,
    DateTimeOffset CreatedAt,
    string CreatedBy,
    DateTimeOffset UpdatedAt,
    DateTimeOffset SecretRotatedAt)
{
    public static AlertRuleResponse From(AlertRule r) =>
        new(r.Id, r.Name, r.Condition, r.Threshold, r.States, r.ForSeconds, r.QuietPeriodSeconds, r.PipelineId, r.WebhookUrl, r.Enabled, r.CreatedAt, r.CreatedBy, r.UpdatedAt, r.SecretRotatedAt);
}

/// <summary>The only responses that carry a rule's signing secret (create, rotate): store it now, it is not shown again.</summary>
internal sealed record AlertRuleWithSecretResponse(AlertRuleResponse Rule, string SigningSecret);

/// <summary>
/// Alert rules (<c>/v1/alert-rules</c>) and the tenant's alert history (<c>/v1/alerts</c>). Rules live here, behind the
/// tenant wall; the status module evaluates them and keeps the history (<see cref="IAlertHistory"/>).
/// </summary>
internal static class AlertRulesApi
{
    public const int MaxUrlLength = 2_000;
    public const int MaxRulesPerTenant = 100;
    public const int MaxForSeconds = 86_400;
    public const int DefaultQuietPeriodSeconds = 900;

    // Lag beyond a week or retention beyond a petabyte is no threshold anyone means.
    private const double MaxLagThresholdSeconds = 7 * 86_400;
    private const double MaxWalThresholdBytes = 1e15;
    private static readonly PipelineHealthState[] DefaultStates = [PipelineHealthState.Failing, PipelineHealthState.Stale];

    public static RouteGroupBuilder MapAlertRulesApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/alert-rules").WithTags("Alerts");
        group.MapGet("/", ListAsync).Reads().WithSummary("Lists alert rules (never their signing secrets).");
        group.MapPost("/", CreateAsync).Writes(TenantRole.Editor).WithSummary("Creates an alert rule; its signing secret is in this response only.")
            .WithDescription("condition: lag_above (threshold in seconds), health_state (states, default failing and stale), retained_wal_above (threshold in bytes), table_quarantined. The condition must hold for for_seconds before the alert fires; after a firing notice, further firings of the same rule and pipeline stay silent for quiet_period_seconds (default 900). Notices are POSTed to webhook_url, signed as Standard Webhooks specifies (webhook-id, webhook-timestamp, webhook-signature: v1,base64(HMAC-SHA256(secret, id.timestamp.body))).");
        group.MapGet("/{id:guid}", GetAsync).Reads().WithSummary("Reads an alert rule.");
        group.MapPatch("/{id:guid}", UpdateAsync).Writes(TenantRole.Editor).WithSummary("Changes an alert rule; honours If-Match.");
        group.MapDelete("/{id:guid}", DeleteAsync).Writes(TenantRole.Editor).WithSummary("Deletes an alert rule; its open alerts close without a notice, its history stays.");
        group.MapPost("/{id:guid}/rotate-secret", RotateAsync).Writes(TenantRole.Editor).WithSummary("Replaces the signing secret; notices from now on are signed with the new one.");
        group.MapPost("/{id:guid}/test", TestAsync).Writes(TenantRole.Editor).WithSummary("Posts a sample notice (type alert.test) once, now, and answers how it went.");
        group.MapGet("/{id:guid}/deliveries", DeliveriesAsync).Reads().WithSummary("The rule's notices with every delivery attempt, newest first.");
        v1.MapGet("/alerts", AlertsAsync).Reads().WithTags("Alerts")
            .WithSummary("The tenant's alerts (a rule's condition holding on a pipeline, until it cleared), newest first; filter by rule_id, pipeline_id, state=open|resolved.");
        return group;
    }

    private static async Task<Results<Ok<Page<AlertRuleResponse>>, ValidationProblem>> ListAsync(
        ControlDbContext db, [FromQuery(Name = "page_size")] int? pageSize, [FromQuery(Name = "page_token")] string? pageToken, CancellationToken cancellationToken)
    {
        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        return TypedResults.Ok(await page.ListAsync(db.AlertRules.AsNoTracking(), r => r.Id, AlertRuleResponse.From, cancellationToken));
    }

    private static async Task<Results<Ok<AlertRuleResponse>, ProblemHttpResult>> GetAsync(Guid id, ControlDbContext db, HttpContext http, CancellationToken cancellationToken)
    {
        var rule = await db.AlertRules.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (rule is null)
        {
            return Problems.NotFound("Alert rule");
        }

        ETags.Set(http, rule);
        return TypedResults.Ok(AlertRuleResponse.From(rule));
    }

    private static async Task<Results<Created<AlertRuleWithSecretResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        CreateAlertRuleRequest? request, ControlDbContext db, TenantContext tenant, SecretBox box, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["$"] = ["A JSON body is required."] });
        }

        var validator = new RequestValidator();
        validator.Name("name", request.Name);
        validator.Required("condition", request.Condition);
        validator.Required("webhook_url", request.WebhookUrl);
        ValidateUrl(validator, request.WebhookUrl);
        validator.Range("for_seconds", request.ForSeconds, 0, MaxForSeconds);
        validator.Range("quiet_period_seconds", request.QuietPeriodSeconds, 0, MaxForSeconds);
        var states = request.Condition is { } condition ? ValidateCondition(validator, condition, request.Threshold, request.States) : [];
        await ValidatePipelineAsync(validator, db, request.PipelineId, cancellationToken);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var name = request.Name!.Trim();
        if (await db.AlertRules.AnyAsync(r => r.Name == name, cancellationToken))
        {
            return Problems.Conflict($"An alert rule named \"{name}\" already exists.");
        }

        if (await db.AlertRules.CountAsync(cancellationToken) >= MaxRulesPerTenant)
        {
            return Problems.Conflict($"A tenant may have at most {MaxRulesPerTenant} alert rules; delete one first (a rule watches every pipeline when it names none).");
        }

        var now = clock.GetUtcNow();
        var secret = NewSecret();
        var rule = new AlertRule
        {
            Id = Guid.CreateVersion7(now),
            TenantId = tenant.RequireTenantId(),
            Name = name,
            Condition = request.Condition!.Value,
            Threshold = request.Threshold,
            States = states,
            ForSeconds = request.ForSeconds ?? 0,
            QuietPeriodSeconds = request.QuietPeriodSeconds ?? DefaultQuietPeriodSeconds,
            PipelineId = request.PipelineId,
            WebhookUrl = request.WebhookUrl!.Trim(),
            EncryptedSigningSecret = box.Seal(Encoding.UTF8.GetBytes(secret)),
            Enabled = request.Enabled ?? true,
            CreatedAt = now,
            CreatedBy = tenant.Actor.Display,
            UpdatedAt = now,
            SecretRotatedAt = now,
            Version = 1,
        };
        db.AlertRules.Add(rule);
        audit.Record("alert_rule.created", "alert_rule", rule.Id, new JsonObject { ["name"] = rule.Name, ["condition"] = ApiJson.EnumValue(rule.Condition) });
        await db.SaveChangesAsync(cancellationToken);
        ETags.Set(http, rule);
        return TypedResults.Created($"/v1/alert-rules/{rule.Id}", new AlertRuleWithSecretResponse(AlertRuleResponse.From(rule), secret));
    }

    private static async Task<Results<Ok<AlertRuleResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        Guid id, UpdateAlertRuleRequest? request, ControlDbContext db, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        if (request is null)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["$"] = ["A JSON body is required."] });
        }

        var rule = await db.AlertRules.FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (rule is null)
        {
            return Problems.NotFound("Alert rule");
        }

        if (ETags.CheckIfMatch(http, rule) is { } precondition)
        {
            return precondition;
        }

        var validator = new RequestValidator();
        validator.Name("name", request.Name, required: false);
        ValidateUrl(validator, request.WebhookUrl);
        validator.Range("for_seconds", request.ForSeconds, 0, MaxForSeconds);
        validator.Range("quiet_period_seconds", request.QuietPeriodSeconds, 0, MaxForSeconds);
        if (request.AllPipelines == true && request.PipelineId is not null)
        {
            validator.Add("all_pipelines", "Give either pipeline_id or all_pipelines, not both.");
        }

        var states = ValidateCondition(validator, rule.Condition, request.Threshold ?? rule.Threshold, request.States ?? (rule.States.Count > 0 ? rule.States : null));
        await ValidatePipelineAsync(validator, db, request.PipelineId, cancellationToken);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var changed = new JsonArray();
        if (request.Name is { } newName && newName.Trim() != rule.Name)
        {
            newName = newName.Trim();
            if (await db.AlertRules.AnyAsync(r => r.Name == newName && r.Id != id, cancellationToken))
            {
                return Problems.Conflict($"An alert rule named \"{newName}\" already exists.");
            }

            rule.Name = newName;
            changed.Add("name");
        }

        void Change<T>(string field, T current, T? proposed, Action<T> set)
            where T : struct
        {
            if (proposed is { } value && !EqualityComparer<T>.Default.Equals(value, current))
            {
                set(value);
                changed.Add(field);
            }
        }

        Change("threshold", rule.Threshold ?? 0, request.Threshold, v => rule.Threshold = v);
        Change("for_seconds", rule.ForSeconds, request.ForSeconds, v => rule.ForSeconds = v);
        Change("quiet_period_seconds", rule.QuietPeriodSeconds, request.QuietPeriodSeconds, v => rule.QuietPeriodSeconds = v);
        Change("enabled", rule.Enabled, request.Enabled, v => rule.Enabled = v);
        if (!states.SequenceEqual(rule.States))
        {
            rule.States = states;
            changed.Add("states");
        }

        if ((request.PipelineId is { } pipelineId && pipelineId != rule.PipelineId) || (request.AllPipelines == true && rule.PipelineId is not null))
        {
            rule.PipelineId = request.PipelineId;
            changed.Add("pipeline_id");
        }

        if (request.WebhookUrl is { } url && url.Trim() != rule.WebhookUrl)
        {
            rule.WebhookUrl = url.Trim();
            changed.Add("webhook_url");
        }

        if (changed.Count > 0)
        {
            rule.UpdatedAt = clock.GetUtcNow();
            rule.Version++;
            audit.Record("alert_rule.updated", "alert_rule", rule.Id, new JsonObject { ["changed"] = changed });
            await db.SaveChangesAsync(cancellationToken);
        }

        ETags.Set(http, rule);
        return TypedResults.Ok(AlertRuleResponse.From(rule));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(Guid id, ControlDbContext db, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        var rule = await db.AlertRules.FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (rule is null)
        {
            return Problems.NotFound("Alert rule");
        }

        if (ETags.CheckIfMatch(http, rule) is { } precondition)
        {
            return precondition;
        }

        db.AlertRules.Remove(rule);
        audit.Record("alert_rule.deleted", "alert_rule", rule.Id, new JsonObject { ["name"] = rule.Name });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<AlertRuleWithSecretResponse>, ProblemHttpResult>> RotateAsync(
        Guid id, ControlDbContext db, SecretBox box, AuditLog audit, TimeProvider clock, HttpContext http, CancellationToken cancellationToken)
    {
        var rule = await db.AlertRules.FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (rule is null)
        {
            return Problems.NotFound("Alert rule");
        }

        if (ETags.CheckIfMatch(http, rule) is { } precondition)
        {
            return precondition;
        }

        var secret = NewSecret();
        rule.EncryptedSigningSecret = box.Seal(Encoding.UTF8.GetBytes(secret));
        rule.SecretRotatedAt = rule.UpdatedAt = clock.GetUtcNow();
        rule.Version++;
        audit.Record("alert_rule.secret_rotated", "alert_rule", rule.Id, new JsonObject { ["name"] = rule.Name });
        await db.SaveChangesAsync(cancellationToken);
        ETags.Set(http, rule);
        return TypedResults.Ok(new AlertRuleWithSecretResponse(AlertRuleResponse.From(rule), secret));
    }

    private static async Task<Results<Ok<AlertDeliveryView>, ProblemHttpResult>> TestAsync(
        Guid id, ControlDbContext db, SecretBox box, AuditLog audit, HttpContext http, CancellationToken cancellationToken)
    {
        var rule = await db.AlertRules.AsNoTracking().FirstOrDefaultAsync(r => r.Id == id, cancellationToken);
        if (rule is null)
        {
            return Problems.NotFound("Alert rule");
        }

        if (History(http) is not { } history)
        {
            return Unavailable();
        }

        var delivery = await history.SendTestAsync(AlertRuleCatalog.Definition(rule, box), cancellationToken);
        audit.Record("alert_rule.test_sent", "alert_rule", rule.Id, new JsonObject { ["name"] = rule.Name, ["delivered"] = delivery.State == "delivered" });
        await db.SaveChangesAsync(cancellationToken);
        return TypedResults.Ok(delivery);
    }

    private static async Task<Results<Ok<Page<AlertDeliveryView>>, ValidationProblem, ProblemHttpResult>> DeliveriesAsync(
        Guid id,
        ControlDbContext db,
        TenantContext tenant,
        HttpContext http,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(pageSize, pageToken, 1, out var page, out var problem))
        {
            return problem!;
        }

        if (page.HasInvalidAfterId)
        {
            return Problems.Validation(new Dictionary<string, string[]> { ["page_token"] = ["Not a page token from this list."] });
        }

        if (!await db.AlertRules.AnyAsync(r => r.Id == id, cancellationToken))
        {
            return Problems.NotFound("Alert rule");
        }

        if (History(http) is not { } history)
        {
            return Unavailable();
        }

        var deliveries = await history.ReadDeliveriesAsync(tenant.RequireTenantId(), id, page.AfterId, page.Size + 1, cancellationToken);
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(page.ToPage(deliveries.ToList(), d => d, d => [d.Id.ToString()]));
    }

    private static async Task<Results<Ok<Page<AlertIncidentView>>, ValidationProblem, ProblemHttpResult>> AlertsAsync(
        TenantContext tenant,
        HttpContext http,
        [FromQuery(Name = "rule_id")] Guid? ruleId,
        [FromQuery(Name = "pipeline_id")] Guid? pipelineId,
        [FromQuery(Name = "state")] string? state,
        [FromQuery(Name = "page_size")] int? pageSize,
        [FromQuery(Name = "page_token")] string? pageToken,
        CancellationToken cancellationToken)
    {
        if (!PageRequest.TryCreate(pageSize, pageToken, 1, out var page, out var problem))
        {
            return problem!;
        }

        var validator = new RequestValidator();
        long? before = null;
        if (page.After is [var cursor])
        {
            if (long.TryParse(cursor, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                before = value;
            }
            else
            {
                validator.Add("page_token", "Not a page token from this list.");
            }
        }

        bool? open = state switch
        {
            null => null,
            "open" => true,
            "resolved" => false,
            _ => null,
        };
        if (state is not (null or "open" or "resolved"))
        {
            validator.Add("state", "Allowed values: open, resolved.");
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        if (History(http) is not { } history)
        {
            return Unavailable();
        }

        // The status module's history is keyed by tenant: the caller's own, so ids of other tenants' rules find nothing.
        var incidents = await history.ReadIncidentsAsync(tenant.RequireTenantId(), ruleId, pipelineId, open, before, page.Size + 1, cancellationToken);
        ConditionalGetFilter.MarkVolatile(http);
        return TypedResults.Ok(page.ToPage(incidents.ToList(), i => i, i => [i.Id.ToString(CultureInfo.InvariantCulture)]));
    }

    private static List<PipelineHealthState> ValidateCondition(RequestValidator validator, AlertCondition condition, double? threshold, List<PipelineHealthState>? states)
    {
        switch (condition)
        {
            case AlertCondition.LagAbove:
                RequireThreshold(validator, threshold, MaxLagThresholdSeconds, "seconds");
                break;
            case AlertCondition.RetainedWalAbove:
                RequireThreshold(validator, threshold, MaxWalThresholdBytes, "bytes");
                break;
            default:
                if (threshold is not null)
                {
                    validator.Add("threshold", $"A {ApiJson.EnumValue(condition)} rule takes no threshold.");
                }

                break;
        }

        if (condition != AlertCondition.HealthState)
        {
            if (states is { Count: > 0 })
            {
                validator.Add("states", "Only a health_state rule takes states.");
            }

            return [];
        }

        if (states is { Count: 0 })
        {
            validator.Add("states", "Name at least one state, e.g. [\"failing\", \"stale\"].");
        }

        return (states ?? [.. DefaultStates]).Distinct().ToList();
    }

    private static void RequireThreshold(RequestValidator validator, double? threshold, double max, string unit)
    {
        if (threshold is not { } value)
        {
            validator.Add("threshold", $"This condition needs a threshold, in {unit}.");
        }
        else if (!double.IsFinite(value) || value <= 0 || value > max)
        {
            validator.Add("threshold", string.Create(CultureInfo.InvariantCulture, $"Must be above 0 and at most {max:0} {unit}."));
        }
    }

    private static void ValidateUrl(RequestValidator validator, string? url)
    {
        if (url is null)
        {
            return;
        }

        url = url.Trim();
        if (url.Length > MaxUrlLength)
        {
            validator.Add("webhook_url", $"Must be at most {MaxUrlLength} characters.");
        }
        else if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || string.IsNullOrEmpty(uri.Host))
        {
            validator.Add("webhook_url", "Must be an absolute https:// (or http://) URL.");
        }
        else if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            validator.Add("webhook_url", "Must not carry a user name or password; every notice is signed with the rule's secret instead.");
        }
        else if (!string.IsNullOrEmpty(uri.Fragment))
        {
            validator.Add("webhook_url", "Must not have a #fragment.");
        }
    }

    private static async Task ValidatePipelineAsync(RequestValidator validator, ControlDbContext db, Guid? pipelineId, CancellationToken cancellationToken)
    {
        if (pipelineId is { } id && !await db.Pipelines.AnyAsync(p => p.Id == id, cancellationToken))
        {
            validator.Add("pipeline_id", "No such pipeline in this tenant.");
        }
    }

    /// <summary>32 random bytes as Standard Webhooks writes secrets: <c>whsec_</c> + base64.</summary>
    private static string NewSecret() => AlertSigningSecrets.Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));

    private static IAlertHistory? History(HttpContext http) => http.RequestServices.GetService<IAlertHistory>();

    private static ProblemHttpResult Unavailable() =>
        TypedResults.Problem(statusCode: StatusCodes.Status503ServiceUnavailable, title: "Alerts unavailable", detail: "This control plane runs no status module.");
}
