using System.Diagnostics;

namespace Freshet.Bench;

/// <summary>Runs a command-line tool (psql, pgbench, pg_recvlogical) to completion and times it.</summary>
internal static class ExternalTool
{
    public sealed record Result(int ExitCode, string Output, string Error, TimeSpan Elapsed);

    /// <summary>Runs <paramref name="file"/> to its exit; <paramref name="onStarted"/> gets its process id right after the start.</summary>
    public static async Task<Result> RunAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken, Action<int>? onStarted = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        using var process = Process.Start(start) ?? throw new BenchException($"could not start {file}");
        onStarted?.Invoke(process.Id);
        var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var error = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var elapsed = time.GetElapsedTime(started);
        return new Result(process.ExitCode, await output, await error, elapsed);
    }

    /// <summary>Like <see cref="RunAsync"/>, but a non-zero exit stops the benchmark with the tool's own message.</summary>
    public static async Task<Result> RunCheckedAsync(string file, IEnumerable<string> arguments, CancellationToken cancellationToken, Action<int>? onStarted = null)
    {
        var result = await RunAsync(file, arguments, cancellationToken, onStarted);
        if (result.ExitCode != 0)
        {
            throw new BenchException($"{Path.GetFileName(file)} exited with {result.ExitCode}: {result.Error.Trim()} {result.Output.Trim()}");
        }

        return result;
    }
}
