using System.Globalization;
using DuckDB.NET.Data;
using Freshet.Emulators.BigQuery.Catalog;
using Freshet.Emulators.BigQuery.Rest;
using Freshet.Emulators.BigQuery.Storage;

namespace Freshet.Emulators.BigQuery.Engine;

/// <summary>A query result: BigQuery column names and types, rows of DuckDB values, and the DML count when it was DML.</summary>
internal sealed record QueryResult(IReadOnlyList<(string Name, string Type)> Columns, IReadOnlyList<object?[]> Rows, long? AffectedRows);

/// <summary>
/// The project's storage: one in-memory DuckDB with a schema per dataset, the tables' BigQuery metadata beside it, and
/// per CDC table the newest <c>_CHANGE_SEQUENCE_NUMBER</c> applied to each primary key (deleted keys included, so an
/// older UPSERT arriving after a DELETE does not bring the row back). One operation at a time, under a lock.
/// </summary>
internal sealed class DuckDbStore : IDisposable
{
    private readonly DuckDBConnection _connection;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly HashSet<string> _datasets = new(StringComparer.Ordinal);
    private readonly Dictionary<(string Dataset, string Table), TableDefinition> _tables = [];
    private readonly Dictionary<(string Dataset, string Table), Dictionary<string, ChangeSequence>> _sequences = [];
    private readonly TimeProvider _time;

    public DuckDbStore(IEnumerable<string> datasets, TimeProvider time)
    {
        _time = time;
        _connection = new DuckDBConnection("Data Source=:memory:");
        _connection.Open();
        Run("SET TimeZone = 'UTC'");
        foreach (var dataset in datasets)
        {
            Run($"CREATE SCHEMA {Quote(dataset)}");
            _datasets.Add(dataset);
        }
    }

    public bool HasDataset(string dataset) => _datasets.Contains(dataset);

    public TableDefinition? FindTable(string dataset, string table)
    {
        lock (_tables)
        {
            return _tables.GetValueOrDefault((dataset, table));
        }
    }

    public async Task<TableDefinition> CreateTableAsync(TableDefinition table, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            lock (_tables)
            {
                if (_tables.ContainsKey((table.Dataset, table.Table)))
                {
                    throw RestError.Duplicate($"Table {table.Dataset}.{table.Table}");
                }
            }
            var columns = table.Fields.Select(f => $"{Quote(f.Name)} {f.DuckDbType}{(f.IsRequired ? " NOT NULL" : "")}");
            Run($"CREATE TABLE {Qualified(table)} ({string.Join(", ", columns)})");
            lock (_tables)
            {
                _tables[(table.Dataset, table.Table)] = table;
            }
            return table;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// tables.patch: fields may be added (NULLABLE only) and REQUIRED relaxed to NULLABLE; existing fields keep their
    /// type and none may be removed (cloud.google.com/bigquery/docs/managing-table-schemas).
    /// </summary>
    public async Task<TableDefinition> PatchTableAsync(TableDefinition current, IReadOnlyList<BigQueryField>? fields, IReadOnlyList<string>? primaryKey,
        string? maxStaleness, bool maxStalenessGiven, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            var statements = new List<string>();
            if (fields is not null)
            {
                foreach (var old in current.Fields)
                {
                    var now = fields.FirstOrDefault(f => string.Equals(f.Name, old.Name, StringComparison.OrdinalIgnoreCase))
                        ?? throw RestError.Invalid($"Provided Schema does not match Table {current.Dataset}.{current.Table}. Field {old.Name} is missing in new schema");
                    if (now.Type != old.Type || now.Precision != old.Precision || now.Scale != old.Scale)
                    {
                        throw RestError.Invalid($"Provided Schema does not match Table {current.Dataset}.{current.Table}. Field {old.Name} has changed type from {old.Type} to {now.Type}");
                    }
                    if (now.IsRequired && !old.IsRequired)
                    {
                        throw RestError.Invalid($"Provided Schema does not match Table {current.Dataset}.{current.Table}. Field {old.Name} has changed mode from NULLABLE to REQUIRED");
                    }
                    if (!now.IsRequired && old.IsRequired)
                    {
                        statements.Add($"ALTER TABLE {Qualified(current)} ALTER COLUMN {Quote(old.Name)} DROP NOT NULL");
                    }
                }
                foreach (var added in fields.Where(f => current.Field(f.Name) is null))
                {
                    if (added.IsRequired)
                    {
                        throw RestError.Invalid($"Provided Schema does not match Table {current.Dataset}.{current.Table}. Cannot add required field {added.Name}.");
                    }
                    statements.Add($"ALTER TABLE {Qualified(current)} ADD COLUMN {Quote(added.Name)} {added.DuckDbType}");
                }
            }
            var next = current with
            {
                Fields = fields ?? current.Fields,
                PrimaryKey = primaryKey ?? current.PrimaryKey,
                MaxStaleness = maxStalenessGiven ? maxStaleness : current.MaxStaleness,
                ModifiedAt = _time.GetUtcNow(),
                Generation = current.Generation + 1,
            };
            ValidatePrimaryKey(next);
            foreach (var statement in statements)
            {
                Run(statement);
            }
            lock (_tables)
            {
                _tables[(current.Dataset, current.Table)] = next;
            }
            return next;
        }
        finally
        {
            _lock.Release();
        }
    }

