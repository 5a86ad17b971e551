using Freshet.Contracts;

namespace Freshet.DataPlane.Tests.Support;

/// <summary>What a crash loop did: the phase each kill landed in, and every killed worker's output (for a failure's diagnosis).</summary>
internal sealed record CrashLoopResult(IReadOnlyList<PipelineRunState> KilledDuring, IReadOnlyList<string> Outputs)
{
    public string Describe() => $"kills during: {string.Join(", ", KilledDuring)}\n{string.Join("\n", Outputs)}";
}

/// <summary>
/// Starts a worker process on a pipeline spec over and over and kills it with SIGKILL: the first kills once the run is
/// snapshotting (or already streaming), the rest once it streams, each after a random pause, some while it is still
/// starting. Each restart resumes from the destination's checkpoint.
/// </summary>
internal static class CrashLoop
{
    public static async Task<CrashLoopResult> RunAsync(
        string specFile, IReadOnlyDictionary<string, string>? settings = null, int kills = 12, int snapshotKills = 4, int seed = 1234)
    {
        var random = new Random(seed);
        var killedDuring = new List<PipelineRunState>();
        var outputs = new List<string>();
        for (var kill = 0; kill < kills; kill++)
        {
            var worker = WorkerProcess.Start(specFile, settings);
            var inSnapshot = kill < snapshotKills;
            var phase = inSnapshot ? PipelineRunState.Snapshotting : PipelineRunState.Streaming;
            try
            {
                await worker.WaitForReportAsync(r => r.State == phase || r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
            }

            await Task.Delay(random.Next(0, inSnapshot ? 400 : 1500));
            var last = worker.Reports().FirstOrDefault();
            await worker.KillAsync();
            killedDuring.Add(last?.State ?? PipelineRunState.Starting);
            outputs.Add($"=== kill {kill} during {killedDuring[^1]}\n" + worker.Output);
            await worker.DisposeAsync();
        }

        return new CrashLoopResult(killedDuring, outputs);
    }
}
