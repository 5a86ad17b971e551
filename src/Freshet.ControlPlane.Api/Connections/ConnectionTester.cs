using DuckDB.NET.Data;
using Freshet.Contracts;
using MySqlConnector;
using Npgsql;

namespace Freshet.ControlPlane.Api.Connections;

/// <summary>
/// Reaches a connection's database and reports, check by check, what works and what to fix. Checks after a failed
/// login are skipped rather than failed, so the list points at the first thing to repair.
/// </summary>
/// <remarks>
/// Types whose client lives in the data plane (Snowflake, BigQuery) are tested by the <see cref="IConnectionProbe"/> the host
/// registers for them; without one, the answer says testing is not available.
/// </remarks>
internal sealed class ConnectionTester(ConnectionEndpoints endpoints, ConnectionSecrets secrets, NetworkPolicy network, TimeProvider clock, IEnumerable<IConnectionProbe> probes)
{
    public async Task<ConnectionTestResponse> TestAsync(Connection connection, CancellationToken cancellationToken)
    {
        var checks = connection.Type switch
        {
            ConnectionType.Postgres => await TestPostgresAsync(connection, cancellationToken),
            ConnectionType.Duckdb => TestDuckDb(connection),
            ConnectionType.Mysql => await TestMySqlAsync(connection, cancellationToken),
            _ when probes.FirstOrDefault(p => p.Type == connection.Type) is { } probe => await ProbeAsync(probe, connection, cancellationToken),
            _ => [new ConnectionCheck("reachable", CheckStatus.Skipped, $"Testing {ConnectionTypes.For(connection.Type).DisplayName} connections is not available in this release yet; the settings were validated when saved.")],
        };
        return new ConnectionTestResponse(checks.All(c => c.Status != CheckStatus.Failed) && checks.Any(c => c.Status == CheckStatus.Passed), checks, clock.GetUtcNow());
    }

    private async Task<List<ConnectionCheck>> ProbeAsync(IConnectionProbe probe, Connection connection, CancellationToken cancellationToken)
    {
        if (connection.Type == ConnectionType.Snowflake && connection.Settings["account"]?.GetValue<string>() is { } account)
        {
            const string Domain = ".snowflakecomputing.com";
            var host = account.Trim().ToLowerInvariant();
            host = host.EndsWith(Domain, StringComparison.Ordinal) ? host : host + Domain;
            if (await network.CheckAsync(host, cancellationToken) is { } refused)
            {
                return [new("network", CheckStatus.Failed, refused, "Give the account identifier Snowflake shows (orgname-accountname or locator.region).")];
            }
        }

        var endpoint = new EndpointSpec(
            connection.Type,
            connection.Settings.ToDictionary(p => p.Key, p => Pipelines.PipelineSpecs.Text(p.Value), StringComparer.Ordinal),
            secrets.Open(connection));
        // A BigQuery key names the token endpoint the probe will post to: it must pass the network policy like any host a
        // tenant gives (the API endpoints themselves are Google's and cannot be set through the API).
        if (connection.Type == ConnectionType.Bigquery && TokenHost(endpoint.Secrets.GetValueOrDefault("service_account_json")) is { } tokenHost
            && await network.CheckAsync(tokenHost, cancellationToken) is { } refusedToken)
        {
            return [new("network", CheckStatus.Failed, refusedToken, "Use the key file as Google issued it: its token_uri is https://oauth2.googleapis.com/token.")];
        }

        var checks = await probe.ProbeAsync(endpoint, connection.Kind, cancellationToken);
        return [.. checks.Select(c => new ConnectionCheck(c.Name, c.Status switch
        {
            ConnectionProbeStatus.Passed => CheckStatus.Passed,
            ConnectionProbeStatus.Failed => CheckStatus.Failed,
            _ => CheckStatus.Skipped,
        }, c.Detail, c.Fix))];
    }

