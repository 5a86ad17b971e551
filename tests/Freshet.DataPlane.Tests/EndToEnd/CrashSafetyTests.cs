using Freshet.Contracts;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// The worker process is killed with SIGKILL over and over, during the snapshot and during streaming, while the source
/// keeps changing; each restart resumes from the destination's checkpoint. At the end the destination equals the
/// source with zero missing and zero duplicate rows.
/// </summary>
public sealed class CrashSafetyTests
{
    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task KilledRepeatedlyDuringSnapshotAndStreaming_DestinationEqualsSource(Target target)
    {
        await using var harness = await PipelineHarness.CreateAsync(target, "crash");
        await TestShop.CreateAsync(harness.SourceConnectionString);
        var shop = new TestShop(harness.SourceConnectionString, seed: 7);
        await shop.LoadAsync(items: 12_000, lines: 3000, events: 2000);
        var spec = await harness.WriteSpecAsync(harness.Spec(delivery: new(MaxBatchDelayMilliseconds: 50, SnapshotChunkRows: 600, SnapshotParallelism: 2)));

        using var stopWorkload = new CancellationTokenSource();
        var workload = Task.Run(() => new TestShop(harness.SourceConnectionString, seed: 8).RunUntilAsync(stopWorkload.Token));
        var random = new Random(1234);
        var killedDuring = new List<PipelineRunState>();
        for (var kill = 0; kill < 12; kill++)
        {
            var worker = WorkerProcess.Start(spec);
            // Most kills wait for the run to reach a phase first; some land while it is still starting.
            var phase = kill < 4 ? PipelineRunState.Snapshotting : PipelineRunState.Streaming;
            try
            {
                await worker.WaitForReportAsync(r => r.State == phase || r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
            }

            await Task.Delay(random.Next(0, kill < 4 ? 400 : 1500));
            var last = worker.Reports().FirstOrDefault();
            await worker.KillAsync();
            killedDuring.Add(last?.State ?? PipelineRunState.Starting);
            await worker.DisposeAsync();
        }

        await stopWorkload.CancelAsync();
        await workload;
        await using var final = WorkerProcess.Start(spec);
        await harness.WaitForCatchUpAsync(TimeSpan.FromSeconds(120), final);

        var differences = await harness.ShopDifferencesAsync();
        Assert.True(differences.Length == 0, $"kills during: {string.Join(", ", killedDuring)}\n{differences}\nWorker output:\n{final.Output}");
        Assert.True(killedDuring.Count >= 10);
        Assert.Contains(PipelineRunState.Snapshotting, killedDuring);
        Assert.Contains(PipelineRunState.Streaming, killedDuring);
    }
}
