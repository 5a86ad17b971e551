using System.Globalization;
using System.Numerics;
using DuckDB.NET.Data;
using Freshet.Emulators.Snowflake.Sql;

namespace Freshet.Emulators.Snowflake.Engine;

/// <summary>A binding from the request body: Snowflake type name and string value (null for SQL NULL).</summary>
internal sealed record Binding(string Type, string? Value);

/// <summary>
/// The emulated account's storage: one in-memory DuckDB with one attached catalog per Snowflake database (each with a
/// PUBLIC schema). Requests run one at a time under a lock, and a multi-statement request holds it from first statement
/// to last: that is stricter than Snowflake's concurrency but gives the same isolation to an explicit transaction.
/// </summary>
internal sealed class DuckDbEngine : IDisposable
{
    private readonly DuckDBConnection _connection;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly HashSet<string> _databases = new(StringComparer.OrdinalIgnoreCase);

    public DuckDbEngine(IEnumerable<string> databases)
    {
        _connection = new DuckDBConnection("Data Source=:memory:");
        _connection.Open();
        foreach (var database in databases)
        {
            var name = database.ToUpperInvariant();
            Run($"ATTACH ':memory:' AS {Quote(name)}");
            Run($"CREATE SCHEMA {Quote(name)}.\"PUBLIC\"");
            _databases.Add(name);
        }
        foreach (var definition in DialectMacros.Definitions.Concat(DialectMacros.Views))
        {
            Run(definition);
        }
    }

    public async Task<IReadOnlyList<StatementResult>> ExecuteAsync(
        IReadOnlyList<TranslatedStatement> statements, IReadOnlyDictionary<int, Binding> bindings, string? database, string? schema,
        Func<int, CancellationToken, Task> beforeStatement, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        var inTransaction = false;
        try
        {
            if (database is not null)
            {
                if (!_databases.Contains(database))
                {
                    throw SqlApiError.Execution("002043", "02000", $"SQL compilation error:\nObject does not exist, or operation cannot be performed. Database '{database.ToUpperInvariant()}' does not exist or not authorized.");
                }
                Run($"USE {Quote(database.ToUpperInvariant())}.{Quote((schema ?? "PUBLIC").ToUpperInvariant())}");
            }
            var results = new List<StatementResult>();
            for (var index = 0; index < statements.Count; index++)
            {
                await beforeStatement(index, cancellationToken);
                var statement = statements[index];
                inTransaction = statement.FirstKeyword switch
                {
                    "BEGIN" or "START" => true,
                    "COMMIT" or "ROLLBACK" => false,
                    _ => inTransaction,
                };
                results.Add(Execute(statement, bindings));
            }
            return results;
        }
        finally
        {
            // A request is a session of its own: a transaction it leaves open (a failed statement, a cancellation, or no
            // COMMIT) ends with the session, rolled back.
            if (inTransaction)
            {
                TryRollback();
            }
            _lock.Release();
        }
    }