    private static string? TokenHost(string? keyJson)
    {
        try
        {
            using var key = System.Text.Json.JsonDocument.Parse(keyJson ?? "");
            return key.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object && key.RootElement.TryGetProperty("token_uri", out var uri)
                && uri.ValueKind == System.Text.Json.JsonValueKind.String && Uri.TryCreate(uri.GetString(), UriKind.Absolute, out var parsed)
                ? parsed.Host
                : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private async Task<List<ConnectionCheck>> TestPostgresAsync(Connection connection, CancellationToken cancellationToken)
    {
        var checks = new List<ConnectionCheck>();
        var builder = endpoints.Postgres(connection);
        if (await network.CheckAsync(builder.Host!, cancellationToken) is { } refused)
        {
            checks.Add(new("network", CheckStatus.Failed, refused, "Give the database's public host name or address."));
            return SkipRest(checks, connection.Kind);
        }

        await using var db = new NpgsqlConnection(builder.ConnectionString);
        try
        {
            await db.OpenAsync(cancellationToken);
            checks.Add(new("login", CheckStatus.Passed, $"Signed in to {builder.Host}:{builder.Port}/{builder.Database} as {builder.Username} (PostgreSQL {db.PostgreSqlVersion})."));
        }
        catch (PostgresException ex)
        {
            checks.Add(new("login", CheckStatus.Failed, $"The server refused the login: {ex.MessageText} ({ex.SqlState}).", LoginFix(ex.SqlState)));
            return SkipRest(checks, connection.Kind);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            checks.Add(new("login", CheckStatus.Failed, $"Could not reach {builder.Host}:{builder.Port}: {ex.GetBaseException().Message}", "Check host, port, firewall rules and ssl_mode; Freshet must be allowed to connect."));
            return SkipRest(checks, connection.Kind);
        }

        if (connection.Kind == ConnectionKind.Source)
        {
            await using var command = new NpgsqlCommand(
                """
                SELECT current_setting('wal_level'),
                       r.rolreplication OR r.rolsuper,
                       current_setting('max_replication_slots')::int,
                       (SELECT count(*) FROM pg_replication_slots)::int,
                       current_setting('max_wal_senders')::int,
                       (SELECT count(*) FROM pg_stat_replication)::int,
                       current_setting('server_version_num')::int
                FROM pg_roles r WHERE r.rolname = current_user
                """,
                db);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var walLevel = reader.GetString(0);
            var canReplicate = reader.GetBoolean(1);
            var maxSlots = reader.GetInt32(2);
            var usedSlots = reader.GetInt32(3);
            var maxSenders = reader.GetInt32(4);
            var usedSenders = reader.GetInt32(5);
            var version = reader.GetInt32(6);

            checks.Add(version >= 100000
                ? new("server_version", CheckStatus.Passed, $"PostgreSQL {version / 10000} supports logical replication.")
                : new("server_version", CheckStatus.Failed, "PostgreSQL 10 or later is needed for logical replication.", "Upgrade the server."));
            checks.Add(walLevel == "logical"
                ? new("wal_level", CheckStatus.Passed, "wal_level is logical.")
                : new("wal_level", CheckStatus.Failed, $"wal_level is {walLevel}; logical replication needs logical.", "Set wal_level = logical (on RDS/Aurora: rds.logical_replication = 1) and restart the server."));
            checks.Add(canReplicate
                ? new("replication_privilege", CheckStatus.Passed, $"{builder.Username} may replicate.")
                : new("replication_privilege", CheckStatus.Failed, $"{builder.Username} lacks the REPLICATION attribute.", $"Run: ALTER ROLE \"{builder.Username}\" WITH REPLICATION; (on RDS: GRANT rds_replication TO \"{builder.Username}\";)"));
            checks.Add(usedSlots < maxSlots
                ? new("free_replication_slots", CheckStatus.Passed, $"{maxSlots - usedSlots} of {maxSlots} replication slots are free.")
                : new("free_replication_slots", CheckStatus.Failed, $"All {maxSlots} replication slots are in use.", "Drop unused slots (SELECT * FROM pg_replication_slots) or raise max_replication_slots and restart."));
            checks.Add(usedSenders < maxSenders
                ? new("free_wal_senders", CheckStatus.Passed, $"{maxSenders - usedSenders} of {maxSenders} WAL senders are free.")
                : new("free_wal_senders", CheckStatus.Failed, $"All {maxSenders} WAL senders are busy.", "Raise max_wal_senders and restart."));
        }
        else
        {
            await using var command = new NpgsqlCommand(
                "SELECT has_database_privilege(current_user, current_database(), 'CREATE'), has_schema_privilege(current_user, @schema, 'CREATE') OR NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = @schema)",
                db);
            var schema = connection.Settings["schema"]?.GetValue<string>() ?? "public";
            command.Parameters.AddWithValue("schema", schema);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            await reader.ReadAsync(cancellationToken);
            var canCreateSchema = reader.GetBoolean(0);
            var canCreateTables = reader.GetBoolean(1);
            checks.Add(canCreateTables
                ? new("create_tables", CheckStatus.Passed, $"{builder.Username} may create tables in schema {schema}.")
                : new("create_tables", CheckStatus.Failed, $"{builder.Username} may not create tables in schema {schema}.", $"Run: GRANT CREATE ON SCHEMA \"{schema}\" TO \"{builder.Username}\";"));
            checks.Add(canCreateSchema
                ? new("create_state_schema", CheckStatus.Passed, "May create the schema that holds Freshet's checkpoint table.")
                : new("create_state_schema", CheckStatus.Failed, "May not create schemas in this database (Freshet keeps its checkpoints in a schema of its own).", $"Run: GRANT CREATE ON DATABASE \"{builder.Database}\" TO \"{builder.Username}\";"));
        }

        return checks;
    }

    /// <summary>Names of the MySQL checks after login, so a failed login lists them as skipped.</summary>
    private static readonly string[] MySqlChecks =
        ["server_version", "log_bin", "server_id", "binlog_format", "binlog_row_image", "binlog_row_metadata", "binlog_checksum", "binlog_retention", "replication_slave", "replication_client", "select_on_database"];

    /// <summary>
    /// The same prerequisites the data plane's MySQL source checks before a pipeline starts (shared through
    /// <see cref="MySqlPrerequisites"/>), one item each, plus SELECT on the connection's database.
    /// </summary>
    private async Task<List<ConnectionCheck>> TestMySqlAsync(Connection connection, CancellationToken cancellationToken)
    {
        var checks = new List<ConnectionCheck>();
        var builder = endpoints.MySql(connection);
        var database = connection.Settings["database"]!.GetValue<string>();
        if (await network.CheckAsync(builder.Server, cancellationToken) is { } refused)
        {
            checks.Add(new("network", CheckStatus.Failed, refused, "Give the database's public host name or address."));
            return SkipRest(checks, MySqlChecks);
        }

        await using var db = new MySqlConnection(builder.ConnectionString);
        try
        {
            await db.OpenAsync(cancellationToken);
            checks.Add(new("login", CheckStatus.Passed, $"Signed in to {builder.Server}:{builder.Port} as {builder.UserID} ({db.ServerVersion})."));
        }
        catch (MySqlException ex) when (ex.ErrorCode is MySqlErrorCode.AccessDenied or MySqlErrorCode.DatabaseAccessDenied or MySqlErrorCode.HostNotPrivileged)
        {
            checks.Add(new("login", CheckStatus.Failed, $"The server refused the login: {ex.Message} ({(int)ex.ErrorCode}).",
                ex.ErrorCode == MySqlErrorCode.HostNotPrivileged
                    ? "The user may not connect from Freshet's address: create it for this host (e.g. 'user'@'%')."
                    : "Check the username and password (set the password secret again if it changed)."));
            return SkipRest(checks, MySqlChecks);
        }
        catch (Exception ex) when (ex is MySqlException or TimeoutException or System.Net.Sockets.SocketException or InvalidOperationException or System.Security.Authentication.AuthenticationException)
        {
            checks.Add(new("login", CheckStatus.Failed, $"Could not reach {builder.Server}:{builder.Port}: {ex.GetBaseException().Message}", "Check host, port, firewall rules and ssl_mode; Freshet must be allowed to connect."));
            return SkipRest(checks, MySqlChecks);
        }

        var variables = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        await using (var command = new MySqlCommand(
            MySqlPrerequisites.VariablesSql, db))
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken))
        {
            while (await reader.ReadAsync(cancellationToken))
            {
                variables[reader.GetString(0)] = reader.GetString(1);
            }
        }

        await using var userCommand = new MySqlCommand("SELECT CURRENT_USER()", db);
        var user = Convert.ToString(await userCommand.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) ?? "";
        var privileges = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var canSelect = false;
        await using (var command = new MySqlCommand(
            // USER_PRIVILEGES lists the login's global privileges, SCHEMA_PRIVILEGES its per-database ones; GRANTEE is
            // quoted as 'user'@'host', and a database grant's name may be a LIKE pattern (db\_name, db%).
            """
            SELECT 'global', PRIVILEGE_TYPE FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = @grantee
            UNION ALL
            SELECT 'database', PRIVILEGE_TYPE FROM information_schema.SCHEMA_PRIVILEGES
            WHERE GRANTEE = @grantee AND PRIVILEGE_TYPE = 'SELECT' AND @database LIKE TABLE_SCHEMA
            """,
            db))
        {
            var at = user.LastIndexOf('@');
            command.Parameters.AddWithValue("@grantee", at < 0 ? user : $"'{user[..at]}'@'{user[(at + 1)..]}'");
            command.Parameters.AddWithValue("@database", database);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken);
            while (await reader.ReadAsync(cancellationToken))
            {
                var privilege = reader.GetString(1);
                if (reader.GetString(0) == "global")
                {
                    privileges.Add(privilege);
                }

                canSelect |= privilege is "SELECT" or "ALL PRIVILEGES";
            }
        }

