using Freshet.Contracts;
using Freshet.DataPlane.Schema;
using Npgsql;

namespace Freshet.DataPlane.Destinations.Postgres;

/// <summary>Creates a target table or brings it in line with its source table as the schema change policy allows.</summary>
internal static class TargetTableSync
{
    private const string Savepoint = "freshet_table_ddl";

    /// <summary>A target column as the catalog describes it.</summary>
    /// <param name="Name">Column name.</param>
    /// <param name="Type">format_type with the modifier, e.g. <c>numeric(12,2)</c>.</param>
    /// <param name="TypeName">pg_type.typname of the type or of its element, when built in (pg_catalog); else null.</param>
    /// <param name="IsArray">Whether the column is an array.</param>
    /// <param name="IsKey">Part of the primary key.</param>
    private sealed record ExistingColumn(string Name, string Type, string? TypeName, bool IsArray, bool IsKey);

    public static async Task<(TableSetup Setup, TargetTable? Table)> EnsureAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string schema, TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken)
    {
        var qualified = $"{Sql.Quote(schema)}.{Sql.Quote(table.DestinationName)}";
        if (SchemaChangePlan.MetadataCollision(table) is { } collision)
        {
            return (Refused(collision), null);
        }

        var (existing, primaryKey) = await ReadAsync(connection, transaction, schema, table.DestinationName, cancellationToken).ConfigureAwait(false);
        var created = false;
        List<string> added = [], dropped = [], retyped = [], ignored = [];
        if (existing is null)
        {
            await ExecuteAsync(connection, transaction, CreateTable(qualified, table), cancellationToken).ConfigureAwait(false);
            created = true;
        }
        else
        {
            var byName = existing.Where(c => !MetadataColumns.All.Contains(c.Name)).ToDictionary(c => c.Name, StringComparer.Ordinal);
            var sourceKey = table.KeyIndexes.Select(i => table.Columns[i].Name).ToHashSet(StringComparer.Ordinal);
            var targetKey = byName.Values.Where(c => c.IsKey).Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
            var keyChanged = !sourceKey.SetEquals(targetKey);
            var plan = SchemaChangePlan.Decide(table, byName.Keys,
                c => string.Equals(byName[c.Name].Type, PostgresTypes.TargetType(c.Type), StringComparison.Ordinal) ? null : $"{byName[c.Name].Type} → {PostgresTypes.TargetType(c.Type)}",
                policy,
                keyChanged ? $"({string.Join(", ", targetKey.Order(StringComparer.Ordinal))}) → ({string.Join(", ", sourceKey.Order(StringComparer.Ordinal))})" : null);
            var differences = plan.Differences;
            if (plan.QuarantineReason is { } reason)
            {
                return (Refused(reason), null);
            }

            var actions = new List<string>();
            actions.AddRange(plan.Add.Select(c => $"ADD COLUMN {Sql.Quote(c.Name)} {PostgresTypes.TargetType(c.Type)}"));
            added.AddRange(plan.Add.Select(c => c.Name));
            ignored.AddRange(plan.Ignored);
            actions.AddRange(plan.Drop.Select(name => $"DROP COLUMN {Sql.Quote(name)}"));
            dropped.AddRange(plan.Drop);
            actions.AddRange(plan.Retype.Select(c => $"ALTER COLUMN {Sql.Quote(c.Name)} TYPE {PostgresTypes.TargetType(c.Type)} USING CAST({Sql.Quote(c.Name)} AS {PostgresTypes.TargetType(c.Type)})"));
            retyped.AddRange(plan.Retype.Select(c => c.Name));
            if (keyChanged && policy == SchemaChangePolicy.Propagate)
            {
                if (primaryKey is not null)
                {
                    actions.Insert(0, $"DROP CONSTRAINT {Sql.Quote(primaryKey)}");
                }

                actions.Add($"ADD PRIMARY KEY ({string.Join(", ", table.KeyIndexes.Select(i => Sql.Quote(table.Columns[i].Name)))})");
            }

            if (actions.Count > 0)
            {
                await ExecuteAsync(connection, transaction, $"SAVEPOINT {Savepoint}", cancellationToken).ConfigureAwait(false);
                try
                {
                    await ExecuteAsync(connection, transaction, $"ALTER TABLE {qualified} {string.Join(", ", actions)}", cancellationToken).ConfigureAwait(false);
                    await ExecuteAsync(connection, transaction, $"RELEASE SAVEPOINT {Savepoint}", cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException e) when (IsDataError(e) || e.SqlState.StartsWith("0A", StringComparison.Ordinal) || e.SqlState.StartsWith("2B", StringComparison.Ordinal))
                {
                    // 0A000 and 2BP01: a view or another object depends on the column.
                    await ExecuteAsync(connection, transaction, $"ROLLBACK TO SAVEPOINT {Savepoint}", cancellationToken).ConfigureAwait(false);
                    // The server's message may quote a row's value; the reason is stored and shown, so it names only the error.
                    return (Refused($"the target could not follow the source ({differences}): SQLSTATE {e.SqlState}"), null);
                }
            }
        }

        if (created || added.Count + dropped.Count + retyped.Count > 0)
        {
            (existing, _) = await ReadAsync(connection, transaction, schema, table.DestinationName, cancellationToken).ConfigureAwait(false);
        }

        var columns = new List<TargetColumn>();
        var targetColumns = existing!.ToDictionary(c => c.Name, StringComparer.Ordinal);
        foreach (var column in table.Columns)
        {
            if (ignored.Contains(column.Name) || !targetColumns.TryGetValue(column.Name, out var target))
            {
                continue;
            }

            var (wireType, dbType, needsCast) = PostgresTypes.Wire(column.Type.Kind, column.Type.IsArray, target.TypeName, target.IsArray);
            if (needsCast && !await CanCastAsync(connection, transaction, wireType, target.Type, cancellationToken).ConfigureAwait(false))
            {
                if (column.IsKey)
                {
                    return (Refused($"key column {column.Name} ({column.Type}) cannot be written to the target's {target.Type}"), null);
                }

                ignored.Add(column.Name);
                continue;
            }

            columns.Add(new TargetColumn(column.Name, column.IsKey, target.Type, wireType, dbType, needsCast));
        }

        var setup = new TableSetup(created, added, dropped, retyped, null, ignored);
        return (setup, new TargetTable(table.Source, schema, table.DestinationName, columns));
    }

    private static TableSetup Refused(string reason) => new(false, [], [], [], reason, []);

    private static string CreateTable(string qualified, TableSchema table)
    {
        var columns = table.Columns.Select(c => $"{Sql.Quote(c.Name)} {PostgresTypes.TargetType(c.Type)}").Concat(
        [
            $"{Sql.Quote(MetadataColumns.Position)} bigint",
            $"{Sql.Quote(MetadataColumns.Sequence)} bigint",
            $"{Sql.Quote(MetadataColumns.CommittedAt)} timestamp with time zone",
            $"{Sql.Quote(MetadataColumns.SyncedAt)} timestamp with time zone",
            $"{Sql.Quote(MetadataColumns.Deleted)} boolean NOT NULL DEFAULT false",
            $"{Sql.Quote(MetadataColumns.DeletedAt)} timestamp with time zone",
            $"PRIMARY KEY ({string.Join(", ", table.KeyIndexes.Select(i => Sql.Quote(table.Columns[i].Name)))})",
        ]);
        return $"CREATE TABLE {qualified} ({string.Join(", ", columns)})";
    }

    private static async Task<(List<ExistingColumn>? Columns, string? PrimaryKey)> ReadAsync(
        NpgsqlConnection connection, NpgsqlTransaction transaction, string schema, string name, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT a.attname,
                   format_type(a.atttypid, a.atttypmod),
                   CASE WHEN coalesce(e.typnamespace, t.typnamespace) = 'pg_catalog'::regnamespace THEN coalesce(e.typname, t.typname) END,
                   e.oid IS NOT NULL,
                   coalesce(a.attnum = ANY (i.indkey), false),
                   k.conname
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_type e ON e.oid = t.typelem AND t.typcategory = 'A'
            LEFT JOIN pg_index i ON i.indrelid = c.oid AND i.indisprimary
            LEFT JOIN pg_constraint k ON k.conindid = i.indexrelid AND k.contype = 'p'
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
            ORDER BY a.attnum
            """;
        await using var command = Sql.Command(sql, connection, transaction, schema, name);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var columns = new List<ExistingColumn>();
        string? primaryKey = null;
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            columns.Add(new ExistingColumn(
                reader.GetString(0),
                reader.GetString(1),
                reader.IsDBNull(2) ? null : reader.GetString(2),
                reader.GetBoolean(3),
                reader.GetBoolean(4)));
            primaryKey ??= reader.IsDBNull(5) ? null : reader.GetString(5);
        }

        return (columns.Count == 0 ? null : columns, primaryKey);
    }

    private static async Task<bool> CanCastAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string from, string to, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, transaction, $"SAVEPOINT {Savepoint}", cancellationToken).ConfigureAwait(false);
        try
        {
            await ExecuteAsync(connection, transaction, $"SELECT CAST(CAST(NULL AS {from}) AS {to})", cancellationToken).ConfigureAwait(false);
            await ExecuteAsync(connection, transaction, $"RELEASE SAVEPOINT {Savepoint}", cancellationToken).ConfigureAwait(false);
            return true;
        }
        catch (PostgresException e) when (IsDataError(e))
        {
            await ExecuteAsync(connection, transaction, $"ROLLBACK TO SAVEPOINT {Savepoint}", cancellationToken).ConfigureAwait(false);
            return false;
        }
    }

    /// <summary>Errors caused by the data or the types (classes 22, 23, 42), as opposed to the connection or the server.</summary>
    public static bool IsDataError(PostgresException e) =>
        e.SqlState.StartsWith("22", StringComparison.Ordinal)
        || e.SqlState.StartsWith("23", StringComparison.Ordinal)
        || e.SqlState.StartsWith("42", StringComparison.Ordinal);

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = Sql.Command(sql, connection, transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
