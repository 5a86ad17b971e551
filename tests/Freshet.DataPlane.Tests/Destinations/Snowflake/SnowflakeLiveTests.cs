using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.Snowflake;
using Xunit.Abstractions;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

/// <summary>
/// The client against a real Snowflake account, only when FRESHET_SNOWFLAKE_ACCOUNT, FRESHET_SNOWFLAKE_USER and
/// FRESHET_SNOWFLAKE_PRIVATE_KEY_FILE are set (optional: FRESHET_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE, _WAREHOUSE, _DATABASE,
/// _SCHEMA, _ROLE). Without them each test prints that it was skipped and returns. These are what the emulator's fidelity
/// is checked against: claims, multi-statement transactions, partitions, the jsonv2 value forms.
/// </summary>
public sealed class SnowflakeLiveTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Live_KeyPairAuth_TransactionAndPartitionedResult()
    {
        if (LiveClient() is not { } live)
        {
            return;
        }
        using var _ = live.Http;
        var client = live.Client;
        var table = $"FRESHET_LIVE_{Guid.NewGuid():N}".ToUpperInvariant();

        var user = await client.ExecuteAsync(new SnowflakeStatement("SELECT CURRENT_USER()"), default);
        await client.ExecuteAsync(new SnowflakeStatement($"CREATE TABLE \"{table}\" (\"ID\" NUMBER(38,0), \"DOC\" VARIANT, \"AT\" TIMESTAMP_NTZ)"), default);
        try
        {
            await client.ExecuteAsync(SnowflakeStatement.Transaction([
                $"INSERT INTO \"{table}\" SELECT f.value:\"ID\"::NUMBER(38,0), f.value:\"DOC\", f.value:\"AT\"::TIMESTAMP_NTZ FROM TABLE(FLATTEN(INPUT => PARSE_JSON('[{{\"ID\":1,\"DOC\":{{\"a\":1}},\"AT\":\"2024-02-29 10:11:12.5\"}}]'))) f",
            ]), default);
            var rows = await client.ExecuteAsync(new SnowflakeStatement($"SELECT \"ID\", \"DOC\", \"AT\" FROM \"{table}\""), default);
            var big = await client.ExecuteAsync(new SnowflakeStatement("SELECT SEQ4() AS n, RANDSTR(200, RANDOM()) AS s FROM TABLE(GENERATOR(ROWCOUNT => 200000))"), default);

            output.WriteLine($"live: user {user.Rows[0][0]}, {big.Rows.Count} rows in {big.Partitions} partitions");
            Assert.Equal("1", rows.Rows[0][0]);
            Assert.Equal(new DateTime(2024, 2, 29, 10, 11, 12, 500), SnowflakeValues.TimestampNtz(rows.Rows[0][2]!));
            Assert.Equal(200000, big.Rows.Count);
        }
        finally
        {
            await client.ExecuteAsync(new SnowflakeStatement($"DROP TABLE IF EXISTS \"{table}\""), default);
        }
    }

    private (HttpClient Http, SnowflakeSqlClient Client)? LiveClient()
    {
        var account = Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_ACCOUNT");
        var user = Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_USER");
        var keyFile = Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_PRIVATE_KEY_FILE");
        if (string.IsNullOrEmpty(account) || string.IsNullOrEmpty(user) || string.IsNullOrEmpty(keyFile))
        {
            var message = "SKIPPED: live Snowflake test (set FRESHET_SNOWFLAKE_ACCOUNT, FRESHET_SNOWFLAKE_USER and FRESHET_SNOWFLAKE_PRIVATE_KEY_FILE to run it)";
            output.WriteLine(message);
            Console.WriteLine(message);
            return null;
        }
        var parsed = SnowflakeAccount.Parse(account);
        var key = SnowflakeKeyPairTokenSource.LoadPrivateKey(File.ReadAllText(keyFile), Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_PRIVATE_KEY_PASSPHRASE"));
        var http = WarehouseHttp.CreateClient(parsed.DefaultEndpoint);
        var options = new SnowflakeClientOptions
        {
            Endpoint = parsed.DefaultEndpoint,
            Warehouse = Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_WAREHOUSE"),
            Database = Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_DATABASE"),
            Schema = Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_SCHEMA"),
            Role = Environment.GetEnvironmentVariable("FRESHET_SNOWFLAKE_ROLE"),
        };
        return (http, new SnowflakeSqlClient(http, options, new SnowflakeKeyPairTokenSource(parsed, user, key, TimeProvider.System), TimeProvider.System));
    }
}
