using System.Globalization;
using Freshet.Contracts;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>How a BigQuery destination writes keyed tables.</summary>
internal enum BigQueryWriteMethod
{
    /// <summary>Storage Write API CDC on the <c>_default</c> stream (UPSERT/DELETE with sequence numbers); MERGE only where CDC cannot do it.</summary>
    StorageWrite,

    /// <summary>Every table through a staging table and a MERGE query job.</summary>
    Merge,
}

/// <summary>
/// A BigQuery destination's endpoint settings, as the API's connection type defines them (project_id, dataset, location,
/// batch_latency_target_s, write_method, max_staleness_minutes; secret service_account_json), plus two the worker alone
/// reads: <c>rest_endpoint</c> and <c>storage_endpoint</c> (other API roots than Google's: the emulator in tests). The
/// token endpoint is the key file's own <c>token_uri</c>.
/// </summary>
internal sealed record BigQueryDestinationSettings
{
    /// <summary>As for Snowflake: a keyed table written by Storage Write costs per byte, not per write, but MERGE jobs are billed per query.</summary>
    public static readonly TimeSpan DefaultLatencyTarget = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan MaxLatencyTarget = TimeSpan.FromHours(1);

    /// <summary>BigQuery's max_staleness is an INTERVAL; the API offers up to a day.</summary>
    public const int MaxStalenessMinutes = 1440;

    public required string ProjectId { get; init; }

    public required string Dataset { get; init; }

    public string? Location { get; init; }

    public required TimeSpan LatencyTarget { get; init; }

    public required BigQueryWriteMethod WriteMethod { get; init; }

    /// <summary>The INTERVAL new CDC tables get as max_staleness (e.g. <c>0-0 0 0:15:0</c>), or null for none.</summary>
    public string? MaxStaleness { get; init; }

    public required Uri RestEndpoint { get; init; }

    public required Uri StorageEndpoint { get; init; }

    public required string ServiceAccountJson { get; init; }

    /// <summary>Reads and checks the settings; every problem is named with its setting in one <see cref="ArgumentException"/>.</summary>
    public static BigQueryDestinationSettings From(EndpointSpec endpoint)
    {
        var errors = new List<string>();
        string? Setting(string name) => endpoint.Settings.GetValueOrDefault(name) is { Length: > 0 } value ? value.Trim() : null;
        string? Required(string name)
        {
            if (Setting(name) is { } value)
            {
                return value;
            }
            errors.Add($"setting '{name}' is required");
            return null;
        }

        var project = Required("project_id");
        var dataset = Required("dataset");
        if (dataset is not null && !dataset.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            errors.Add($"setting 'dataset': '{dataset}' may hold letters, digits and underscores only");
        }
        if (project is not null && (project.Contains('`', StringComparison.Ordinal) || project.Contains('\\', StringComparison.Ordinal)))
        {
            errors.Add($"setting 'project_id': '{project}' is not a project id");
        }

        var latency = DefaultLatencyTarget;
        if (Setting("batch_latency_target_s") is { } latencyText)
        {
            if (ParseLatency(latencyText) is { } parsed)
            {
                latency = parsed;
            }
            else
            {
                errors.Add($"setting 'batch_latency_target_s': '{latencyText}' must be a number of seconds above 0 and at most {MaxLatencyTarget.TotalSeconds}");
            }
        }

        var method = BigQueryWriteMethod.StorageWrite;
        switch (Setting("write_method"))
        {
            case null or "storage_write":
                break;
            case "merge":
                method = BigQueryWriteMethod.Merge;
                break;
            case var other:
                errors.Add($"setting 'write_method': '{other}' must be storage_write or merge");
                break;
        }

        string? staleness = null;
        if (Setting("max_staleness_minutes") is { } stalenessText)
        {
            if (!int.TryParse(stalenessText, NumberStyles.None, CultureInfo.InvariantCulture, out var minutes) || minutes > MaxStalenessMinutes)
            {
                errors.Add($"setting 'max_staleness_minutes': '{stalenessText}' must be a whole number of minutes from 0 to {MaxStalenessMinutes}");
            }
            else if (minutes > 0)
            {
                staleness = string.Create(CultureInfo.InvariantCulture, $"0-0 {minutes / 1440} {minutes % 1440 / 60}:{minutes % 60}:0");
            }
        }

        Uri? Endpoint(string name, Uri fallback)
        {
            if (Setting(name) is not { } text)
            {
                return fallback;
            }
            if (Uri.TryCreate(text.EndsWith('/') ? text : text + "/", UriKind.Absolute, out var uri) && uri.Scheme is "https" or "http")
            {
                return uri;
            }
            errors.Add($"setting '{name}': '{text}' is not an http(s) address");
            return null;
        }

        var rest = Endpoint("rest_endpoint", BigQueryClientOptions.DefaultRestEndpoint);
        var storage = Endpoint("storage_endpoint", BigQueryClientOptions.DefaultStorageEndpoint);
        var key = endpoint.Secrets.GetValueOrDefault("service_account_json");
        if (string.IsNullOrWhiteSpace(key))
        {
            errors.Add("secret 'service_account_json' is required");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("The BigQuery connection is not usable: " + string.Join("; ", errors) + ".");
        }

        return new BigQueryDestinationSettings
        {
            ProjectId = project!,
            Dataset = dataset!,
            Location = Setting("location"),
            LatencyTarget = latency,
            WriteMethod = method,
            MaxStaleness = staleness,
            RestEndpoint = rest!,
            StorageEndpoint = storage!,
            ServiceAccountJson = key!,
        };
    }