        var quotedUser = user.LastIndexOf('@') is var split and > 0 ? $"'{user[..split]}'@'{user[(split + 1)..]}'" : user;
        checks.AddRange(MySqlPrerequisites.Evaluate(variables, privileges, quotedUser, db.ServerVersion)
            .Select(c => c.Passed
                ? new ConnectionCheck(c.Name, CheckStatus.Passed, c.Detail)
                : new ConnectionCheck(c.Name, CheckStatus.Failed, Sentence(c.Detail), Sentence(c.Fix!))));

        await using var exists = new MySqlCommand("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = @database", db);
        exists.Parameters.AddWithValue("@database", database);
        var visible = Convert.ToInt64(await exists.ExecuteScalarAsync(cancellationToken), System.Globalization.CultureInfo.InvariantCulture) > 0;
        checks.Add((canSelect, visible) switch
        {
            (true, true) => new("select_on_database", CheckStatus.Passed, $"{quotedUser} may read the tables of {database}."),
            (true, false) => new("select_on_database", CheckStatus.Failed, $"The database {database} does not exist.", "Check the database setting."),
            _ => new("select_on_database", CheckStatus.Failed, $"{quotedUser} may not SELECT from the tables of {database} (needed for the initial snapshot).",
                $"Run: GRANT SELECT ON `{database.Replace("`", "``", StringComparison.Ordinal)}`.* TO {quotedUser};"),
        });
        return checks;
    }

