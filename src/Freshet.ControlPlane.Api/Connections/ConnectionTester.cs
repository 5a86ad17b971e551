using DuckDB.NET.Data;
using Freshet.Contracts;
using Npgsql;

namespace Freshet.ControlPlane.Api.Connections;

/// <summary>
/// Reaches a connection's database and reports, check by check, what works and what to fix. Checks after a failed
/// login are skipped rather than failed, so the list points at the first thing to repair.
/// </summary>
internal sealed class ConnectionTester(ConnectionEndpoints endpoints, NetworkPolicy network, TimeProvider clock)
{
    public async Task<ConnectionTestResponse> TestAsync(Connection connection, CancellationToken cancellationToken)
    {
        var checks = connection.Type switch
        {
            ConnectionType.Postgres => await TestPostgresAsync(connection, cancellationToken),
            ConnectionType.Duckdb => TestDuckDb(connection),
            _ => [new ConnectionCheck("reachable", CheckStatus.Skipped, $"Testing {ConnectionTypes.For(connection.Type).DisplayName} connections is not available in this release yet; the settings were validated when saved.")],
        };
        return new ConnectionTestResponse(checks.All(c => c.Status != CheckStatus.Failed) && checks.Any(c => c.Status == CheckStatus.Passed), checks, clock.GetUtcNow());
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

    private static List<ConnectionCheck> SkipRest(List<ConnectionCheck> checks, ConnectionKind kind)
    {
        var rest = kind == ConnectionKind.Source
            ? new[] { "server_version", "wal_level", "replication_privilege", "free_replication_slots", "free_wal_senders" }
            : ["create_tables", "create_state_schema"];
        checks.AddRange(rest.Select(name => new ConnectionCheck(name, CheckStatus.Skipped, "Not checked: the login failed.")));
        return checks;
    }
}
