using Freshet.Contracts;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// The connection test of a Snowflake destination: the settings and key can be read, the key pair signs in to the
/// database and schema, the role may create a table there, and may write to it and read it back. The test table is
/// transient and dropped at the end. Checks after a failed one are skipped, so the list points at the first thing to fix.
/// </summary>
internal sealed class SnowflakeConnectionProbe(TimeProvider time, ILoggerFactory loggerFactory) : IConnectionProbe
{
    private static readonly string[] Checks = ["settings", "login", "create_tables", "write"];

    public ConnectionType Type => ConnectionType.Snowflake;

    public async Task<IReadOnlyList<ConnectionProbeCheck>> ProbeAsync(EndpointSpec endpoint, ConnectionKind kind, CancellationToken cancellationToken)
    {
        var checks = new List<ConnectionProbeCheck>();
        SnowflakeConnection connection;
        try
        {
            // One attempt per request: a person is waiting, and a throttled service is an answer worth showing.
            connection = SnowflakeDestinationSettings.Connect(endpoint, time, loggerFactory.CreateLogger<SnowflakeConnectionProbe>(), maxRetryAttempts: 0);
        }
        catch (ArgumentException e)
        {
            checks.Add(new("settings", ConnectionProbeStatus.Failed, e.Message, "Correct the connection's settings and secrets."));
            return SkipRest(checks);
        }

        using (connection)
        {
            var settings = connection.Settings;
            var where = $"{settings.Database}.{settings.Schema}";
            checks.Add(new("settings", ConnectionProbeStatus.Passed, $"Account {settings.Account.Identifier}, user {settings.User}, {where}."));
            try
            {
                await connection.Client.ExecuteAsync(new SnowflakeStatement("SELECT CURRENT_DATABASE(), CURRENT_SCHEMA()"), cancellationToken).ConfigureAwait(false);
                checks.Add(new("login", ConnectionProbeStatus.Passed,
                    $"Signed in to {settings.Endpoint.Host} as {settings.User}{(connection.KeyFingerprint is { } fp ? $" with the key {fp}" : "")}, using {where}."));
            }
            catch (SnowflakeException e) when (e.HttpStatus == 401)
            {
                checks.Add(new("login", ConnectionProbeStatus.Failed, $"Snowflake refused the sign-in (code {e.Code}): {e.Message}",
                    connection.KeyFingerprint is { } fp
                        ? $"Register the key's public half with ALTER USER {settings.User} SET RSA_PUBLIC_KEY='…'; DESC USER {settings.User} must then show RSA_PUBLIC_KEY_FP = {fp}. Check the account identifier and the user name too."
                        : "Issue a new OAuth token for the user."));
                return SkipRest(checks);
            }
            catch (SnowflakeException e) when (e.HttpStatus != 0)
            {
                checks.Add(new("login", ConnectionProbeStatus.Failed, $"Signed in, but {where} cannot be used (code {e.Code}): {e.Message}",
                    $"Check that database {settings.Database} and schema {settings.Schema} exist and that the user's role has USAGE on them and on the warehouse."));
                return SkipRest(checks);
            }
            catch (SnowflakeException e)
            {
                checks.Add(new("login", ConnectionProbeStatus.Failed, e.Message,
                    "Check the account identifier (orgname-accountname or locator.region) and that Freshet may reach *.snowflakecomputing.com."));
                return SkipRest(checks);
            }

            var table = SnowflakeTypes.Quote($"_freshet_connection_test_{Guid.NewGuid():N}");
            try
            {
                try
                {
                    await connection.Client.ExecuteAsync(new SnowflakeStatement($"CREATE TRANSIENT TABLE {table} (\"id\" NUMBER(10,0))"), cancellationToken).ConfigureAwait(false);
                    checks.Add(new("create_tables", ConnectionProbeStatus.Passed, $"The role may create tables in {where}."));
                }
                catch (SnowflakeException e)
                {
                    checks.Add(new("create_tables", ConnectionProbeStatus.Failed, $"Creating a table in {where} failed (code {e.Code}): {e.Message}",
                        $"GRANT CREATE TABLE ON SCHEMA {where} TO ROLE {settings.Role ?? "<the user's default role>"} (and USAGE on the database, the schema and warehouse {settings.Warehouse ?? "<the user's default>"})."));
                    return SkipRest(checks);
                }

                try
                {
                    await connection.Client.ExecuteAsync(new SnowflakeStatement(
                        $"INSERT INTO {table} (\"id\") VALUES (1);\nSELECT count(*) FROM {table}") { StatementCount = 2 }, cancellationToken).ConfigureAwait(false);
                    checks.Add(new("write", ConnectionProbeStatus.Passed, "Wrote a row to a test table and read it back; the table is dropped again."));
                }
                catch (SnowflakeException e)
                {
                    checks.Add(new("write", ConnectionProbeStatus.Failed, $"Writing to the test table failed (code {e.Code}): {e.Message}",
                        $"Check that warehouse {settings.Warehouse ?? "<the user's default>"} exists, is not suspended for good, and that the role may use it."));
                }
            }
            finally
            {
                try
                {
                    await connection.Client.ExecuteAsync(new SnowflakeStatement($"DROP TABLE IF EXISTS {table}"), CancellationToken.None).ConfigureAwait(false);
                }
                catch (SnowflakeException)
                {
                    // Best effort: a transient test table left behind costs nothing but its name.
                }
            }

            return checks;
        }
    }

    private static List<ConnectionProbeCheck> SkipRest(List<ConnectionProbeCheck> checks) => ConnectionProbeChecks.SkipRest(Checks, checks);
}
