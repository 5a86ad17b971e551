using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Schema;
using MySqlConnector;
using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Describes selected tables from information_schema, in the same column types the binlog reader gives
/// (<see cref="BinlogColumn.ToColumnType"/>), and reads snapshot values into the same representations, so a row copied
/// by the snapshot and the same row replayed from the binlog are equal value by value.
/// </summary>
internal static class MySqlCatalog
{
    private const int TableAccessDenied = 1142;

    public static async Task<IReadOnlyList<SourceTable>> DescribeAsync(MySqlConnection connection, IReadOnlyList<TableSpec> tables, CancellationToken cancellationToken)
    {
        var result = new List<SourceTable>();
        foreach (var spec in tables)
        {
            result.Add(await DescribeAsync(connection, spec, cancellationToken).ConfigureAwait(false));
        }

        return result;
    }

    private static async Task<SourceTable> DescribeAsync(MySqlConnection connection, TableSpec spec, CancellationToken cancellationToken)
    {
        var id = new TableId(spec.Schema, spec.Name);
        var rows = new List<(string Name, string DataType, string ColumnType, long? Precision, long? Scale, long? Length, bool Key)>();
        string? tableType = null;
        await using (var command = new MySqlCommand("""
            SELECT t.TABLE_TYPE, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_TYPE, c.NUMERIC_PRECISION, c.NUMERIC_SCALE, c.CHARACTER_MAXIMUM_LENGTH, c.COLUMN_KEY
            FROM information_schema.TABLES t
            LEFT JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
            WHERE t.TABLE_SCHEMA = @schema AND t.TABLE_NAME = @name
            ORDER BY c.ORDINAL_POSITION
            """, connection))
        {
            command.Parameters.AddWithValue("@schema", spec.Schema);
            command.Parameters.AddWithValue("@name", spec.Name);
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                tableType = reader.GetString(0);
                if (reader.IsDBNull(1))
                {
                    continue;
                }

                rows.Add((reader.GetString(1), reader.GetString(2).ToLowerInvariant(), reader.GetString(3).ToLowerInvariant(),
                    reader.IsDBNull(4) ? null : Convert.ToInt64(reader.GetValue(4), CultureInfo.InvariantCulture),
                    reader.IsDBNull(5) ? null : Convert.ToInt64(reader.GetValue(5), CultureInfo.InvariantCulture),
                    reader.IsDBNull(6) ? null : Convert.ToInt64(reader.GetValue(6), CultureInfo.InvariantCulture),
                    string.Equals(reader.GetString(7), "PRI", StringComparison.Ordinal)));
            }
        }

        if (tableType is null)
        {
            return new SourceTable(id, null, $"table {id} does not exist (or this login cannot see it)", spec.Snapshot);
        }

        if (!string.Equals(tableType, "BASE TABLE", StringComparison.Ordinal))
        {
            return new SourceTable(id, null, $"{id} is not a table ({tableType}; views cannot be replicated)", spec.Snapshot);
        }

        try
        {
            await using var probe = new MySqlCommand($"SELECT 1 FROM {Identifier(id)} LIMIT 0", connection);
            await probe.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (MySqlException e) when (e.Number == TableAccessDenied)
        {
            return new SourceTable(id, null, $"the login has no SELECT privilege on {id}: GRANT SELECT ON {Identifier(id)} TO <login>", spec.Snapshot);
        }

        // Like the PostgreSQL source without a replica identity: without a key, updates and deletes cannot be matched
        // to a destination row, so the table is refused with what to do about it.
        if (!rows.Any(r => r.Key))
        {
            return new SourceTable(id, null, $"{id} has no primary key: add one (ALTER TABLE {Identifier(id)} ADD PRIMARY KEY (…))", spec.Snapshot);
        }

        var excluded = new HashSet<string>(spec.ExcludedColumns ?? [], StringComparer.Ordinal);
        var columns = new List<ColumnSchema>();
        var errors = new List<string>();
        foreach (var row in rows)
        {
            if (excluded.Contains(row.Name))
            {
                if (row.Key)
                {
                    errors.Add($"key column {row.Name} cannot be excluded");
                }

                continue;
            }

            var type = Map(row.DataType, row.ColumnType, row.Precision, row.Scale, row.Length);
            if (type is null)
            {
                errors.Add($"column {row.Name}: type {row.ColumnType} is not supported");
                continue;
            }

            columns.Add(new ColumnSchema(row.Name, type, row.Key));
        }

        return errors.Count > 0
            ? new SourceTable(id, null, $"{id} cannot be replicated: {string.Join("; ", errors)}", spec.Snapshot)
            : new SourceTable(id, new TableSchema(id, spec.DestinationName ?? spec.Name, columns), null, spec.Snapshot);
    }

