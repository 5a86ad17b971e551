using System.Text.Json;
using Freshet.DataPlane;
using Freshet.DataPlane.Runtime;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Worker;

/// <summary>
/// The standalone data-plane worker. Until the scheduler assigns work over the control plane, it runs the pipelines
/// named by spec files:
///   run --spec FILE [--spec FILE…] [--status-file FILE]   run pipelines until SIGTERM/SIGINT
///   drop --spec FILE                                       drop a deleted pipeline's slot and publication
///   duckdb-query FILE SQL                                  read a DuckDB destination while a pipeline writes it
/// Settings come from appsettings.json, FRESHET_ environment variables (Freshet__Worker__…) and the command line.
/// </summary>
internal static class WorkerCommands
{
    public static async Task<int> RunAsync(string[] args)
    {
        var verb = args.FirstOrDefault();
        var rest = args.Skip(1).ToArray();
        try
        {
            return verb switch
            {
                "run" => await RunPipelinesAsync(rest),
                "drop" => await DropAsync(rest),
                "duckdb-query" => await DuckDbQuery.RunAsync(rest),
                _ => Usage(),
            };
        }
        catch (ArgumentException e)
        {
            await Console.Error.WriteLineAsync(e.Message);
            return Usage();
        }
    }

    private static async Task<int> RunPipelinesAsync(string[] args)
    {
        var specs = Values(args, "--spec");
        if (specs.Count == 0)
        {
            throw new ArgumentException("run needs at least one --spec FILE.");
        }

        var statusFile = Values(args, "--status-file").LastOrDefault();
        var builder = Host.CreateApplicationBuilder(Remaining(args, "--spec", "--status-file"));
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        var options = builder.Configuration.GetSection(DataPlaneOptions.Section).Get<DataPlaneOptions>() ?? new DataPlaneOptions();
        builder.Services.AddSingleton(new SpecFileFeed([.. specs.Select(Path.GetFullPath)]));
        builder.Services.AddDataPlaneWorker<SpecFileFeedAdapter>(options);
        if (statusFile is not null)
        {
            builder.Services.AddSingleton(new StatusFileWriter.Target(Path.GetFullPath(statusFile)));
            builder.Services.AddHostedService<StatusFileWriter>();
        }

        using var host = builder.Build();
        await host.RunAsync();
        return 0;
    }

    private static async Task<int> DropAsync(string[] args)
    {
        var specs = Values(args, "--spec");
        using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
        await using var runtime = new WorkerRuntime(new DataPlaneOptions(), TimeProvider.System, loggerFactory);
        foreach (var assignment in await new SpecFileFeed(specs).GetAssignmentsAsync(CancellationToken.None))
        {
            await runtime.DropSourceAsync(assignment.Spec, CancellationToken.None);
        }

        return 0;
    }

    private static List<string> Values(string[] args, string name)
    {
        var values = new List<string>();
        for (var i = 0; i < args.Length - 1; i++)
        {
            if (args[i] == name)
            {
                values.Add(args[i + 1]);
            }
        }

        return values;
    }

    private static string[] Remaining(string[] args, params string[] consumed)
    {
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (consumed.Contains(args[i]))
            {
                i++;
                continue;
            }

            rest.Add(args[i]);
        }

        return [.. rest];
    }

    private static int Usage()
    {
        Console.Error.WriteLine("""
            usage: Freshet.DataPlane.Worker run --spec FILE [--spec FILE…] [--status-file FILE]
                   Freshet.DataPlane.Worker drop --spec FILE
                   Freshet.DataPlane.Worker duckdb-query FILE SQL
            """);
        return 2;
    }

    /// <summary>Lets the DI container build the feed from the file list registered above.</summary>
    private sealed class SpecFileFeedAdapter(SpecFileFeed inner) : IPipelineAssignmentFeed
    {
        public Task<IReadOnlyList<PipelineAssignment>> GetAssignmentsAsync(CancellationToken cancellationToken) => inner.GetAssignmentsAsync(cancellationToken);
    }
}

/// <summary>Writes every pipeline's progress report as JSON to a file once a second (atomically), for tests, benchmarks and operators.</summary>
internal sealed class StatusFileWriter(StatusFileWriter.Target target, WorkerRuntime runtime, TimeProvider time) : BackgroundService
{
    internal sealed record Target(string Path);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var temporary = target.Path + ".tmp";
            await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(runtime.Reports(), SpecFileFeed.Json), stoppingToken);
            File.Move(temporary, target.Path, overwrite: true);
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }
}
