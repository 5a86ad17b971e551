using System.Globalization;
using Freshet.Emulators.Snowflake;

// As a process: dotnet Freshet.Emulators.Snowflake.dll [--port N] [--account NAME] [--database NAME]…
// Keys and OAuth tokens are registered through POST /emulator/users/{user}/public-keys and /oauth-tokens.
var options = new SnowflakeEmulatorOptions();
var databases = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--port":
            options.Port = int.Parse(value, CultureInfo.InvariantCulture);
            break;
        case "--account":
            options.Account = value;
            break;
        case "--database":
            databases.Add(value);
            break;
        case "--partition-rows":
            options.PartitionRowLimit = int.Parse(value, CultureInfo.InvariantCulture);
            break;
        default:
            Console.Error.WriteLine($"Unknown option {args[i]}. Options: --port N --account NAME --database NAME --partition-rows N");
            return 2;
    }
    i++;
}
if (databases.Count > 0)
{
    options.Databases = databases;
}
await using var emulator = await SnowflakeEmulator.StartAsync(options);
Console.WriteLine($"Snowflake emulator for account {options.Account} listening on {emulator.BaseAddress}");
var stop = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.TrySetResult();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
await stop.Task;
return 0;
