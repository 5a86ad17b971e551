using Freshet.ControlPlane.Host;

return args.FirstOrDefault() switch
{
    "migrate" => await HostCommands.MigrateAsync(args[1..]),
    "seed-demo" => await HostCommands.SeedDemoAsync(args[1..]),
    _ => await HostCommands.ServeAsync(args),
};

/// <summary>The control-plane host; public so functional tests can start it with WebApplicationFactory.</summary>
public partial class Program;
