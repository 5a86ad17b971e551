using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.BigQuery;
using Freshet.Emulators.BigQuery;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>The BigQuery emulator with a service account, and our clients pointed at it the way a worker would be.</summary>
internal sealed class BigQueryTestProject : IAsyncDisposable
{
    public const string Account = "writer@freshet-emulator.iam.gserviceaccount.com";

    private BigQueryTestProject(BigQueryEmulator emulator, string keyJson, BigQueryClientOptions options, TimeProvider time)
    {
        Emulator = emulator;
        KeyJson = keyJson;
        Options = options;
        Tokens = ServiceAccountTokenSource.FromJson(keyJson);
        Http = WarehouseHttp.CreateClient(options.RestEndpoint);
        Rest = new BigQueryRestClient(Http, options, Tokens, time);
        Writer = new BigQueryStorageWriter(options, Tokens, time);
    }

    public BigQueryEmulator Emulator { get; }

    public string KeyJson { get; }

    public BigQueryClientOptions Options { get; }

    public ServiceAccountTokenSource Tokens { get; }

    public HttpClient Http { get; }

    public BigQueryRestClient Rest { get; }

    public BigQueryStorageWriter Writer { get; }

    public static async Task<BigQueryTestProject> StartAsync(Func<BigQueryClientOptions, BigQueryClientOptions>? configure = null, TimeProvider? time = null,
        BigQueryEmulatorOptions? emulatorOptions = null)
    {
        var emulator = await BigQueryEmulator.StartAsync(emulatorOptions);
        var options = new BigQueryClientOptions
        {
            ProjectId = emulator.Options.ProjectId,
            RestEndpoint = emulator.RestAddress,
            StorageEndpoint = emulator.StorageAddress,
            Location = emulator.Options.Location,
            RetryDelay = TimeSpan.FromMilliseconds(50),
        };
        return new BigQueryTestProject(emulator, emulator.CreateServiceAccountKey(Account), configure?.Invoke(options) ?? options, time ?? TimeProvider.System);
    }

    public async ValueTask DisposeAsync()
    {
        Writer.Dispose();
        Http.Dispose();
        await Emulator.DisposeAsync();
    }
}

/// <summary>The system clock, remembering every timer delay asked of it (how a test sees which delay a retry used).</summary>
internal sealed class RecordingTimeProvider : TimeProvider
{
    private readonly List<TimeSpan> _delays = [];

    public IReadOnlyList<TimeSpan> Delays
    {
        get
        {
            lock (_delays)
            {
                return [.. _delays];
            }
        }
    }

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        lock (_delays)
        {
            _delays.Add(dueTime);
        }
        return System.CreateTimer(callback, state, dueTime, period);
    }
}
