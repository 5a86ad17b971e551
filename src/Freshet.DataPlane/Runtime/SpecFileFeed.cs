using System.Text.Json;
using System.Text.Json.Serialization;
using Freshet.Contracts;

namespace Freshet.DataPlane.Runtime;

/// <summary>
/// Assignments read from JSON spec files (one <see cref="PipelineSpec"/> each, camelCase, enums as strings), re-read at
/// every poll so editing a file changes the running pipeline. For the standalone worker, tests and benchmarks.
/// </summary>
public sealed class SpecFileFeed(IReadOnlyList<string> paths) : IPipelineAssignmentFeed
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter() },
        WriteIndented = true,
    };

    public async Task<IReadOnlyList<PipelineAssignment>> GetAssignmentsAsync(CancellationToken cancellationToken)
    {
        var result = new List<PipelineAssignment>();
        foreach (var path in paths)
        {
            await using var file = File.OpenRead(path);
            var spec = await JsonSerializer.DeserializeAsync<PipelineSpec>(file, Json, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"{path} holds no pipeline spec.");
            result.Add(new PipelineAssignment(spec, DesiredState.Running));
        }

        return result;
    }

    public static async Task WriteAsync(string path, PipelineSpec spec, CancellationToken cancellationToken)
    {
        var temporary = path + ".tmp";
        await using (var file = File.Create(temporary))
        {
            await JsonSerializer.SerializeAsync(file, spec, Json, cancellationToken).ConfigureAwait(false);
        }

        File.Move(temporary, path, overwrite: true);
    }
}