    public static void ValidatePrimaryKey(TableDefinition table)
    {
        if (table.PrimaryKey.Count > 16)
        {
            throw RestError.Invalid($"Table {table.Table}: a primary key has at most 16 columns.");
        }
        foreach (var column in table.PrimaryKey)
        {
            if (table.Field(column) is null)
            {
                throw RestError.Invalid($"Primary key column {column} is not a field of table {table.Table}.");
            }
        }
        if (table.PrimaryKey.Distinct(StringComparer.OrdinalIgnoreCase).Count() != table.PrimaryKey.Count)
        {
            throw RestError.Invalid($"Table {table.Table}: a column appears twice in the primary key.");
        }
    }

    /// <summary>
    /// Writes one AppendRows request's rows in one transaction. Without <c>_CHANGE_TYPE</c> rows are appended. With it,
    /// per primary key: a row whose sequence number is older than the newest applied one for its key is ignored; an
    /// UPSERT replaces the row (absent fields become NULL), a DELETE removes it.
    /// </summary>
    public async Task<int> ApplyAsync(TableDefinition table, IReadOnlyList<DecodedRow> rows, bool cdc, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            var known = _sequences.TryGetValue((table.Dataset, table.Table), out var existing) ? existing : [];
            var pending = new Dictionary<string, ChangeSequence>(StringComparer.Ordinal);
            var keyIndexes = table.PrimaryKey.Select(k => table.Fields.ToList().FindIndex(f => string.Equals(f.Name, k, StringComparison.OrdinalIgnoreCase))).ToArray();
            var applied = 0;
            Run("BEGIN TRANSACTION");
            try
            {
                // A CDC write to a keyed table keeps, per key, the last change that passes the sequence check; then the
                // touched keys are deleted and the surviving UPSERTs inserted, many rows a statement. Same end state as
                // deleting and inserting row by row, which bench/run warehouses found at about 1,000 rows/s: DuckDB has no
                // index on these tables (BigQuery's keys are NOT ENFORCED), so each DELETE scanned the whole table, and
                // DuckDB.NET parses and plans every execution, about 1 ms a statement on a loaded 2-core machine.
                var plain = new List<DecodedRow>();
                var latest = new Dictionary<string, DecodedRow>(StringComparer.Ordinal);
                foreach (var row in rows)
                {
                    if (cdc)
                    {
                        var key = KeyOf(row, keyIndexes);
                        if (row.Sequence is { } sequence)
                        {
                            var newest = pending.GetValueOrDefault(key) ?? known.GetValueOrDefault(key);
                            if (newest is not null && sequence.CompareTo(newest) < 0)
                            {
                                continue;
                            }
                            pending[key] = sequence;
                        }
                        applied++;
                        if (keyIndexes.Length > 0)
                        {
                            latest[key] = row;
                            continue;
                        }
                        if (row.ChangeType == "DELETE")
                        {
                            // Only tables with a primary key take deletes.
                            continue;
                        }
                    }
                    else
                    {
                        applied++;
                    }
                    plain.Add(row);
                }
                InsertRows(table, plain);
                if (latest.Count > 0)
                {
                    DeleteKeys(table, keyIndexes, [.. latest.Values]);
                    InsertRows(table, [.. latest.Values.Where(r => r.ChangeType != "DELETE")]);
                }
                Run("COMMIT");
            }
            catch
            {
                TryRun("ROLLBACK");
                throw;
            }
            if (pending.Count > 0)
            {
                if (existing is null)
                {
                    existing = [];
                    _sequences[(table.Dataset, table.Table)] = existing;
                }
                foreach (var (key, sequence) in pending)
                {
                    existing[key] = sequence;
                }
            }
            return applied;
        }
        finally
        {
            _lock.Release();
        }
    }

    // Rows per multi-row statement: one parse and plan for this many rows.
    private const int RowsPerStatement = 1000;

    /// <summary>Inserts <paramref name="rows"/> in order, many a statement; each value is cast to its column's type, as a one-row INSERT would.</summary>
    private void InsertRows(TableDefinition table, IReadOnlyList<DecodedRow> rows)
    {
        var columns = string.Join(", ", table.Fields.Select(f => Quote(f.Name)));
        var types = table.Fields.Select(f => f.DuckDbType).ToList();
        foreach (var chunk in rows.Chunk(RowsPerStatement))
        {
            using var insert = _connection.CreateCommand();
            insert.CommandText = $"INSERT INTO {Qualified(table)} ({columns}) VALUES {Placeholders(chunk.Length, types)}";
            foreach (var row in chunk)
            {
                foreach (var value in row.Values)
                {
                    insert.Parameters.Add(new DuckDBParameter { Value = value ?? DBNull.Value });
                }
            }
            insert.ExecuteNonQuery();
        }
    }

    /// <summary>Deletes the rows whose primary key is one of <paramref name="rows"/>' keys, many keys a statement (the caller's transaction).</summary>
    private void DeleteKeys(TableDefinition table, int[] keyIndexes, IReadOnlyList<DecodedRow> rows)
    {
        var columns = keyIndexes.Select(k => Quote(table.Fields[k].Name)).ToList();
        var types = keyIndexes.Select(k => table.Fields[k].DuckDbType).ToList();
        foreach (var chunk in rows.Chunk(RowsPerStatement))
        {
            using var delete = _connection.CreateCommand();
            delete.CommandText = $"DELETE FROM {Qualified(table)} AS t USING (VALUES {Placeholders(chunk.Length, types)}) AS k({string.Join(", ", columns)}) "
                + $"WHERE {string.Join(" AND ", columns.Select(c => $"t.{c} = k.{c}"))}";
            foreach (var row in chunk)
            {
                foreach (var k in keyIndexes)
                {
                    delete.Parameters.Add(new DuckDBParameter { Value = row.Values[k] ?? DBNull.Value });
                }
            }
            delete.ExecuteNonQuery();
        }
    }

    /// <summary><c>(CAST($1 AS T1), …), (…)</c>: <paramref name="rows"/> tuples of numbered parameters cast to <paramref name="types"/>.</summary>
    private static string Placeholders(int rows, IReadOnlyList<string> types)
    {
        var text = new System.Text.StringBuilder();
        var number = 1;
        for (var r = 0; r < rows; r++)
        {
            text.Append(r == 0 ? "(" : ", (");
            for (var c = 0; c < types.Count; c++)
            {
                text.Append(c == 0 ? "" : ", ").Append(CultureInfo.InvariantCulture, $"CAST(${number++} AS {types[c]})");
            }
            text.Append(')');
        }
        return text.ToString();
    }

    /// <summary>Runs translated statements as one script: a failure rolls back an open transaction and ends the script.</summary>
    public async Task<QueryResult> RunScriptAsync(IReadOnlyList<string> statements, IReadOnlyDictionary<string, object?> parameters, CancellationToken cancellationToken,
        string? defaultDataset = null)
    {
        await _lock.WaitAsync(cancellationToken);
        var inTransaction = false;
        try
        {
            // defaultDataset: unqualified table names resolve in that dataset for this request only.
            Run(defaultDataset is null ? "SET schema = 'main'" : $"SET schema = '{defaultDataset.Replace("'", "''", StringComparison.Ordinal)}'");
            QueryResult? last = null;
            foreach (var sql in statements)
            {
                var keyword = FirstKeyword(sql);
                inTransaction = keyword switch
                {
                    "BEGIN" => true,
                    "COMMIT" or "ROLLBACK" => false,
                    _ => inTransaction,
                };
                using var command = _connection.CreateCommand();
                command.CommandText = sql;
                foreach (var (name, value) in parameters)
                {
                    if (sql.Contains("$" + name, StringComparison.Ordinal))
                    {
                        command.Parameters.Add(new DuckDBParameter(name, value ?? DBNull.Value));
                    }
                }
                try
                {
                    if (keyword is "INSERT" or "UPDATE" or "DELETE" or "MERGE")
                    {
                        last = new QueryResult([], [], command.ExecuteNonQuery());
                    }
                    else
                    {
                        using var reader = command.ExecuteReader();
                        var columns = Enumerable.Range(0, reader.FieldCount).Select(i => (reader.GetName(i), BigQueryTypeOf(reader, i))).ToList();
                        var rows = new List<object?[]>();
                        while (reader.Read())
                        {
                            var row = new object?[reader.FieldCount];
                            for (var i = 0; i < row.Length; i++)
                            {
                                row[i] = reader.IsDBNull(i) ? null : ReadValue(reader, i);
                            }
                            rows.Add(row);
                        }
                        last = new QueryResult(columns, rows, null);
                    }
                }
                catch (DuckDBException exception)
                {
                    throw RestError.InvalidQuery(exception.Message);
                }
            }
            if (statements.Any(s => FirstKeyword(s) == "DROP"))
            {
                ForgetDroppedTables();
            }
            if (statements.Any(s => FirstKeyword(s) == "ALTER"))
            {
                ForgetDroppedColumns();
            }
            return last ?? new QueryResult([], [], null);
        }
        finally
        {
            if (inTransaction)
            {
                TryRun("ROLLBACK");
            }
            _lock.Release();
        }
    }

    // ALTER TABLE … DROP COLUMN through jobs.query (GoogleSQL DDL): the field leaves the table's schema, so Storage Write
    // writer schemas and tables.get see the table as it now is. Other ALTERs (types, options) are not reflected.
    private void ForgetDroppedColumns()
    {
        var columns = new HashSet<(string, string, string)>();
        using (var command = _connection.CreateCommand())
        {
            command.CommandText = "SELECT table_schema, table_name, column_name FROM information_schema.columns";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                columns.Add((reader.GetString(0), reader.GetString(1), reader.GetString(2)));
            }
        }
        lock (_tables)
        {
            foreach (var (key, table) in _tables.ToList())
            {
                var kept = table.Fields.Where(f => columns.Contains((key.Dataset, key.Table, f.Name))).ToList();
                if (kept.Count != table.Fields.Count)
                {
                    _tables[key] = table with { Fields = kept, ModifiedAt = _time.GetUtcNow(), Generation = table.Generation + 1 };
                }
            }
        }
    }

    // DROP TABLE through jobs.query: the table's metadata and CDC state go with it. (CREATE TABLE through a query is not
    // registered: the emulator takes tables from tables.insert, which carries the primary key and field modes.)
    private void ForgetDroppedTables()
    {
        var existing = new HashSet<(string, string)>();
        using (var command = _connection.CreateCommand())
        {
            command.CommandText = "SELECT table_schema, table_name FROM information_schema.tables";
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                existing.Add((reader.GetString(0), reader.GetString(1)));
            }
        }
        lock (_tables)
        {
            foreach (var key in _tables.Keys.Where(k => !existing.Contains(k)).ToList())
            {
                _tables.Remove(key);
                _sequences.Remove(key);
            }
        }
    }

    /// <summary>Runs DuckDB SQL directly (tests inspecting tables; schemas are dataset names).</summary>
    public async Task<List<object?[]>> QueryDirectAsync(string sql, CancellationToken cancellationToken)
    {
        var result = await RunScriptAsync([sql], new Dictionary<string, object?>(), cancellationToken);
        return [.. result.Rows];
    }

    public void Dispose()
    {
        _connection.Dispose();
        _lock.Dispose();
    }

    public static string Quote(string identifier) => "\"" + identifier.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string Qualified(TableDefinition table) => $"{Quote(table.Dataset)}.{Quote(table.Table)}";

    private static string FirstKeyword(string sql)
    {
        var trimmed = sql.TrimStart(' ', '\n', '\r', '\t', '(');
        var end = 0;
        while (end < trimmed.Length && char.IsAsciiLetter(trimmed[end]))
        {
            end++;
        }
        return trimmed[..end].ToUpperInvariant();
    }

    private static string KeyOf(DecodedRow row, int[] keyIndexes) =>
        string.Join('\u001f', keyIndexes.Select(k => row.Values[k] switch
        {
            byte[] bytes => Convert.ToBase64String(bytes),
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            var other => other?.ToString() ?? "",
        }));

    private static object ReadValue(DuckDBDataReader reader, int ordinal)
    {
        var value = reader.GetValue(ordinal);
        if (value is Stream stream)
        {
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            return copy.ToArray();
        }
        return value;
    }

    private static string BigQueryTypeOf(DuckDBDataReader reader, int ordinal) => reader.GetDataTypeName(ordinal) switch
    {
        "TinyInt" or "SmallInt" or "Integer" or "BigInt" or "HugeInt" or "UnsignedTinyInt" or "UnsignedSmallInt" or "UnsignedInteger" or "UnsignedBigInt" => "INTEGER",
        "Decimal" => "NUMERIC",
        "Float" or "Double" => "FLOAT",
        "Boolean" => "BOOLEAN",
        "Date" => "DATE",
        "Time" => "TIME",
        "Timestamp" or "TimestampNs" or "TimestampMs" or "TimestampS" => "DATETIME",
        "TimestampTz" => "TIMESTAMP",
        "Blob" => "BYTES",
        _ => "STRING",
    };

    private void Run(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private void TryRun(string sql)
    {
        try
        {
            Run(sql);
        }
        catch (DuckDBException)
        {
            // Nothing to roll back: the failure already ended the transaction.
        }
    }
}
