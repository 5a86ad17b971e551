using Freshet.DataPlane.Schema;
using Npgsql;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>Reads table and type definitions from the source's catalog.</summary>
internal sealed class PgCatalog(NpgsqlDataSource dataSource)
{
    private readonly Dictionary<(uint Oid, int TypeModifier), PgTypeInfo> _types = [];

    /// <summary>Describes each selected table: its columns in order, their types and the key the destination merges on.</summary>
    public async Task<IReadOnlyList<SourceTable>> DescribeAsync(IReadOnlyList<Freshet.Contracts.TableSpec> tables, CancellationToken cancellationToken)
    {
        const string sql = """
            SELECT s.schema_name, s.table_name, c.relreplident::text,
                   a.attname, a.atttypid, a.atttypmod, format_type(a.atttypid, a.atttypmod),
                   coalesce(et.typtype, t.typtype)::text, CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END,
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary AND a.attnum = ANY (i.indkey)),
                   EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident AND a.attnum = ANY (i.indkey)),
                   has_table_privilege(c.oid, 'SELECT'), c.relkind::text
            FROM unnest(@schemas, @names) AS s(schema_name, table_name)
            LEFT JOIN pg_namespace n ON n.nspname = s.schema_name
            LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = s.table_name
            LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
            LEFT JOIN pg_type t ON t.oid = a.atttypid
            LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
            ORDER BY s.schema_name, s.table_name, a.attnum
            """;
        await using var command = dataSource.CreateCommand(sql);
        command.Parameters.AddWithValue("schemas", tables.Select(t => t.Schema).ToArray());
        command.Parameters.AddWithValue("names", tables.Select(t => t.Name).ToArray());
        var rows = new List<CatalogRow>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add(new CatalogRow(
                    reader.GetString(0),
                    reader.GetString(1),
                    reader.IsDBNull(2) ? null : reader.GetString(2),
                    reader.IsDBNull(3) ? null : reader.GetString(3),
                    reader.IsDBNull(4) ? 0 : reader.GetFieldValue<uint>(4),
                    reader.IsDBNull(5) ? -1 : reader.GetInt32(5),
                    reader.IsDBNull(6) ? "" : reader.GetString(6),
                    reader.IsDBNull(7) ? 'b' : reader.GetString(7)[0],
                    reader.IsDBNull(8) ? 0 : reader.GetFieldValue<uint>(8),
                    !reader.IsDBNull(9) && reader.GetBoolean(9),
                    !reader.IsDBNull(10) && reader.GetBoolean(10),
                    !reader.IsDBNull(11) && reader.GetBoolean(11),
                    reader.IsDBNull(12) ? null : reader.GetString(12)));
            }
        }

        var result = new List<SourceTable>();
        foreach (var spec in tables)
        {
            var id = new TableId(spec.Schema, spec.Name);
            var columns = rows.Where(r => r.Schema == spec.Schema && r.Table == spec.Name).ToList();
            result.Add(Describe(id, spec, columns));
        }

        return result;
    }

    /// <summary>Type details for a column announced by a relation message; cached, the catalog is asked once per type.</summary>
    public async ValueTask<PgTypeInfo> TypeAsync(uint oid, int typeModifier, CancellationToken cancellationToken)
    {
        if (_types.TryGetValue((oid, typeModifier), out var known))
        {
            return known;
        }

        await using var command = dataSource.CreateCommand("""
            SELECT format_type(t.oid, @modifier), coalesce(et.typtype, t.typtype)::text, CASE WHEN t.typcategory = 'A' THEN t.typelem ELSE 0 END
            FROM pg_type t LEFT JOIN pg_type et ON et.oid = t.typelem AND t.typcategory = 'A'
            WHERE t.oid = @oid
            """);
        command.Parameters.AddWithValue("oid", NpgsqlTypes.NpgsqlDbType.Oid, oid);
        command.Parameters.AddWithValue("modifier", typeModifier);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var info = await reader.ReadAsync(cancellationToken).ConfigureAwait(false)
            ? new PgTypeInfo(oid, typeModifier, reader.GetString(1)[0], reader.GetFieldValue<uint>(2), reader.GetString(0))
            : new PgTypeInfo(oid, typeModifier, '?', 0, $"type {oid}");
        _types[(oid, typeModifier)] = info;
        return info;
    }

    private static SourceTable Describe(TableId id, Freshet.Contracts.TableSpec spec, List<CatalogRow> rows)
    {
        if (rows.Count == 0 || rows[0].ReplicaIdentity is null)
        {
            return new SourceTable(id, null, $"table {id} does not exist (or this login cannot see it)", spec.Snapshot);
        }

        if (rows[0].Kind is not ("r" or "p"))
        {
            return new SourceTable(id, null, $"{id} is not a table (views and other relations cannot be replicated)", spec.Snapshot);
        }

        if (!rows[0].CanSelect)
        {
            return new SourceTable(id, null, $"the login has no SELECT privilege on {id}: GRANT SELECT ON {id} TO <login>", spec.Snapshot);
        }

        var hasPrimaryKey = rows.Any(r => r.InPrimaryKey);
        var hasIdentityIndex = rows.Any(r => r.InReplicaIdentityIndex);
        Func<CatalogRow, bool> isKey = rows[0].ReplicaIdentity switch
        {
            "i" when hasIdentityIndex => r => r.InReplicaIdentityIndex,
            "d" or "f" when hasPrimaryKey => r => r.InPrimaryKey,
            _ => _ => false,
        };
        if (!rows.Any(isKey))
        {
            return new SourceTable(id, null, rows[0].ReplicaIdentity == "n"
                ? $"{id} has REPLICA IDENTITY NOTHING, so its updates and deletes carry no key: ALTER TABLE {id} REPLICA IDENTITY DEFAULT (with a primary key)"
                : $"{id} has no primary key: add one, or ALTER TABLE {id} REPLICA IDENTITY USING INDEX <a unique index on NOT NULL columns>", spec.Snapshot);
        }

        var excluded = new HashSet<string>(spec.ExcludedColumns ?? [], StringComparer.Ordinal);
        var columns = new List<ColumnSchema>();
        var errors = new List<string>();
        foreach (var row in rows)
        {
            var key = isKey(row);
            if (excluded.Contains(row.Column!))
            {
                if (key)
                {
                    errors.Add($"key column {row.Column} cannot be excluded");
                }

                continue;
            }

            if (!PgTypeMapping.TryMap(new PgTypeInfo(row.TypeOid, row.TypeModifier, row.TypeType, row.ElementOid, row.TypeName), out var type, out var error))
            {
                errors.Add($"column {row.Column}: {error}");
                continue;
            }

            columns.Add(new ColumnSchema(row.Column!, type, key));
        }

        if (errors.Count > 0)
        {
            return new SourceTable(id, null, $"{id} cannot be replicated: {string.Join("; ", errors)}", spec.Snapshot);
        }

        return new SourceTable(id, new TableSchema(id, spec.DestinationName ?? spec.Name, columns), null, spec.Snapshot);
    }

    private sealed record CatalogRow(
        string Schema,
        string Table,
        string? ReplicaIdentity,
        string? Column,
        uint TypeOid,
        int TypeModifier,
        string TypeName,
        char TypeType,
        uint ElementOid,
        bool InPrimaryKey,
        bool InReplicaIdentityIndex,
        bool CanSelect,
        string? Kind);
}
