namespace Freshet.Emulators.Snowflake;

/// <summary>What the emulated account is and how strict its limits are.</summary>
public sealed class SnowflakeEmulatorOptions
{
    /// <summary>The account name as it appears in JWT claims (upper case): a locator (<c>XY12345</c>) or <c>ORG-ACCOUNT</c>.</summary>
    public string Account { get; set; } = "EMULATOR";

    /// <summary>Databases that exist (each with a PUBLIC schema).</summary>
    public IReadOnlyList<string> Databases { get; set; } = ["FRESHET"];

    /// <summary>How long a request waits for its statement before answering 202 (Snowflake: 45 s).</summary>
    public TimeSpan SynchronousWait { get; set; } = TimeSpan.FromSeconds(45);

    /// <summary>
    /// Rows per result partition. Snowflake sizes partitions by bytes, not rows; a row count keeps tests small and
    /// deterministic.
    /// </summary>
    public int PartitionRowLimit { get; set; } = 10_000;

    /// <summary>
    /// Largest request body accepted. Snowflake does not document a number for the SQL API; the default is a cautious
    /// figure, and the client sizes its batches to whatever limit it is configured with.
    /// </summary>
    public long MaxRequestBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>The longest JWT lifetime accepted (Snowflake: one hour).</summary>
    public TimeSpan MaxJwtLifetime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Tolerated clock difference between the JWT's issuer and the service.</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Port to listen on (0: any free port).</summary>
    public int Port { get; set; }

    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;
}
