using DuckDB.NET.Data;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Common;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using MySqlConnector;
using Npgsql;

namespace Freshet.ControlPlane.Api.Connections;

/// <summary>Lists what a connection's database holds: schemas, tables, columns, primary keys.</summary>
internal sealed class SchemaBrowser(ConnectionEndpoints endpoints, NetworkPolicy network)
{
    private const string PostgresCatalogSql = """
        SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull,
               COALESCE(array_position(pk.conkey, a.attnum), 0) AS pk_position,
               CASE c.relreplident WHEN 'd' THEN 'default' WHEN 'f' THEN 'full' WHEN 'i' THEN 'index' ELSE 'nothing' END,
               c.reltuples::bigint
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
          AND has_table_privilege(c.oid, 'SELECT')
        ORDER BY n.nspname, c.relname, a.attnum
        """;

    public async Task<Results<Ok<SchemaResponse>, ProblemHttpResult>> BrowseAsync(Connection connection, CancellationToken cancellationToken)
    {
        try
        {
            return connection.Type switch
            {
                ConnectionType.Postgres => TypedResults.Ok(await BrowsePostgresAsync(connection, cancellationToken)),
                ConnectionType.Duckdb => BrowseDuckDb(connection),
                ConnectionType.Mysql => TypedResults.Ok(await BrowseMySqlAsync(connection, cancellationToken)),
                _ => TypedResults.Problem(
                    title: "Not available yet",
                    detail: $"Browsing {ConnectionTypes.For(connection.Type).DisplayName} schemas is not available in this release yet.",
                    statusCode: StatusCodes.Status501NotImplemented),
            };
        }
        catch (NetworkPolicyException ex)
        {
            return TypedResults.Problem(title: "Address not allowed", detail: ex.Message, statusCode: StatusCodes.Status422UnprocessableEntity);
        }
        catch (Exception ex) when (ex is NpgsqlException or MySqlException or TimeoutException or DuckDBException or System.Net.Sockets.SocketException)
        {
            return TypedResults.Problem(
                title: "Cannot reach the database",
                detail: $"{ex.GetBaseException().Message} Run the connection test to see what to fix.",
                statusCode: StatusCodes.Status502BadGateway);
        }
    }

    private async Task<SchemaResponse> BrowsePostgresAsync(Connection connection, CancellationToken cancellationToken)
    {
        var builder = endpoints.Postgres(connection);
        if (await network.CheckAsync(builder.Host!, cancellationToken) is { } refused)
        {
            throw new NetworkPolicyException(refused);
        }

        await using var db = new NpgsqlConnection(builder.ConnectionString);
        await db.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(PostgresCatalogSql, db);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<CatalogRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new CatalogRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4), reader.GetInt32(5), reader.GetString(6), reader.GetInt64(7)));
        }

        return Group(rows);
    }

    /// <summary>
    /// The connection's database only: a MySQL source replicates the tables of the one database its settings name
    /// (a MySQL database is what PostgreSQL calls a schema), so listing the others would offer tables it cannot read.
    /// Base tables the login can see (information_schema hides the rest); views have no binlog rows.
    /// </summary>
    private const string MySqlCatalogSql = """
        SELECT c.TABLE_SCHEMA, c.TABLE_NAME, c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE = 'YES',
               COALESCE(k.ORDINAL_POSITION, 0), t.TABLE_ROWS
        FROM information_schema.TABLES t
        JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
        LEFT JOIN information_schema.KEY_COLUMN_USAGE k
          ON k.TABLE_SCHEMA = c.TABLE_SCHEMA AND k.TABLE_NAME = c.TABLE_NAME AND k.COLUMN_NAME = c.COLUMN_NAME AND k.CONSTRAINT_NAME = 'PRIMARY'
        WHERE t.TABLE_SCHEMA = @database AND t.TABLE_TYPE = 'BASE TABLE'
        ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION
        """;

    private async Task<SchemaResponse> BrowseMySqlAsync(Connection connection, CancellationToken cancellationToken)
    {
        var builder = endpoints.MySql(connection);
        if (await network.CheckAsync(builder.Server, cancellationToken) is { } refused)
        {
            throw new NetworkPolicyException(refused);
        }

        await using var db = new MySqlConnection(builder.ConnectionString);
        await db.OpenAsync(cancellationToken);
        await using var command = new MySqlCommand(MySqlCatalogSql, db);
        command.Parameters.AddWithValue("@database", connection.Settings["database"]!.GetValue<string>());
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        var rows = new List<CatalogRow>();
        while (await reader.ReadAsync(cancellationToken))
        {
            rows.Add(new CatalogRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4),
                Convert.ToInt32(reader.GetValue(5), System.Globalization.CultureInfo.InvariantCulture), null,
                reader.IsDBNull(6) ? null : Convert.ToInt64(reader.GetValue(6), System.Globalization.CultureInfo.InvariantCulture)));
        }

        return Group(rows);
    }

    private Results<Ok<SchemaResponse>, ProblemHttpResult> BrowseDuckDb(Connection connection)
    {
        var path = endpoints.DuckDbPath(connection);
        if (!File.Exists(path))
        {
            return TypedResults.Ok(new SchemaResponse([]));
        }

        using var duck = new DuckDBConnection($"Data Source={path};ACCESS_MODE=READ_ONLY");
        duck.Open();
        using var command = duck.CreateCommand();
        command.CommandText = """
            SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.is_nullable = 'YES',
                   COALESCE(list_position(k.constraint_column_names, c.column_name), 0)::INTEGER, NULL, NULL
            FROM information_schema.columns c
            LEFT JOIN duckdb_constraints() k
              ON k.schema_name = c.table_schema AND k.table_name = c.table_name AND k.constraint_type = 'PRIMARY KEY'
            WHERE c.table_catalog = current_database()
            ORDER BY c.table_schema, c.table_name, c.ordinal_position
            """;
        using var reader = command.ExecuteReader();
        var rows = new List<CatalogRow>();
        while (reader.Read())
        {
            rows.Add(new CatalogRow(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetBoolean(4), reader.GetInt32(5), null, null));
        }

        return TypedResults.Ok(Group(rows));
    }

    private static SchemaResponse Group(List<CatalogRow> rows) => new(rows
        .GroupBy(r => r.Schema)
        .Select(schema => new SchemaInfo(schema.Key, schema
            .GroupBy(r => r.Table)
            .Select(table => new TableInfo(
                table.Key,
                table.Where(c => c.PrimaryKeyPosition > 0).OrderBy(c => c.PrimaryKeyPosition).Select(c => c.Column).ToList(),
                table.Select(c => new ColumnInfo(c.Column, c.Type, c.Nullable)).ToList(),
                table.First().ReplicaIdentity,
                table.First().EstimatedRows is { } n && n >= 0 ? n : null))
            .ToList()))
        .ToList());

    private sealed record CatalogRow(string Schema, string Table, string Column, string Type, bool Nullable, int PrimaryKeyPosition, string? ReplicaIdentity, long? EstimatedRows);
}

internal sealed class NetworkPolicyException(string message) : Exception(message);
