using System.Text.Json;
using Freshet.Contracts;
using Freshet.DataPlane;
using Freshet.DataPlane.Runtime;
using Freshet.DataPlane.Worker.Messaging;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Worker;

/// <summary>
/// The standalone data-plane worker. It runs what a control plane places on it, or the pipelines named by spec files:
///   run [--control-plane URL] [--status-file FILE]        run what the control plane assigns until SIGTERM (then drain)
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
        catch (InvalidOperationException e) when (e.Message.StartsWith("Invalid worker settings", StringComparison.Ordinal))
        {
            // A bad setting stops the process at start with the setting's name, not with a stack trace.
            await Console.Error.WriteLineAsync($"freshet worker: configuration error: {e.Message}");
            return 2;
        }
    }

    private static async Task<int> RunPipelinesAsync(string[] args)
    {
        var specs = Values(args, "--spec");
        if (specs.Count == 0)
        {
            return await RunForControlPlaneAsync(args);
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
        AddStatusFile(builder, statusFile);

        using var host = builder.Build();
        await host.RunAsync();
        return 0;
    }

    /// <summary>Runs what the control plane places on this worker (registration, lease, assignments, drain on SIGTERM).</summary>
    private static async Task<int> RunForControlPlaneAsync(string[] args)
    {
        var statusFile = Values(args, "--status-file").LastOrDefault();
        var controlPlane = Values(args, "--control-plane").LastOrDefault();
        var builder = Host.CreateApplicationBuilder(Remaining(args, "--status-file", "--control-plane"));
        if (controlPlane is not null)
        {
            builder.Configuration.AddInMemoryCollection([new($"{WorkerAgentOptions.Section}:ControlPlane:Url", controlPlane)]);
        }

        var agentOptions = builder.Configuration.GetSection(WorkerAgentOptions.Section).Get<WorkerAgentOptions>() ?? new WorkerAgentOptions();
        if (string.IsNullOrWhiteSpace(agentOptions.ControlPlane.Url))
        {
            throw new ArgumentException($"run needs at least one --spec FILE, or a control plane: --control-plane URL or {WorkerAgentOptions.Section}:ControlPlane:Url.");
        }

        agentOptions.Validate(requireControlPlane: true);
        builder.Logging.AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "HH:mm:ss.fff ";
        });
        var options = builder.Configuration.GetSection(DataPlaneOptions.Section).Get<DataPlaneOptions>() ?? new DataPlaneOptions();
        // Long enough for the drain to hand every pipeline back before the host gives up on its services.
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = agentOptions.ShutdownTimeout);
        builder.Services.AddSingleton(_ => new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) })
        {
            // Each call carries its own, shorter timeout.
            Timeout = Timeout.InfiniteTimeSpan,
        });
        builder.Services.AddSingleton<IWorkerControl>(sp =>
            new ControlPlaneWorkerClient(sp.GetRequiredService<HttpClient>(), agentOptions.ControlPlane, sp.GetRequiredService<TimeProvider>()));
        builder.Services.AddDataPlaneWorkerAgent(options, agentOptions);
        WorkerMessaging.Add(builder);
        AddStatusFile(builder, statusFile);

        using var host = builder.Build();
        await host.RunAsync();
        return 0;
    }

    private static void AddStatusFile(HostApplicationBuilder builder, string? statusFile)
    {
        if (statusFile is not null)
        {
            builder.Services.AddSingleton(new StatusFileWriter.Target(Path.GetFullPath(statusFile)));
            builder.Services.AddHostedService<StatusFileWriter>();
        }
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
                   Freshet.DataPlane.Worker run [--control-plane URL] [--status-file FILE]
                   Freshet.DataPlane.Worker drop --spec FILE
                   Freshet.DataPlane.Worker duckdb-query FILE SQL

            run --spec runs the pipelines of the spec files. run without --spec runs what a control plane places on this
            worker: --control-plane URL or Freshet:Worker:ControlPlane:Url, with the worker pool's OAuth2 client in
            Freshet:Worker:ControlPlane:ClientId and ClientSecret (Freshet__Worker__ControlPlane__ClientSecret);
            Freshet:Worker:Name, Zone, Labels:KEY, Capacity (8), DrainOnShutdown (true), DrainTimeout (00:01:00),
            LeaseSafetyMargin (00:00:01.5). Assignment hints from RabbitMQ, and progress reports published to it, when
            Freshet:Messaging:Transport=rabbitmq (Freshet:Messaging:RabbitMq:Host, Port, Username, Password, VirtualHost);
            otherwise it polls.
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
