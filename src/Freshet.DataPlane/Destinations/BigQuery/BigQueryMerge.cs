using System.Text;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>
/// The fallback apply path for tables that cannot take Storage Write CDC (no primary key on the BigQuery table, or CDC
/// turned off): changes are appended to a staging table (the target's columns plus <see cref="ChangeColumn"/> and
/// <see cref="OrderColumn"/>), then one jobs.query script MERGEs the latest change per key into the target and empties
/// the staging table, in one transaction. The order column holds the same text as <c>_CHANGE_SEQUENCE_NUMBER</c>
/// (fixed-width hexadecimal, so text order is change order), and the target keeps it, so a replayed or late change
/// never overwrites a newer row.
/// </summary>
public static class BigQueryMerge
{
    /// <summary>Staging column: <c>U</c> (insert or update) or <c>D</c> (delete).</summary>
    public const string ChangeColumn = "_freshet_change";

    /// <summary>Staging and target column: the change's sequence number text (<see cref="StorageWriteRows.SequenceNumber(long, long)"/>).</summary>
    public const string OrderColumn = "_freshet_order";

    /// <summary>The staging table's columns for a target with <paramref name="columns"/>.</summary>
    public static IReadOnlyList<BigQueryColumn> StagingColumns(IReadOnlyList<BigQueryColumn> columns) =>
    [
        .. columns.Select(c => c with { Required = false }),
        new(ChangeColumn, "STRING", null, null, true, ProtoEncoding.String),
        new(OrderColumn, "STRING", null, null, true, ProtoEncoding.String),
    ];

    /// <summary>A staging row for one change (values in the target's column order, without the order column).</summary>
    public static StorageWriteRow StagingRow(object?[] values, ChangeType change, string sequenceNumber) =>
        new([.. values, change == ChangeType.Delete ? "D" : "U", sequenceNumber]);

    /// <summary>
    /// The apply script: MERGE the newest staged change per key into the target (deletes remove, others replace the
    /// row unless the target already holds a newer order), then <paramref name="sameTransaction"/> (e.g. the
    /// checkpoint's UPDATE), then empty the staging table; all in one transaction. <paramref name="columns"/> are the
    /// target's columns, <see cref="OrderColumn"/> among them.
    /// </summary>
    public static string Script(string projectId, string dataset, string target, string staging, IReadOnlyList<string> columns, IReadOnlyList<string> keys,
        IEnumerable<string>? sameTransaction = null)
    {
        if (keys.Count == 0)
        {
            throw new ArgumentException("A MERGE needs the source key's columns.", nameof(keys));
        }
        if (!columns.Contains(OrderColumn, StringComparer.Ordinal))
        {
            throw new ArgumentException($"The target needs the {OrderColumn} column to keep replays from overwriting newer rows.", nameof(columns));
        }
        var t = Path(projectId, dataset, target);
        var s = Path(projectId, dataset, staging);
        var partition = string.Join(", ", keys.Select(Quote));
        var on = string.Join(" AND ", keys.Select(k => $"t.{Quote(k)} = s.{Quote(k)}"));
        var set = string.Join(", ", columns.Where(c => !keys.Contains(c, StringComparer.Ordinal)).Select(c => $"{Quote(c)} = s.{Quote(c)}"));
        var list = string.Join(", ", columns.Select(Quote));
        var values = string.Join(", ", columns.Select(c => $"s.{Quote(c)}"));
        var script = new StringBuilder();
        script.Append("BEGIN TRANSACTION;\n");
        script.Append($"MERGE {t} t\nUSING (SELECT * FROM {s} QUALIFY ROW_NUMBER() OVER (PARTITION BY {partition} ORDER BY {Quote(OrderColumn)} DESC) = 1) s\nON {on}\n");
        script.Append($"WHEN MATCHED AND s.{Quote(ChangeColumn)} = 'D' AND s.{Quote(OrderColumn)} >= t.{Quote(OrderColumn)} THEN DELETE\n");
        if (set.Length > 0)
        {
            script.Append($"WHEN MATCHED AND s.{Quote(ChangeColumn)} = 'U' AND s.{Quote(OrderColumn)} > t.{Quote(OrderColumn)} THEN UPDATE SET {set}\n");
        }
        script.Append($"WHEN NOT MATCHED AND s.{Quote(ChangeColumn)} = 'U' THEN INSERT ({list}) VALUES ({values});\n");
        foreach (var statement in sameTransaction ?? [])
        {
            script.Append(statement.TrimEnd(';', ' ', '\n')).Append(";\n");
        }
        script.Append($"DELETE FROM {s} WHERE TRUE;\n");
        script.Append("COMMIT TRANSACTION;");
        return script.ToString();
    }

    /// <summary>A backquoted table path. Identifiers with a backquote cannot be quoted in GoogleSQL and are refused.</summary>
    public static string Path(string projectId, string dataset, string table)
    {
        foreach (var part in new[] { projectId, dataset, table })
        {
            if (part.Contains('`', StringComparison.Ordinal) || part.Contains('\\', StringComparison.Ordinal))
            {
                throw new ArgumentException($"'{part}' cannot be used in a table path.", nameof(table));
            }
        }
        return $"`{projectId}.{dataset}.{table}`";
    }

    private static string Quote(string column) =>
        column.All(c => char.IsAsciiLetterOrDigit(c) || c == '_') ? $"`{column}`" : throw new ArgumentException($"Column '{column}' cannot be quoted safely.", nameof(column));
}