    /// <summary>The REST and Storage Write clients this connection needs; disposed with the returned object.</summary>
    public static BigQueryConnection Connect(EndpointSpec endpoint, TimeProvider time, ILogger logger, int maxRetryAttempts = 6)
    {
        var settings = From(endpoint);
        ServiceAccountTokenSource tokens;
        try
        {
            tokens = ServiceAccountTokenSource.FromJson(settings.ServiceAccountJson);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"The BigQuery connection is not usable: secret 'service_account_json': {e.Message}", e);
        }

        var options = new BigQueryClientOptions
        {
            ProjectId = settings.ProjectId,
            RestEndpoint = settings.RestEndpoint,
            StorageEndpoint = settings.StorageEndpoint,
            Location = settings.Location,
            MaxRetryAttempts = maxRetryAttempts,
        };
        var http = WarehouseHttp.CreateClient(options.RestEndpoint);
        var rest = new BigQueryRestClient(http, options, tokens, time, logger);
        var writer = new BigQueryStorageWriter(options, tokens, time, logger);
        return new BigQueryConnection(settings, options, tokens, rest, writer, http);
    }

    /// <summary>The latency target of a pipeline writing to <paramref name="endpoint"/>, or null when it is no BigQuery destination.</summary>
    /// <remarks>A setting that cannot be read counts as the default here; the destination itself refuses it with its reason.</remarks>
    public static TimeSpan? LatencyTargetOf(EndpointSpec endpoint) =>
        endpoint.Type != ConnectionType.Bigquery ? null
        : endpoint.Settings.GetValueOrDefault("batch_latency_target_s") is { Length: > 0 } text ? ParseLatency(text) ?? DefaultLatencyTarget
        : DefaultLatencyTarget;

    private static TimeSpan? ParseLatency(string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds > 0 && seconds <= MaxLatencyTarget.TotalSeconds
            ? TimeSpan.FromSeconds(seconds)
            : null;
}

/// <summary>Connected clients and what they own.</summary>
internal sealed class BigQueryConnection(
    BigQueryDestinationSettings settings, BigQueryClientOptions options, ServiceAccountTokenSource tokens, BigQueryRestClient rest, BigQueryStorageWriter writer, HttpClient http)
    : IDisposable
{
    public BigQueryDestinationSettings Settings { get; } = settings;

    public BigQueryClientOptions Options { get; } = options;

    public ServiceAccountTokenSource Tokens { get; } = tokens;

    public BigQueryRestClient Rest { get; } = rest;

    public BigQueryStorageWriter Writer { get; } = writer;

    public void Dispose()
    {
        Writer.Dispose();
        http.Dispose();
    }
}
