using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Audit;
using Freshet.ControlPlane.Api.Common;
using Freshet.ControlPlane.Api.Data;
using Freshet.ControlPlane.Api.Tenancy;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Workers;

/// <summary>The worker pool as platform staff see and steer it: support reads, platform admins drain and move.</summary>
internal static class WorkersApi
{
    public static RouteGroupBuilder MapWorkersApi(this RouteGroupBuilder platform)
    {
        var group = platform.MapGroup("/workers").WithTags("Workers (platform)")
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        group.MapGet("/", ListAsync).PlatformReads().WithSummary("Lists the workers of the pool with their leases and load (platform staff).");
        group.MapGet("/{id:guid}", GetAsync).PlatformReads().WithSummary("Reads a worker (platform staff).");
        group.MapPost("/{id:guid}/drain", DrainAsync).PlatformWrites()
            .WithSummary("Asks a worker to hand its pipelines back and exit; the scheduler places them elsewhere (platform admin).");
        group.MapPost("/move", MoveAsync).PlatformWrites()
            .WithSummary("Asks the scheduler to move a running pipeline to a worker, or to the best other one when to_worker_id is null (platform admin). "
                + "409 when the pipeline runs nowhere or the worker cannot take it; 404 when the pipeline or worker does not exist.");
        return group;
    }

    private static async Task<Results<Ok<Page<WorkerInfo>>, ValidationProblem, ProblemHttpResult>> ListAsync(
        HttpContext http, [FromQuery(Name = "page_size")] int? pageSize, [FromQuery(Name = "page_token")] string? pageToken, CancellationToken cancellationToken)
    {
        if (Pool(http) is not { } pool)
        {
            return WorkerProblems.NoScheduler();
        }

        if (!IdPaging.TryCreate(pageSize, pageToken, out var page, out var problem))
        {
            return problem;
        }

        // The pool is a few hundred workers at most: page in memory, by id like every other list.
        var workers = (await pool.ListWorkersAsync(cancellationToken)).OrderBy(w => w.Id).ToList();
        if (page.AfterId is { } after)
        {
            workers = workers.Where(w => w.Id.CompareTo(after) > 0).ToList();
        }

        return TypedResults.Ok(page.ToPage(workers.Take(page.Size + 1).ToList(), w => w, w => [w.Id.ToString()]));
    }

    private static async Task<Results<Ok<WorkerInfo>, ProblemHttpResult>> GetAsync(Guid id, HttpContext http, CancellationToken cancellationToken)
    {
        if (Pool(http) is not { } pool)
        {
            return WorkerProblems.NoScheduler();
        }

        return await pool.GetWorkerAsync(id, cancellationToken) is { } worker ? TypedResults.Ok(worker) : WorkerNotFound();
    }

    private static async Task<Results<Accepted<WorkerInfo>, ProblemHttpResult>> DrainAsync(Guid id, HttpContext http, AuditLog audit, CancellationToken cancellationToken)
    {
        if (Pool(http) is not { } pool)
        {
            return WorkerProblems.NoScheduler();
        }

        if (!await pool.RequestDrainAsync(id, cancellationToken) || await pool.GetWorkerAsync(id, cancellationToken) is not { } worker)
        {
            return WorkerNotFound();
        }

        await audit.RecordNowAsync("worker.drain_requested", "worker", id, new JsonObject { ["name"] = worker.Name }, cancellationToken);
        return TypedResults.Accepted($"/v1/workers/{id}", worker);
    }

    private static async Task<Results<Accepted<MovePipelineResponse>, ValidationProblem, ProblemHttpResult>> MoveAsync(
        MovePipelineRequest? request, HttpContext http, ControlDbContext db, AuditLog audit, CancellationToken cancellationToken)
    {
        if (Pool(http) is not { } pool)
        {
            return WorkerProblems.NoScheduler();
        }

        var validator = new RequestValidator();
        if (request is null)
        {
            validator.Add("$", "A JSON body is required.");
        }
        else if (request.PipelineId is null || request.PipelineId == Guid.Empty)
        {
            validator.Add("pipeline_id", "This field is required.");
        }

        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        // Platform scope (set by the access filter): the pipeline of any tenant.
        var pipelineId = request!.PipelineId!.Value;
        var pipeline = await db.Pipelines.AsNoTracking().Where(p => p.Id == pipelineId).Select(p => new { p.Id, p.TenantId, p.Name }).FirstOrDefaultAsync(cancellationToken);
        if (pipeline is null)
        {
            return TypedResults.Problem(title: "Pipeline not found", detail: "No pipeline with this id exists.", statusCode: StatusCodes.Status404NotFound);
        }

        var outcome = await pool.RequestMoveAsync(pipelineId, request.ToWorkerId, cancellationToken);
        switch (outcome)
        {
            case MoveRequestOutcome.Requested:
                // Written to the pipeline's tenant's log too: its owners see that platform staff moved it.
                audit.Record("pipeline.move_requested", "pipeline", pipelineId, new JsonObject { ["name"] = pipeline.Name, ["to_worker_id"] = request.ToWorkerId?.ToString() }, tenantId: pipeline.TenantId);
                await db.SaveChangesAsync(cancellationToken);
                return TypedResults.Accepted("/v1/workers", new MovePipelineResponse(pipelineId, request.ToWorkerId, "requested"));
            case MoveRequestOutcome.NotPlaced:
                return Problems.Conflict("The pipeline runs on no worker now (paused, or waiting for capacity): there is nothing to move.");
            case MoveRequestOutcome.WorkerNotFound:
                return WorkerNotFound();
            case MoveRequestOutcome.WorkerNotEligible:
                return Problems.Conflict("That worker cannot take the pipeline: its lease expired, it is draining, or it runs the pipeline already.");
            default:
                throw new InvalidOperationException($"Unknown move outcome {outcome}.");
        }
    }

    private static IWorkerPool? Pool(HttpContext http) => http.RequestServices.GetService<IWorkerPool>();

    private static ProblemHttpResult WorkerNotFound() =>
        TypedResults.Problem(title: "Worker not found", detail: "No worker with this id is registered.", statusCode: StatusCodes.Status404NotFound);
}
