namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>A value bound to a <c>?</c> placeholder: Snowflake type (FIXED, REAL, TEXT, BOOLEAN, DATE, TIME, TIMESTAMP_NTZ, …) and its text.</summary>
public sealed record SnowflakeBinding(string Type, string? Value)
{
    /// <summary>A TEXT value of staged rows (then <see cref="Value"/> is null): written into the request as it is held.</summary>
    public StagedJson? Staged { get; init; }

    public static SnowflakeBinding Text(string? value) => new("TEXT", value);

    public static SnowflakeBinding Text(StagedJson rows) => new("TEXT", null) { Staged = rows };

    public static SnowflakeBinding Fixed(long value) => new("FIXED", value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static SnowflakeBinding Fixed(decimal value) => new("FIXED", value.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public static SnowflakeBinding Boolean(bool value) => new("BOOLEAN", value ? "TRUE" : "FALSE");
}

/// <summary>
/// One SQL API request: one statement, or several separated by semicolons with <see cref="StatementCount"/> set (the
/// request's <c>MULTI_STATEMENT_COUNT</c>, which must match exactly).
/// </summary>
public sealed record SnowflakeStatement(string Sql)
{
    public IReadOnlyList<SnowflakeBinding> Bindings { get; init; } = [];

    /// <summary>MULTI_STATEMENT_COUNT; null sends none (a single statement).</summary>
    public int? StatementCount { get; init; }

    /// <summary>Statement timeout in seconds (0: the account's default).</summary>
    public int TimeoutSeconds { get; init; }

    /// <summary>Submit with <c>async=true</c>: the answer is always 202 and the client polls.</summary>
    public bool Asynchronous { get; init; }

    /// <summary>
    /// Statements run in order, in one transaction (BEGIN … COMMIT added around them): the SQL API allows explicit
    /// transactions only in a multi-statement request.
    /// </summary>
    public static SnowflakeStatement Transaction(IReadOnlyList<string> statements, IReadOnlyList<SnowflakeBinding>? bindings = null)
    {
        if (statements.Count == 0)
        {
            throw new ArgumentException("A transaction needs at least one statement.", nameof(statements));
        }
        if (statements.Any(s => s.Contains(';', StringComparison.Ordinal)))
        {
            throw new ArgumentException("Statements of a transaction are passed one by one, without semicolons.", nameof(statements));
        }
        return new SnowflakeStatement("BEGIN;\n" + string.Join(";\n", statements) + ";\nCOMMIT")
        {
            StatementCount = statements.Count + 2,
            Bindings = bindings ?? [],
        };
    }
}

/// <summary>A column of a result (<c>rowType</c>).</summary>
public sealed record SnowflakeColumn(string Name, string Type, int? Precision, int? Scale, bool Nullable);

/// <summary>
/// A statement's result: every partition's rows, values as the API's jsonv2 text (null for SQL NULL), and for a
/// multi-statement request the handles of its statements.
/// </summary>
public sealed record SnowflakeResult(string StatementHandle, IReadOnlyList<SnowflakeColumn> Columns, IReadOnlyList<string?[]> Rows,
    IReadOnlyList<string> StatementHandles, int Partitions)
{
    public int Ordinal(string column)
    {
        for (var i = 0; i < Columns.Count; i++)
        {
            if (string.Equals(Columns[i].Name, column, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }
        throw new KeyNotFoundException($"The result has no column '{column}' (columns: {string.Join(", ", Columns.Select(c => c.Name))}).");
    }
}
