using System.Security.Cryptography;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations.Snowflake;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

/// <summary>The Snowflake connection test against the emulator: what passes, and where it stops when something is wrong.</summary>
public sealed class SnowflakeConnectionProbeTests
{
    [Fact]
    public async Task WorkingConnection_PassesEveryCheck_AndLeavesNoTestTable()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();

        var checks = await ProbeAsync(SnowflakeDestinationTests.Endpoint(account.Emulator.BaseAddress, account.Key.ExportPkcs8PrivateKeyPem()));

        Assert.Equal(["settings", "login", "create_tables", "write"], checks.Select(c => c.Name));
        Assert.All(checks, c => Assert.Equal(ConnectionProbeStatus.Passed, c.Status));
        Assert.Contains(SnowflakeKeyPairTokenSource.Fingerprint(account.Key), checks[1].Detail, StringComparison.Ordinal);
        var left = await account.Emulator.QueryAsync("SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_freshet_connection_test_%'");
        Assert.Equal(0L, Convert.ToInt64(left.Single()[0], System.Globalization.CultureInfo.InvariantCulture));
    }

    [Fact]
    public async Task UnregisteredKey_FailsTheLogin_NamingTheFingerprintToRegister_AndSkipsTheRest()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        using var other = RSA.Create(2048);

        var checks = await ProbeAsync(SnowflakeDestinationTests.Endpoint(account.Emulator.BaseAddress, other.ExportPkcs8PrivateKeyPem()));

        Assert.Equal([ConnectionProbeStatus.Passed, ConnectionProbeStatus.Failed, ConnectionProbeStatus.Skipped, ConnectionProbeStatus.Skipped], checks.Select(c => c.Status));
        Assert.Contains("390144", checks[1].Detail, StringComparison.Ordinal);
        Assert.Contains($"RSA_PUBLIC_KEY_FP = {SnowflakeKeyPairTokenSource.Fingerprint(other)}", checks[1].Fix, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownDatabase_OrUnreadableKey_SayWhichSettingIsWrong()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();

        var database = await ProbeAsync(SnowflakeDestinationTests.Endpoint(account.Emulator.BaseAddress, account.Key.ExportPkcs8PrivateKeyPem(), new() { ["database"] = "NOPE" }));
        var key = await ProbeAsync(SnowflakeDestinationTests.Endpoint(account.Emulator.BaseAddress, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"));

        Assert.Equal(ConnectionProbeStatus.Failed, database[1].Status);
        Assert.Contains("002043", database[1].Detail, StringComparison.Ordinal);
        Assert.Contains("database NOPE", database[1].Fix, StringComparison.Ordinal);
        Assert.Equal(ConnectionProbeStatus.Failed, key[0].Status);
        Assert.Contains("secret 'private_key'", key[0].Detail, StringComparison.Ordinal);
        Assert.All(key.Skip(1), c => Assert.Equal(ConnectionProbeStatus.Skipped, c.Status));
    }

    private static async Task<IReadOnlyList<ConnectionProbeCheck>> ProbeAsync(EndpointSpec endpoint) =>
        await new SnowflakeConnectionProbe(TimeProvider.System, NullLoggerFactory.Instance).ProbeAsync(endpoint, ConnectionKind.Destination, CancellationToken.None);
}