    /// <summary>The shared checks' texts are written to follow one another in one sentence; an item shows each on its own.</summary>
    private static string Sentence(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].TrimEnd('.') + ".";

    private List<ConnectionCheck> TestDuckDb(Connection connection)
    {
        var path = endpoints.DuckDbPath(connection);
        var folder = Path.GetDirectoryName(path)!;
        var checks = new List<ConnectionCheck>();
        try
        {
            Directory.CreateDirectory(folder);
            var probe = Path.Combine(folder, $".freshet-probe-{Guid.NewGuid():N}");
            File.WriteAllText(probe, "");
            File.Delete(probe);
            checks.Add(new("folder_writable", CheckStatus.Passed, "The tenant's DuckDB folder is writable."));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            checks.Add(new("folder_writable", CheckStatus.Failed, "The DuckDB folder cannot be written.", "Ask the operator to check Freshet:DuckDb:Root permissions."));
            return checks;
        }

        if (!File.Exists(path))
        {
            checks.Add(new("database_file", CheckStatus.Passed, "The file does not exist yet; the first pipeline run creates it."));
            return checks;
        }

        try
        {
            using var duck = new DuckDBConnection($"Data Source={path};ACCESS_MODE=READ_ONLY");
            duck.Open();
            using var command = duck.CreateCommand();
            command.CommandText = "SELECT version()";
            checks.Add(new("database_file", CheckStatus.Passed, $"Opened the file with DuckDB {command.ExecuteScalar()}."));
        }
        catch (DuckDBException ex) when (ex.Message.Contains("lock", StringComparison.OrdinalIgnoreCase))
        {
            checks.Add(new("database_file", CheckStatus.Passed, "The file is open by a running pipeline (DuckDB allows one writer)."));
        }
        catch (DuckDBException ex)
        {
            checks.Add(new("database_file", CheckStatus.Failed, $"The file exists but DuckDB cannot open it: {ex.Message}", "Point the connection at a DuckDB database file, or a new name."));
        }

        return checks;
    }

    private static string LoginFix(string sqlState) => sqlState switch
    {
        PostgresErrorCodes.InvalidPassword or PostgresErrorCodes.InvalidAuthorizationSpecification => "Check the username and password (set the password secret again if it changed).",
        PostgresErrorCodes.InvalidCatalogName => "The database does not exist: check the database setting.",
        _ => "Check pg_hba.conf allows this host and user, and the credentials.",
    };

    private static List<ConnectionCheck> SkipRest(List<ConnectionCheck> checks, ConnectionKind kind) =>
        SkipRest(checks, kind == ConnectionKind.Source
            ? ["server_version", "wal_level", "replication_privilege", "free_replication_slots", "free_wal_senders"]
            : ["create_tables", "create_state_schema"]);

    private static List<ConnectionCheck> SkipRest(List<ConnectionCheck> checks, string[] rest)
    {
        checks.AddRange(rest.Select(name => new ConnectionCheck(name, CheckStatus.Skipped, "Not checked: the login failed.")));
        return checks;
    }
}
