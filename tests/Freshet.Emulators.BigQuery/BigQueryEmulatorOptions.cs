namespace Freshet.Emulators.BigQuery;

/// <summary>What the emulated project is and how strict its limits are.</summary>
public sealed class BigQueryEmulatorOptions
{
    /// <summary>The one project the emulator serves; any other project id answers 404.</summary>
    public string ProjectId { get; set; } = "freshet-emulator";

    /// <summary>Datasets that exist.</summary>
    public IReadOnlyList<string> Datasets { get; set; } = ["freshet"];

    /// <summary>Dataset location reported by datasets.get and in job references.</summary>
    public string Location { get; set; } = "US";

    /// <summary>Largest AppendRowsRequest accepted (storage.proto: "must be less than 10 MB").</summary>
    public int MaxAppendRequestBytes { get; set; } = 10 * 1000 * 1000;

    /// <summary>
    /// Rows per page of a query answer when the request sets no maxResults. BigQuery cuts pages at about 10 MB; a row
    /// count keeps tests small and deterministic.
    /// </summary>
    public int PageRowLimit { get; set; } = 100_000;

    /// <summary>Lifetime of the access tokens the token endpoint issues (Google: one hour).</summary>
    public TimeSpan AccessTokenLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>The longest assertion lifetime accepted (Google: one hour).</summary>
    public TimeSpan MaxAssertionLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Tolerated clock difference between the assertion's signer and the token endpoint.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Port of the REST API and the token endpoint (0: any free port).</summary>
    public int RestPort { get; set; }

    /// <summary>Port of the Storage Write gRPC service, HTTP/2 without TLS (0: any free port).</summary>
    public int StoragePort { get; set; }

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
