using Freshet.Contracts;
using Freshet.ControlPlane.Api.Common;

namespace Freshet.ControlPlane.Api.Workers;

/// <summary>
/// <see cref="WorkerRegistration"/> as it arrives: the same JSON, every field nullable so that a missing one is
/// reported by name instead of becoming a default.
/// </summary>
internal sealed record WorkerRegistrationInput(Guid? WorkerId, string? Name, string? Zone, Dictionary<string, string?>? Labels, int? Capacity, string? Version);

/// <summary><see cref="WorkerHeartbeat"/> as it arrives.</summary>
internal sealed record WorkerHeartbeatInput(Guid? WorkerId, bool? Draining, List<RunningPipelineInput?>? Pipelines);

/// <summary><see cref="RunningPipeline"/> as it arrives.</summary>
internal sealed record RunningPipelineInput(Guid? PipelineId, long? Epoch, long? Generation, PipelineProgressReport? Progress);

/// <summary>Asks the scheduler to move a pipeline; <c>to_worker_id</c> null lets it pick the best other worker.</summary>
internal sealed record MovePipelineRequest(Guid? PipelineId, Guid? ToWorkerId);

internal sealed record MovePipelineResponse(Guid PipelineId, Guid? ToWorkerId, string Status);

/// <summary>Validation of what workers send, with the API's usual per-field problem bodies.</summary>
internal static class WorkerValidation
{
    public const int MaxCapacity = 1000;
    public const int MaxLabels = 50;
    public const int MaxPipelines = 1000;
    private const int MaxLabelKeyLength = 63;
    private const int MaxShortTextLength = 200;

    public static WorkerRegistration? Registration(WorkerRegistrationInput? input, RequestValidator validator)
    {
        if (input is null)
        {
            validator.Add("$", "A JSON body is required.");
            return null;
        }

        WorkerId(validator, "worker_id", input.WorkerId);
        validator.Name("name", input.Name);
        validator.Name("zone", input.Zone, MaxShortTextLength, required: false);
        validator.Name("version", input.Version, MaxShortTextLength);
        if (validator.Required("capacity", input.Capacity))
        {
            validator.Range("capacity", input.Capacity, 1, MaxCapacity);
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (input.Labels is { } given)
        {
            if (given.Count > MaxLabels)
            {
                validator.Add("labels", $"At most {MaxLabels} labels (got {given.Count}).");
            }

            foreach (var (key, value) in given)
            {
                if (key.Length is 0 or > MaxLabelKeyLength || key.Any(char.IsControl))
                {
                    validator.Add("labels", $"Label names have 1 to {MaxLabelKeyLength} characters and no control characters.");
                }
                else if (value is null || value.Length > MaxShortTextLength || value.Any(char.IsControl))
                {
                    validator.Add($"labels.{key}", $"A label's value is a string of at most {MaxShortTextLength} characters without control characters.");
                }
                else
                {
                    labels[key] = value;
                }
            }
        }

        return validator.IsValid
            ? new WorkerRegistration(input.WorkerId!.Value, input.Name!.Trim(), string.IsNullOrWhiteSpace(input.Zone) ? null : input.Zone.Trim(), labels, input.Capacity!.Value, input.Version!.Trim())
            : null;
    }

    public static WorkerHeartbeat? Heartbeat(WorkerHeartbeatInput? input, RequestValidator validator)
    {
        if (input is null)
        {
            validator.Add("$", "A JSON body is required.");
            return null;
        }

        WorkerId(validator, "worker_id", input.WorkerId);
        if (input.Pipelines is null)
        {
            validator.Add("pipelines", "This field is required (an empty array when the worker runs nothing).");
        }
        else if (input.Pipelines.Count > MaxPipelines)
        {
            validator.Add("pipelines", $"At most {MaxPipelines} pipelines (got {input.Pipelines.Count}).");
        }
        else
        {
            for (var i = 0; i < input.Pipelines.Count; i++)
            {
                var field = $"pipelines[{i}]";
                if (input.Pipelines[i] is not { } pipeline)
                {
                    validator.Add(field, "Must be an object.");
                    continue;
                }

                if (pipeline.PipelineId is null || pipeline.PipelineId == Guid.Empty)
                {
                    validator.Add($"{field}.pipeline_id", "This field is required.");
                }

                Positive(validator, $"{field}.epoch", pipeline.Epoch);
                Positive(validator, $"{field}.generation", pipeline.Generation);
                if (pipeline.Progress is { } progress && (progress.PipelineId != pipeline.PipelineId || progress.Epoch != pipeline.Epoch))
                {
                    validator.Add($"{field}.progress", "A progress report names the pipeline and epoch it sits under.");
                }
            }
        }

        if (!validator.IsValid)
        {
            return null;
        }

        var running = input.Pipelines!.Select(p => new RunningPipeline(
            p!.PipelineId!.Value,
            p.Epoch!.Value,
            p.Generation!.Value,
            // A report without its table map is still a report; the scheduler should not meet a null there.
            p.Progress is { Tables: null } progress ? progress with { Tables = new Dictionary<string, TableProgressReport>(StringComparer.Ordinal) } : p.Progress)).ToList();
        return new WorkerHeartbeat(input.WorkerId!.Value, input.Draining ?? false, running);
    }

    public static void Epoch(RequestValidator validator, long? epoch) => Positive(validator, "epoch", epoch);

    private static void WorkerId(RequestValidator validator, string field, Guid? id)
    {
        if (id is null || id == Guid.Empty)
        {
            validator.Add(field, "This field is required (the id the worker chose when it started).");
        }
    }

    private static void Positive(RequestValidator validator, string field, long? value)
    {
        if (value is null)
        {
            validator.Add(field, "This field is required.");
        }
        else if (value < 1)
        {
            validator.Add(field, "Must be 1 or more.");
        }
    }
}
