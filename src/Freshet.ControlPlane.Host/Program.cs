using Freshet.ControlPlane.Host;
using Microsoft.Extensions.Options;

try
{
    return args.FirstOrDefault() switch
    {
        "migrate" => await HostCommands.MigrateAsync(args[1..]),
        "seed-demo" => await HostCommands.SeedDemoAsync(args[1..]),
        _ => await HostCommands.ServeAsync(args),
    };
}
catch (OptionsValidationException ex)
{
    // A bad setting stops the process at start with the setting's path, not with a stack trace.
    await Console.Error.WriteLineAsync($"freshet: configuration error: {string.Join(" ", ex.Failures)}");
    return 2;
}
catch (InvalidOperationException ex) when (ex.Message.Contains("is not set", StringComparison.Ordinal) || ex.Message.Contains("Freshet:", StringComparison.Ordinal))
{
    await Console.Error.WriteLineAsync($"freshet: configuration error: {ex.Message}");
    return 2;
}

/// <summary>The control-plane host; public so functional tests can start it with WebApplicationFactory.</summary>
public partial class Program;
