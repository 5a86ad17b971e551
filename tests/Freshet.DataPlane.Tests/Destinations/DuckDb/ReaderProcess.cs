using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Freshet.DataPlane.Destinations.DuckDb;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

/// <summary>
/// A second process reading a DuckDB file, as a BI tool would: DuckDB's file lock is per process, so the writer's
/// behaviour towards readers can only be seen from another process. It is this test assembly run by <c>dotnet</c> with
/// itself as a startup hook (<see cref="StartupHook"/>), which runs <see cref="RunAsync"/> and exits before any Main.
/// </summary>
internal sealed class ReaderProcess : IAsyncDisposable
{
    private const string PathVariable = "FRESHET_TEST_DUCKDB_READER_PATH";
    private const string ModeVariable = "FRESHET_TEST_DUCKDB_READER_MODE";

    private readonly Process _process;

    private ReaderProcess(Process process, string stopFile)
    {
        _process = process;
        StopFile = stopFile;
    }

    public string StopFile { get; }

    /// <summary>
    /// <paramref name="mode"/> "hold": opens the file read-only, prints "open", keeps it until the stop file exists.
    /// "poll": opens it read-only again and again through <see cref="DuckDbFile.OpenReadOnlyAsync"/>, counting rows each
    /// time, until the stop file exists; prints "open" after the first time and a JSON summary at the end.
    /// </summary>
    public static async Task<ReaderProcess> StartAsync(string databasePath, string mode)
    {
        var assembly = typeof(ReaderProcess).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(assembly);
        start.Environment["DOTNET_STARTUP_HOOKS"] = assembly;
        start.Environment[PathVariable] = databasePath;
        start.Environment[ModeVariable] = mode;
        var stopFile = databasePath + ".stop-reader";
        File.Delete(stopFile);
        var reader = new ReaderProcess(Process.Start(start)!, stopFile);
        var first = await reader._process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (first != "open")
        {
            throw new InvalidOperationException($"The reader process said '{first}': {await reader._process.StandardError.ReadToEndAsync()}");
        }

        return reader;
    }

    /// <summary>Tells the reader to stop and returns what it printed after "open".</summary>
    public async Task<string> StopAsync()
    {
        await File.WriteAllTextAsync(StopFile, "stop");
        var output = await _process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(60));
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return output.Trim();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
        File.Delete(StopFile);
    }

    /// <summary>The child's side; returns its exit code.</summary>
    internal static async Task<int> RunAsync()
    {
        var path = Environment.GetEnvironmentVariable(PathVariable)!;
        var stopFile = path + ".stop-reader";
        if (Environment.GetEnvironmentVariable(ModeVariable) == "hold")
        {
            await using var held = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(30), CancellationToken.None);
            Console.WriteLine("open");
            while (!File.Exists(stopFile))
            {
                await Task.Delay(10);
            }

            return 0;
        }

        var opens = 0;
        var timeouts = 0;
        var longestWait = TimeSpan.Zero;
        var rowCounts = new List<long>();
        while (!File.Exists(stopFile))
        {
            var waited = Stopwatch.StartNew();
            try
            {
                await using var connection = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(20), CancellationToken.None);
                longestWait = waited.Elapsed > longestWait ? waited.Elapsed : longestWait;
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT count(*) FROM people";
                rowCounts.Add(Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture));
            }
            catch (TimeoutException)
            {
                timeouts++;
            }

            if (opens++ == 0)
            {
                Console.WriteLine("open");
            }

            await Task.Delay(20);
        }

        Console.WriteLine(JsonSerializer.Serialize(new ReaderSummary(opens, timeouts, longestWait.TotalMilliseconds, rowCounts)));
        return 0;
    }
}

internal sealed record ReaderSummary(int Opens, int Timeouts, double LongestWaitMilliseconds, List<long> RowCounts);
