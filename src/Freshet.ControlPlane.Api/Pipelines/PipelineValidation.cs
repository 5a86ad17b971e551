using Freshet.Contracts;
using Freshet.ControlPlane.Api.Common;

namespace Freshet.ControlPlane.Api.Pipelines;

internal static class PipelineValidation
{
    public const int MaxTables = 10_000;
    public const int MaxIdentifierLength = 128;
    public const int DefaultLagThresholdSeconds = 300;

    /// <summary>
    /// Table names are stored as given (quotes, semicolons and all) and only ever reach SQL as quoted identifiers or
    /// parameters; here we only refuse what no database allows.
    /// </summary>
    public static List<PipelineTable>? Tables(List<TableSelection?>? input, RequestValidator validator, string field = "tables")
    {
        if (input is null)
        {
            validator.Add(field, "This field is required.");
            return null;
        }

        if (input.Count == 0)
        {
            validator.Add(field, "Select at least one table.");
            return null;
        }

        if (input.Count > MaxTables)
        {
            validator.Add(field, $"At most {MaxTables} tables per pipeline.");
            return null;
        }

        var result = new List<PipelineTable>();
        var seen = new HashSet<(string, string)>();
        for (var i = 0; i < input.Count; i++)
        {
            var table = input[i];
            var prefix = $"{field}[{i}]";
            if (table is null)
            {
                validator.Add(prefix, "Must be an object with schema and name.");
                continue;
            }

            var ok = Identifier(validator, $"{prefix}.schema", table.Schema) & Identifier(validator, $"{prefix}.name", table.Name);
            var options = table.Options ?? new TableOptionsInput(null, null, null);
            if (options.DestinationName is not null)
            {
                ok &= Identifier(validator, $"{prefix}.options.destination_name", options.DestinationName);
            }

            var excluded = options.ExcludedColumns ?? [];
            for (var c = 0; c < excluded.Count; c++)
            {
                ok &= Identifier(validator, $"{prefix}.options.excluded_columns[{c}]", excluded[c]);
            }

            if (!ok)
            {
                continue;
            }

            if (!seen.Add((table.Schema!, table.Name!)))
            {
                validator.Add(prefix, $"Table {table.Schema}.{table.Name} is selected twice.");
                continue;
            }

            result.Add(new PipelineTable(table.Schema!, table.Name!, new PipelineTableOptions(options.DestinationName, excluded.Distinct(StringComparer.Ordinal).ToList(), options.Snapshot ?? true)));
        }

        return result;
    }

    public static bool Identifier(RequestValidator validator, string field, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            validator.Add(field, "This field is required.");
            return false;
        }

        if (value.Length > MaxIdentifierLength)
        {
            validator.Add(field, $"Must be at most {MaxIdentifierLength} characters.");
            return false;
        }

        if (value.Contains('\0', StringComparison.Ordinal) || value.Any(char.IsControl))
        {
            validator.Add(field, "Must not contain control characters.");
            return false;
        }

        return true;
    }

    public static void LagThreshold(RequestValidator validator, int? seconds) =>
        validator.Range("lag_threshold_seconds", seconds, 1, 7 * 86_400);
}
