using Freshet.Contracts;
using Freshet.DataPlane.Destinations.BigQuery;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>The connection test of a BigQuery destination against the emulator: what passes, and what each failure says.</summary>
public sealed class BigQueryConnectionProbeTests
{
    [Fact]
    public async Task WorkingConnection_PassesEveryCheck()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        var probe = new BigQueryConnectionProbe(TimeProvider.System, NullLoggerFactory.Instance);

        var checks = await probe.ProbeAsync(BigQueryDestinationTests.Endpoint(bq.Emulator.RestAddress, bq.Emulator.StorageAddress, bq.KeyJson), ConnectionKind.Destination,
            CancellationToken.None);

        Assert.Equal(["settings", "authenticate", "dataset", "create_tables", "write", "query", "drop_table"], checks.Select(c => c.Name));
        Assert.All(checks, c => Assert.Equal(ConnectionProbeStatus.Passed, c.Status));
        Assert.Empty(await bq.Emulator.QueryAsync("SELECT table_name FROM information_schema.tables WHERE table_name LIKE '_freshet_connection_test_%'"));
    }

    [Fact]
    public async Task DeletedKey_UnknownDataset_AndUnreadableKey_EachSayWhatToFix()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        var probe = new BigQueryConnectionProbe(TimeProvider.System, NullLoggerFactory.Instance);
        var endpoint = BigQueryDestinationTests.Endpoint(bq.Emulator.RestAddress, bq.Emulator.StorageAddress, bq.KeyJson);

        var unknownDataset = await probe.ProbeAsync(endpoint with { Settings = new Dictionary<string, string>(endpoint.Settings) { ["dataset"] = "nope" } },
            ConnectionKind.Destination, CancellationToken.None);
        var unreadable = await probe.ProbeAsync(endpoint with { Secrets = new Dictionary<string, string> { ["service_account_json"] = """{"type":"authorized_user"}""" } },
            ConnectionKind.Destination, CancellationToken.None);
        bq.Emulator.DeleteServiceAccountKeys(BigQueryTestProject.Account);
        var deletedKey = await probe.ProbeAsync(endpoint, ConnectionKind.Destination, CancellationToken.None);

        var dataset = Assert.Single(unknownDataset, c => c.Status == ConnectionProbeStatus.Failed);
        Assert.Equal("dataset", dataset.Name);
        Assert.Contains("freshet-emulator.nope was not found", dataset.Detail, StringComparison.Ordinal);
        Assert.Equal(ConnectionProbeStatus.Skipped, unknownDataset.Single(c => c.Name == "write").Status);
        var settings = Assert.Single(unreadable, c => c.Status == ConnectionProbeStatus.Failed);
        Assert.Equal("settings", settings.Name);
        Assert.Contains("secret 'service_account_json'", settings.Detail, StringComparison.Ordinal);
        Assert.Equal(5, unreadable.Count(c => c.Status == ConnectionProbeStatus.Skipped));
        var login = Assert.Single(deletedKey, c => c.Status == ConnectionProbeStatus.Failed);
        Assert.Equal("authenticate", login.Name);
        Assert.Contains("Create a new key", login.Fix, StringComparison.Ordinal);
    }
}
