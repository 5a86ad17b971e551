using System.Globalization;
using Freshet.Emulators.BigQuery;

// As a process: dotnet Freshet.Emulators.BigQuery.dll [--rest-port N] [--storage-port N] [--project ID] [--dataset NAME]…
// Service-account keys come from POST /emulator/service-accounts/{email}/keys on the REST port.
var options = new BigQueryEmulatorOptions();
var datasets = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{args[i]} needs a value.");
    switch (args[i])
    {
        case "--rest-port":
            options.RestPort = int.Parse(value, CultureInfo.InvariantCulture);
            break;
        case "--storage-port":
            options.StoragePort = int.Parse(value, CultureInfo.InvariantCulture);
            break;
        case "--project":
            options.ProjectId = value;
            break;
        case "--dataset":
            datasets.Add(value);
            break;
        default:
            Console.Error.WriteLine($"Unknown option {args[i]}. Options: --rest-port N --storage-port N --project ID --dataset NAME");
            return 2;
    }
    i++;
}
if (datasets.Count > 0)
{
    options.Datasets = datasets;
}
await using var emulator = await BigQueryEmulator.StartAsync(options);
Console.WriteLine($"BigQuery emulator for project {options.ProjectId}: REST on {emulator.RestAddress}, Storage Write on {emulator.StorageAddress}");
var stop = new TaskCompletionSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.TrySetResult();
};
AppDomain.CurrentDomain.ProcessExit += (_, _) => stop.TrySetResult();
await stop.Task;
return 0;
