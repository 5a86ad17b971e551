namespace Freshet.Emulators.Snowflake.Engine;

/// <summary>One column of a result as the SQL API's <c>rowType</c> describes it.</summary>
internal sealed record ResultColumn(string Name, string Type, int? Precision, int? Scale, bool Nullable);

/// <summary>The result of one statement: columns and rows already in the API's jsonv2 text form, and DML counts.</summary>
internal sealed record StatementResult(IReadOnlyList<ResultColumn> Columns, IReadOnlyList<string?[]> Rows, DmlStats? Stats);

internal sealed record DmlStats(long Inserted, long Updated, long Deleted, long Affected);
