using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.Snowflake;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit.Abstractions;
using static Freshet.DataPlane.Tests.Destinations.Postgres.Changes;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

/// <summary>
/// The connection test and the destination against a real Snowflake account, under the same variables as
/// <see cref="SnowflakeLiveTests"/> (FRESHET_SNOWFLAKE_ACCOUNT, _USER, _PRIVATE_KEY_FILE, _WAREHOUSE, _DATABASE; optional
/// _PRIVATE_KEY_PASSPHRASE, _SCHEMA, _ROLE). Without them it prints that it was skipped and returns. It checks what the
/// emulator only imitates: the fence's failing cast, MERGE with several guarded clauses, transient stages,
/// INFORMATION_SCHEMA's type names, and that it leaves nothing behind.
/// </summary>
public sealed class SnowflakeDestinationLiveTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Live_ProbeThenApplyAndFence()
    {
        if (LiveEndpoint() is not { } endpoint)
        {
            return;
        }

        var probe = await new SnowflakeConnectionProbe(TimeProvider.System, NullLoggerFactory.Instance).ProbeAsync(endpoint, ConnectionKind.Destination, CancellationToken.None);
        output.WriteLine(string.Join("\n", probe.Select(c => $"{c.Name}: {c.Status} {c.Detail}")));
        Assert.All(probe, c => Assert.Equal(ConnectionProbeStatus.Passed, c.Status));

        var pipeline = Guid.NewGuid();
        var name = $"freshet_live_{pipeline:N}";
        var items = new TableSchema(new TableId("src", name), name,
            [new("id", new ColumnType(ValueKind.Int32, false, "integer"), true), new("body", new ColumnType(ValueKind.Text, false, "text"), false), new("qty", new ColumnType(ValueKind.Int32, false, "integer"), false)]);
        await using var destination = new SnowflakeDestination(new DestinationContext(pipeline, 1, DeleteMode.Hard, endpoint, TimeProvider.System), NullLoggerFactory.Instance);
        using var connection = SnowflakeDestinationSettings.Connect(endpoint, TimeProvider.System, NullLoggerFactory.Instance.CreateLogger("live"));
        try
        {
            await destination.ClaimAsync(CancellationToken.None);
            Assert.Null((await destination.EnsureTableAsync(items, SchemaChangePolicy.Propagate, CancellationToken.None)).QuarantineReason);
            await destination.ApplyAsync(Batch(Insert(items, 10, 0, 1, "one", 1), Insert(items, 10, 1, 2, "two", 2)), CancellationToken.None);
            await destination.ApplyAsync(Batch(Update(items, 20, 0, 1, Unchanged, 10), Delete(items, 20, 1, 2), Update(items, 5, 0, 1, "stale", 0)), CancellationToken.None);
            await using (var successor = new SnowflakeDestination(new DestinationContext(pipeline, 2, DeleteMode.Hard, endpoint, TimeProvider.System), NullLoggerFactory.Instance))
            {
                await successor.ClaimAsync(CancellationToken.None);
            }

            await Assert.ThrowsAsync<PipelineFencedException>(() => destination.ApplyAsync(Batch(Insert(items, 30, 0, 3, "zombie", 3)), CancellationToken.None));
            var rows = await connection.Client.ExecuteAsync(new SnowflakeStatement($"SELECT \"id\", \"body\", \"qty\" FROM {SnowflakeTypes.Quote(name)} ORDER BY 1"), CancellationToken.None);
            Assert.Equal([["1", "one", "10"]], rows.Rows);
        }
        finally
        {
            var stages = await connection.Client.ExecuteAsync(new SnowflakeStatement("SELECT table_name FROM information_schema.tables WHERE table_schema = CURRENT_SCHEMA() AND table_name LIKE ?")
            {
                Bindings = [SnowflakeBinding.Text(SnowflakeTargetTable.StagePrefix(pipeline) + "%")],
            }, CancellationToken.None);
            foreach (var table in stages.Rows.Select(r => r[0]!).Append(name))
            {
                await connection.Client.ExecuteAsync(new SnowflakeStatement($"DROP TABLE IF EXISTS {SnowflakeTypes.Quote(table)}"), CancellationToken.None);
            }

            await connection.Client.ExecuteAsync(new SnowflakeStatement($"DELETE FROM {SnowflakeTypes.Quote(MetadataColumns.CheckpointTable)} WHERE \"pipeline_id\" = ?")
            {
                Bindings = [SnowflakeBinding.Text(pipeline.ToString("D"))],
            }, CancellationToken.None);
        }
    }

    private EndpointSpec? LiveEndpoint()
    {
        string? Variable(string name) => Environment.GetEnvironmentVariable($"FRESHET_SNOWFLAKE_{name}") is { Length: > 0 } value ? value : null;
        if (Variable("ACCOUNT") is not { } account || Variable("USER") is not { } user || Variable("PRIVATE_KEY_FILE") is not { } keyFile
            || Variable("WAREHOUSE") is not { } warehouse || Variable("DATABASE") is not { } database)
        {
            var message = "SKIPPED: live Snowflake destination test (set FRESHET_SNOWFLAKE_ACCOUNT, _USER, _PRIVATE_KEY_FILE, _WAREHOUSE and _DATABASE to run it)";
            output.WriteLine(message);
            Console.WriteLine(message);
            return null;
        }

        var settings = new Dictionary<string, string> { ["account"] = account, ["user"] = user, ["warehouse"] = warehouse, ["database"] = database };
        foreach (var (setting, variable) in new[] { ("schema", "SCHEMA"), ("role", "ROLE") })
        {
            if (Variable(variable) is { } value)
            {
                settings[setting] = value;
            }
        }

        var secrets = new Dictionary<string, string> { ["private_key"] = File.ReadAllText(keyFile) };
        if (Variable("PRIVATE_KEY_PASSPHRASE") is { } passphrase)
        {
            secrets["private_key_passphrase"] = passphrase;
        }

        return new EndpointSpec(ConnectionType.Snowflake, settings, secrets);
    }
}