    /// <summary>The data plane's type for a column as information_schema names it; null when unsupported.</summary>
    internal static ColumnType? Map(string dataType, string columnType, long? precision, long? scale, long? length)
    {
        var unsigned = columnType.Contains("unsigned", StringComparison.Ordinal);
        var suffix = unsigned ? " unsigned" : "";
        var fsp = FractionalDigits(columnType);
        string WithFsp(string name) => fsp > 0 ? string.Create(CultureInfo.InvariantCulture, $"{name}({fsp})") : name;
        return dataType switch
        {
            "tinyint" => new ColumnType(ValueKind.Int16, false, "tinyint" + suffix),
            "smallint" => new ColumnType(unsigned ? ValueKind.Int32 : ValueKind.Int16, false, "smallint" + suffix),
            "mediumint" => new ColumnType(ValueKind.Int32, false, "mediumint" + suffix),
            "int" or "integer" => new ColumnType(unsigned ? ValueKind.Int64 : ValueKind.Int32, false, "int" + suffix),
            "bigint" => unsigned ? new ColumnType(ValueKind.Decimal, false, "bigint unsigned", 20, 0) : new ColumnType(ValueKind.Int64, false, "bigint"),
            "decimal" or "numeric" => new ColumnType(
                precision <= MySqlDecimal.MaxClrPrecision ? ValueKind.Decimal : ValueKind.NumericText,
                false,
                string.Create(CultureInfo.InvariantCulture, $"decimal({precision},{scale})") + suffix,
                (int?)precision,
                (int?)scale),
            "float" => new ColumnType(ValueKind.Float32, false, "float"),
            "double" or "real" => new ColumnType(ValueKind.Float64, false, "double"),
            "year" => new ColumnType(ValueKind.Int16, false, "year"),
            "date" => new ColumnType(ValueKind.Date, false, "date"),
            "time" => new ColumnType(ValueKind.Interval, false, WithFsp("time")),
            "datetime" => new ColumnType(ValueKind.Timestamp, false, WithFsp("datetime")),
            "timestamp" => new ColumnType(ValueKind.TimestampTz, false, WithFsp("timestamp")),
            "bit" => precision == 1 ? new ColumnType(ValueKind.Boolean, false, "bit(1)") : new ColumnType(ValueKind.Bytes, false, $"bit({precision})"),
            "enum" => new ColumnType(ValueKind.Enum, false, "enum"),
            "set" => new ColumnType(ValueKind.Text, false, "set"),
            // MySQL's JSON; MariaDB's JSON is LONGTEXT here and in the binlog, and is carried as text.
            "json" => new ColumnType(ValueKind.Json, false, "json"),
            "char" or "varchar" or "tinytext" or "text" or "mediumtext" or "longtext" =>
                new ColumnType(ValueKind.Text, false, columnType, MaxLength: dataType is "char" or "varchar" ? (int?)length : null),
            "binary" or "varbinary" or "tinyblob" or "blob" or "mediumblob" or "longblob" =>
                new ColumnType(ValueKind.Bytes, false, columnType, MaxLength: dataType is "binary" or "varbinary" ? (int?)length : null),
            "geometry" or "point" or "linestring" or "polygon" or "multipoint" or "multilinestring" or "multipolygon" or "geometrycollection" =>
                new ColumnType(ValueKind.Bytes, false, "geometry"),
            _ => null,
        };
    }

    /// <summary>
    /// A snapshot value in the representation the binlog reader gives for the same column. The connection must use
    /// <c>TreatTinyAsBoolean=false</c> and <c>GuidFormat=None</c> (no reinterpretation of TINYINT(1) or BINARY(16))
    /// and the session time zone UTC (TIMESTAMP values are instants).
    /// </summary>
    public static object? Read(MySqlDataReader reader, int ordinal, ColumnType type)
    {
        if (reader.IsDBNull(ordinal))
        {
            return null;
        }

        // Decimals wider than System.Decimal cannot go through GetValue.
        if (type.Kind == ValueKind.NumericText)
        {
            return reader.GetMySqlDecimal(ordinal).ToString();
        }

        var value = reader.GetValue(ordinal);
        var invariant = CultureInfo.InvariantCulture;
        return type.Kind switch
        {
            ValueKind.Int16 => Convert.ToInt16(value, invariant),
            ValueKind.Int32 => Convert.ToInt32(value, invariant),
            ValueKind.Int64 => Convert.ToInt64(value, invariant),
            ValueKind.Decimal => Convert.ToDecimal(value, invariant),
            ValueKind.Float32 => Convert.ToSingle(value, invariant),
            ValueKind.Float64 => Convert.ToDouble(value, invariant),
            ValueKind.Boolean => Convert.ToUInt64(value, invariant) != 0,
            ValueKind.Date => DateOnly.FromDateTime(reader.GetDateTime(ordinal)),
            ValueKind.Interval => new NpgsqlInterval(0, 0, reader.GetTimeSpan(ordinal).Ticks / TimeSpan.TicksPerMicrosecond),
            ValueKind.Timestamp => DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Unspecified),
            ValueKind.TimestampTz => DateTime.SpecifyKind(reader.GetDateTime(ordinal), DateTimeKind.Utc),
            ValueKind.Bytes => value switch
            {
                byte[] bytes => bytes,
                MySqlGeometry geometry => geometry.Value,
                ulong bits => BitBytes(bits, type),
                _ => throw new InvalidCastException($"A {type} value arrived as {value.GetType().Name}."),
            },
            ValueKind.Text or ValueKind.Enum or ValueKind.Json => value as string ?? Convert.ToString(value, invariant),
            _ => throw new InvalidCastException($"The MySQL source has no representation for {type.Kind}."),
        };
    }

    public static string Identifier(string name) => "`" + name.Replace("`", "``", StringComparison.Ordinal) + "`";

    public static string Identifier(TableId table) => Identifier(table.Schema) + "." + Identifier(table.Name);

    /// <summary>BIT(n) as the binlog stores it: ⌈n/8⌉ bytes, big-endian.</summary>
    private static byte[] BitBytes(ulong bits, ColumnType type)
    {
        var width = int.Parse(type.SourceTypeName.AsSpan(4, type.SourceTypeName.Length - 5), CultureInfo.InvariantCulture);
        var bytes = new byte[(width + 7) / 8];
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            bytes[i] = (byte)bits;
            bits >>= 8;
        }

        return bytes;
    }

    private static int FractionalDigits(string columnType)
    {
        var open = columnType.IndexOf('(');
        var close = columnType.IndexOf(')');
        return open > 0 && close > open && int.TryParse(columnType.AsSpan(open + 1, close - open - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var digits)
            ? digits
            : 0;
    }
}
