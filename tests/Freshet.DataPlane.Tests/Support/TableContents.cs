using System.Globalization;
using System.Text;
using DuckDB.NET.Data;
using Freshet.DataPlane.Destinations.DuckDb;
using Npgsql;

namespace Freshet.DataPlane.Tests.Support;

/// <summary>A table's rows as canonical text, keyed by the canonical key, for comparing a source with a destination.</summary>
internal sealed class TableContents(string name, IReadOnlyList<string> columns, Dictionary<string, string[]> rows)
{
    public string Name { get; } = name;

    public IReadOnlyList<string> Columns { get; } = columns;

    public IReadOnlyDictionary<string, string[]> Rows { get; } = rows;

    /// <summary>Reads a source (or PostgreSQL destination) table. Columns listed in <paramref name="asText"/> are read as text (wide numerics, enums).</summary>
    public static async Task<TableContents> FromPostgresAsync(
        string connectionString, string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys,
        IReadOnlySet<string>? asText = null, IReadOnlySet<string>? json = null, string? where = null)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var select = string.Join(", ", columns.Select(c => asText?.Contains(c) == true ? $"\"{c}\"::text AS \"{c}\"" : TextArrays.Contains(c) ? $"\"{c}\"::text[] AS \"{c}\"" : $"\"{c}\""));
        await using var command = new NpgsqlCommand($"SELECT {select} FROM {table}{(where is null ? "" : " WHERE " + where)}", connection);
        await using var reader = await command.ExecuteReaderAsync();
        return await ReadAsync(table, columns, keys, json, async () => await reader.ReadAsync(), i => reader.IsDBNull(i) ? null : PostgresValue(reader, i));
    }

    /// <summary>Reads a MariaDB source table (the session in UTC, so TIMESTAMP values are instants as the destination holds them).</summary>
    public static async Task<TableContents> FromMariaDbAsync(string connectionString, string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys)
    {
        await using var connection = new MySqlConnector.MySqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var zone = new MySqlConnector.MySqlCommand("SET time_zone = '+00:00'", connection))
        {
            await zone.ExecuteNonQueryAsync();
        }

        await using var command = new MySqlConnector.MySqlCommand($"SELECT {string.Join(", ", columns.Select(c => $"`{c}`"))} FROM `{table}`", connection);
        await using var reader = await command.ExecuteReaderAsync();
        return await ReadAsync(table, columns, keys, null, async () => await reader.ReadAsync(), i => reader.IsDBNull(i) ? null
            : reader.GetDataTypeName(i) == "DATE" ? DateOnly.FromDateTime(reader.GetDateTime(i)) : reader.GetValue(i));
    }

    /// <summary>Reads a DuckDB destination table the way any other process would: read-only, waiting for the writer politely.</summary>
    public static async Task<TableContents> FromDuckDbAsync(
        string path, string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys,
        IReadOnlySet<string>? json = null, string? where = null)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(30), CancellationToken.None);
        return await FromDuckDbAsync(connection, table, columns, keys, json, where);
    }

    public static async Task<TableContents> FromDuckDbAsync(
        DuckDBConnection connection, string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys,
        IReadOnlySet<string>? json = null, string? where = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = $"SELECT {string.Join(", ", columns.Select(c => $"\"{c}\""))} FROM \"{table}\"{(where is null ? "" : " WHERE " + where)}";
        await using var reader = await command.ExecuteReaderAsync();
        return await ReadAsync(table, columns, keys, json, async () => await reader.ReadAsync(), i => reader.IsDBNull(i) ? null : DuckDbValue(reader, i));
    }

    /// <summary>One value of a query on a DuckDB file, as text (read the way another process would).</summary>
    public static async Task<string?> ScalarFromDuckDbAsync(string path, string sql)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToString(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }

    /// <summary>Describes every difference (missing, unexpected and differing rows); empty when equal.</summary>
    public string DifferencesFrom(TableContents expected, int limit = 8)
    {
        var report = new StringBuilder();
        var missing = expected.Rows.Keys.Where(k => !Rows.ContainsKey(k)).ToList();
        var extra = Rows.Keys.Where(k => !expected.Rows.ContainsKey(k)).ToList();
        var differing = expected.Rows.Where(r => Rows.TryGetValue(r.Key, out var actual) && !actual.SequenceEqual(r.Value)).ToList();
        if (missing.Count + extra.Count + differing.Count == 0)
        {
            return "";
        }

        report.AppendLine($"{Name}: {expected.Rows.Count} rows expected, {Rows.Count} found; {missing.Count} missing, {extra.Count} unexpected, {differing.Count} differing.");
        foreach (var key in missing.Take(limit))
        {
            report.AppendLine($"  missing {key}");
        }

        foreach (var key in extra.Take(limit))
        {
            report.AppendLine($"  unexpected {key}: {string.Join(" | ", Rows[key])}");
        }

        foreach (var (key, values) in differing.Take(limit))
        {
            var actual = Rows[key];
            var columns = Columns.Select((c, i) => (c, i)).Where(x => actual[x.i] != values[x.i])
                .Select(x => $"{x.c}: expected «{Shorten(values[x.i])}» found «{Shorten(actual[x.i])}»");
            report.AppendLine($"  differs {key}: {string.Join("; ", columns)}");
        }

        return report.ToString();
    }

    private static async Task<TableContents> ReadAsync(
        string table, IReadOnlyList<string> columns, IReadOnlyList<string> keys, IReadOnlySet<string>? json, Func<Task<bool>> read, Func<int, object?> value)
    {
        var keyIndexes = keys.Select(k => columns.ToList().IndexOf(k)).ToArray();
        var rows = new Dictionary<string, string[]>();
        while (await read())
        {
            var values = new string[columns.Count];
            for (var i = 0; i < columns.Count; i++)
            {
                values[i] = json?.Contains(columns[i]) == true ? Canonical.Json(value(i)) : Canonical.Of(value(i));
            }

            var key = string.Join("/", keyIndexes.Select(i => values[i]));
            if (!rows.TryAdd(key, values))
            {
                throw new InvalidOperationException($"{table} holds key {key} twice.");
            }
        }

        return new TableContents(table, columns, rows);
    }

    /// <summary>Enum arrays read as text arrays (the destination has no enum type).</summary>
    private static readonly HashSet<string> TextArrays = ["moods"];

    /// <summary>Arrays whose elements may be null need a nullable element type in Npgsql.</summary>
    private static object PostgresValue(NpgsqlDataReader reader, int i) => reader.GetDataTypeName(i) switch
    {
        "smallint[]" => reader.GetFieldValue<short?[]>(i),
        "integer[]" => reader.GetFieldValue<int?[]>(i),
        "bigint[]" => reader.GetFieldValue<long?[]>(i),
        "numeric[]" => reader.GetFieldValue<decimal?[]>(i),
        "boolean[]" => reader.GetFieldValue<bool?[]>(i),
        "uuid[]" => reader.GetFieldValue<Guid?[]>(i),
        "interval" => reader.GetFieldValue<NpgsqlTypes.NpgsqlInterval>(i),
        _ => reader.GetValue(i),
    };

    /// <summary>DuckDB.NET reads lists with null elements only into lists of a nullable element type.</summary>
    private static object DuckDbValue(System.Data.Common.DbDataReader reader, int i)
    {
        var type = reader.GetFieldType(i);
        if (type == typeof(TimeSpan))
        {
            return reader.GetFieldValue<DuckDB.NET.Native.DuckDBInterval>(i);
        }

        if (type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) && type.GetGenericArguments()[0] is { IsValueType: true } element
            && Nullable.GetUnderlyingType(element) is null)
        {
            var nullable = typeof(List<>).MakeGenericType(typeof(Nullable<>).MakeGenericType(element));
            return typeof(System.Data.Common.DbDataReader).GetMethod(nameof(System.Data.Common.DbDataReader.GetFieldValue))!
                .MakeGenericMethod(nullable).Invoke(reader, [i])!;
        }

        return reader.GetValue(i);
    }

    private static string Shorten(string value) => value.Length > 80 ? value[..77] + "…" : value;
}