    /// <summary>Runs SQL directly, bypassing the API (for tests that inspect or prepare the account's tables).</summary>
    public async Task<List<object?[]>> QueryDirectAsync(string sql, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            using var reader = command.ExecuteReader();
            var rows = new List<object?[]>();
            while (reader.Read())
            {
                var row = new object?[reader.FieldCount];
                for (var i = 0; i < row.Length; i++)
                {
                    row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i) switch
                    {
                        // DuckDB.NET hands a BLOB out as a stream over the reader's current vector, which the next row
                        // reuses: the bytes are copied while they are still this row's.
                        Stream stream => ReadAll(stream),
                        var value => value,
                    };
                }
                rows.Add(row);
            }
            return rows;
        }
        finally
        {
            _lock.Release();
        }
    }

    private static byte[] ReadAll(Stream stream)
    {
        using (stream)
        using (var copy = new MemoryStream())
        {
            stream.CopyTo(copy);
            return copy.ToArray();
        }
    }

    private StatementResult Execute(TranslatedStatement statement, IReadOnlyDictionary<int, Binding> bindings)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = statement.Sql;
        foreach (var number in statement.BindingNumbers)
        {
            if (!bindings.TryGetValue(number, out var binding))
            {
                throw SqlApiError.Execution("002049", "42601", $"SQL compilation error: error line 0 at position 0\nBind variable ? not set (binding {number} is missing from the request).");
            }
            command.Parameters.Add(new DuckDBParameter { Value = ToValue(binding, number) ?? DBNull.Value });
        }
        try
        {
            switch (statement.FirstKeyword)
            {
                case "INSERT" or "UPDATE" or "DELETE" or "MERGE":
                    var affected = command.ExecuteNonQuery();
                    var stats = statement.FirstKeyword switch
                    {
                        "INSERT" => new DmlStats(affected, 0, 0, affected),
                        "UPDATE" => new DmlStats(0, affected, 0, affected),
                        "DELETE" => new DmlStats(0, 0, affected, affected),
                        _ => new DmlStats(0, 0, 0, affected),
                    };
                    var column = statement.FirstKeyword switch
                    {
                        "INSERT" => "number of rows inserted",
                        "UPDATE" => "number of rows updated",
                        "DELETE" => "number of rows deleted",
                        // DuckDB reports one total for MERGE where Snowflake has one column per action.
                        _ => "number of rows affected",
                    };
                    return new StatementResult([new ResultColumn(column, "fixed", 19, 0, false)], [[affected.ToString(CultureInfo.InvariantCulture)]], stats);
                default:
                    using (var reader = command.ExecuteReader())
                    {
                        if (reader.FieldCount == 0)
                        {
                            return new StatementResult([new ResultColumn("status", "text", null, null, false)], [["Statement executed successfully."]], null);
                        }
                        return ReadRows(reader);
                    }
            }
        }
        catch (DuckDBException exception)
        {
            throw Classify(exception);
        }
    }

    private static StatementResult ReadRows(DuckDBDataReader reader)
    {
        var schemaTable = reader.GetSchemaTable();
        var columns = new List<ResultColumn>();
        for (var i = 0; i < reader.FieldCount; i++)
        {
            var duckType = reader.GetDataTypeName(i);
            var row = schemaTable?.Rows[i];
            int? precision = row?["NumericPrecision"] is int p ? p : null;
            int? scale = row?["NumericScale"] is int s ? s : null;
            var (type, precisionOut, scaleOut) = duckType switch
            {
                "Decimal" => ("fixed", precision ?? 38, scale ?? 0),
                "TinyInt" or "SmallInt" or "Integer" or "BigInt" or "HugeInt" or "UnsignedTinyInt" or "UnsignedSmallInt"
                    or "UnsignedInteger" or "UnsignedBigInt" => ("fixed", (int?)38, (int?)0),
                "Float" or "Double" => ("real", null, null),
                "Boolean" => ("boolean", null, null),
                "Date" => ("date", null, null),
                "Time" => ("time", null, (int?)9),
                "Timestamp" or "TimestampNs" or "TimestampMs" or "TimestampS" => ("timestamp_ntz", null, (int?)9),
                "TimestampTz" => ("timestamp_tz", null, (int?)9),
                "Blob" => ("binary", null, null),
                _ => ("text", null, null),
            };
            columns.Add(new ResultColumn(reader.GetName(i), type, precisionOut, scaleOut, true));
        }
        var rows = new List<string?[]>();
        while (reader.Read())
        {
            var row = new string?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : Format(reader.GetValue(i), columns[i].Type);
            }
            rows.Add(row);
        }
        return new StatementResult(columns, rows, null);
    }

    // The SQL API's jsonv2 form (docs: "Getting the results"): numbers as decimal text, DATE as days since the epoch, TIME as
    // seconds since midnight with 9 decimals, TIMESTAMP_NTZ as epoch seconds with 9 decimals, TIMESTAMP_TZ the same in UTC
    // followed by a space and the offset in minutes plus 1440, BINARY as hex.
    private static string Format(object value, string type)
    {
        switch (value)
        {
            case decimal d:
                return d.ToString(CultureInfo.InvariantCulture);
            case double f:
                return f.ToString("R", CultureInfo.InvariantCulture);
            case float f:
                return f.ToString("R", CultureInfo.InvariantCulture);
            case bool b:
                return b ? "true" : "false";
            case DateOnly date:
                return (date.DayNumber - DateOnly.FromDateTime(DateTime.UnixEpoch).DayNumber).ToString(CultureInfo.InvariantCulture);
            case TimeOnly time:
                return Seconds(time.Ticks);
            case DateTime timestamp:
                var seconds = Seconds(timestamp.Ticks - DateTime.UnixEpoch.Ticks);
                return type == "timestamp_tz" ? seconds + " 1440" : seconds;
            case DateTimeOffset offset:
                return Seconds(offset.UtcTicks - DateTime.UnixEpoch.Ticks) + " " + ((int)offset.Offset.TotalMinutes + 1440).ToString(CultureInfo.InvariantCulture);
            case Stream stream:
                using (var buffer = new MemoryStream())
                {
                    stream.CopyTo(buffer);
                    return Convert.ToHexString(buffer.ToArray());
                }
            case byte[] bytes:
                return Convert.ToHexString(bytes);
            case BigInteger big:
                return big.ToString(CultureInfo.InvariantCulture);
            case IFormattable formattable:
                return formattable.ToString(null, CultureInfo.InvariantCulture);
            default:
                return value.ToString() ?? "";
        }
    }

    // Signed decimal seconds: -0.5 s is "-0.500000000", not a negative whole part with a positive fraction.
    private static string Seconds(long ticks) => (ticks / (decimal)TimeSpan.TicksPerSecond).ToString("0.000000000", CultureInfo.InvariantCulture);

    private static object? ToValue(Binding binding, int number)
    {
        if (binding.Value is null)
        {
            return null;
        }
        var value = binding.Value;
        try
        {
            return binding.Type.ToUpperInvariant() switch
            {
                "FIXED" => decimal.Parse(value, NumberStyles.Integer | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture),
                "REAL" => double.Parse(value, CultureInfo.InvariantCulture),
                "TEXT" => value,
                "BOOLEAN" => value.ToUpperInvariant() switch
                {
                    "TRUE" or "1" => true,
                    "FALSE" or "0" => false,
                    _ => throw new FormatException(),
                },
                "BINARY" => Convert.FromHexString(value),
                "DATE" => DateOnly.ParseExact(value, "yyyy-MM-dd", CultureInfo.InvariantCulture),
                "TIME" => TimeOnly.Parse(value, CultureInfo.InvariantCulture),
                "TIMESTAMP_NTZ" or "TIMESTAMP_LTZ" or "TIMESTAMP_TZ" => DateTime.Parse(value, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal),
                _ => throw SqlApiError.Execution("002099", "22023", $"Unsupported bind type '{binding.Type}' for binding {number}."),
            };
        }
        catch (FormatException)
        {
            throw SqlApiError.Execution("100037", "22018", $"Bind variable {number}: value '{value}' is not a valid {binding.Type}.");
        }
    }

    // DuckDB's error classes mapped to the nearest Snowflake error: SQL compilation errors (001003 syntax, 002003 missing
    // object, 000904 invalid identifier), data errors (100038 conversion, 100072 NULL into NOT NULL), 000603 otherwise.
    private static SqlApiError Classify(DuckDBException exception)
    {
        var message = exception.Message;
        if (message.StartsWith("Parser Error", StringComparison.Ordinal))
        {
            return SqlApiError.Compilation(message);
        }
        if (message.StartsWith("Catalog Error", StringComparison.Ordinal))
        {
            return SqlApiError.Execution("002003", "42S02", "SQL compilation error:\n" + message);
        }
        if (message.StartsWith("Binder Error", StringComparison.Ordinal))
        {
            return SqlApiError.Execution("000904", "42000", "SQL compilation error:\n" + message);
        }
        if (message.StartsWith("Conversion Error", StringComparison.Ordinal) || message.StartsWith("Invalid Input Error", StringComparison.Ordinal))
        {
            return SqlApiError.Execution("100038", "22018", message);
        }
        if (message.StartsWith("Constraint Error", StringComparison.Ordinal))
        {
            return SqlApiError.Execution("100072", "22000", message);
        }
        return SqlApiError.Execution("000603", "XX000", message);
    }

    private void Run(string sql)
    {
        using var command = _connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private void TryRollback()
    {
        try
        {
            Run("ROLLBACK");
        }
        catch (DuckDBException)
        {
            // No transaction was open after all.
        }
    }

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    public void Dispose()
    {
        _connection.Dispose();
        _lock.Dispose();
    }
}
