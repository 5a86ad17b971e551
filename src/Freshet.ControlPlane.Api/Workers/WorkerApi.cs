using Freshet.Contracts;
using Freshet.ControlPlane.Api.Common;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Workers;

/// <summary>
/// The worker protocol over HTTPS (<see cref="IWorkerControl"/>): what data-plane workers of the pool call. Not part
/// of the public API document. Bodies are never logged (specs carry secrets).
/// </summary>
internal static class WorkerApi
{
    public static RouteGroupBuilder MapWorkerApi(this RouteGroupBuilder v1)
    {
        var group = v1.MapGroup("/worker").AddEndpointFilter<WorkerAccessFilter>().WithMetadata(new WorkerAccess()).ExcludeFromDescription();
        group.MapPost("/register", RegisterAsync);
        group.MapPost("/heartbeat", HeartbeatAsync);
        group.MapGet("/{workerId:guid}/assignments", AssignmentsAsync);
        group.MapGet("/{workerId:guid}/pipelines/{pipelineId:guid}/spec", SpecAsync);
        group.MapPost("/{workerId:guid}/pipelines/{pipelineId:guid}/release", ReleaseAsync);
        group.MapPost("/{workerId:guid}/pipelines/{pipelineId:guid}/dropped", DroppedAsync);
        return group;
    }

    private static async Task<Results<Ok<WorkerLeaseGrant>, ValidationProblem>> RegisterAsync(WorkerRegistrationInput? request, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        var registration = WorkerValidation.Registration(request, validator);
        if (registration is null)
        {
            return Problems.Validation(validator.Errors);
        }

        return TypedResults.Ok(await Control(http).RegisterAsync(registration, cancellationToken));
    }

    private static async Task<Results<Ok<WorkerLeaseGrant>, ValidationProblem>> HeartbeatAsync(WorkerHeartbeatInput? request, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        var heartbeat = WorkerValidation.Heartbeat(request, validator);
        if (heartbeat is null)
        {
            return Problems.Validation(validator.Errors);
        }

        return TypedResults.Ok(await Control(http).HeartbeatAsync(heartbeat, cancellationToken));
    }

    private static async Task<Ok<WorkerAssignments>> AssignmentsAsync(Guid workerId, HttpContext http, CancellationToken cancellationToken) =>
        TypedResults.Ok(await Control(http).GetAssignmentsAsync(workerId, cancellationToken));

    private static async Task<Results<Ok<PipelineSpec>, ValidationProblem, ProblemHttpResult>> SpecAsync(
        Guid workerId, Guid pipelineId, [FromQuery(Name = "epoch")] long? epoch, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        WorkerValidation.Epoch(validator, epoch);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        var spec = await Control(http).GetSpecAsync(workerId, pipelineId, epoch!.Value, cancellationToken);
        return spec is null
            ? TypedResults.Problem(
                title: "Not placed here",
                detail: "This pipeline is not placed on this worker under this epoch (any more): read the assignments again.",
                statusCode: StatusCodes.Status404NotFound)
            : TypedResults.Ok(spec);
    }

    private static async Task<Results<NoContent, ValidationProblem>> ReleaseAsync(
        Guid workerId, Guid pipelineId, [FromQuery(Name = "epoch")] long? epoch, HttpContext http, CancellationToken cancellationToken)
    {
        var validator = new RequestValidator();
        WorkerValidation.Epoch(validator, epoch);
        if (!validator.IsValid)
        {
            return Problems.Validation(validator.Errors);
        }

        await Control(http).ReleaseAsync(workerId, pipelineId, epoch!.Value, cancellationToken);
        return TypedResults.NoContent();
    }

    private static async Task<NoContent> DroppedAsync(Guid workerId, Guid pipelineId, HttpContext http, CancellationToken cancellationToken)
    {
        await Control(http).ConfirmDroppedAsync(workerId, pipelineId, cancellationToken);
        return TypedResults.NoContent();
    }

    // The filter has answered 503 already when no scheduler is registered.
    private static IWorkerControl Control(HttpContext http) => http.RequestServices.GetRequiredService<IWorkerControl>();
}
