using System.Text.Json;
using Freshet.Contracts;
using Freshet.DataPlane.Destinations.Folding;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// One table's part of a batch's transaction: its staged rows (inline, or already in the staging table), the truncate the
/// batch holds, and one MERGE that inserts, updates and deletes, every action guarded by the target row's (position,
/// sequence) so that nothing older than a row ever overwrites it.
/// </summary>
internal sealed class TablePlan
{
    private static readonly string Position = SnowflakeTypes.Quote(MetadataColumns.Position);
    private static readonly string Sequence = SnowflakeTypes.Quote(MetadataColumns.Sequence);
    private static readonly string CommittedAt = SnowflakeTypes.Quote(MetadataColumns.CommittedAt);
    private static readonly string SyncedAt = SnowflakeTypes.Quote(MetadataColumns.SyncedAt);
    private static readonly string Deleted = SnowflakeTypes.Quote(MetadataColumns.Deleted);
    private static readonly string DeletedAt = SnowflakeTypes.Quote(MetadataColumns.DeletedAt);

    private readonly DeleteMode _deleteMode;
    private readonly DateTimeOffset _syncedAt;
    private readonly bool _hasUnchanged;

    public TablePlan(FoldedTable<SnowflakeTargetTable> table, DeleteMode deleteMode, DateTimeOffset syncedAt)
    {
        Table = table;
        _deleteMode = deleteMode;
        _syncedAt = syncedAt;
        _hasUnchanged = table.Rows.Values.Any(r => r.HasUnchanged);
    }

    public FoldedTable<SnowflakeTargetTable> Table { get; }

    /// <summary>The table's rows as JSON arrays, while they are to travel inside the transaction (inline).</summary>
    public List<StagedJson> Chunks { get; } = [];

    /// <summary>What this table adds to a request when its rows travel in it: the JSON arrays and the statements' text, escaped.</summary>
    public int InlineBytes
    {
        get
        {
            var inline = new StatementList();
            AddStatements(inline, inline: true);
            return Chunks.Sum(c => c.Bytes + 2) + inline.SqlBytes;
        }
    }

    /// <summary>The staging table's INSERT of one JSON array: stream rows carry every stage column, snapshot rows the values.</summary>
    public static (string Sql, SnowflakeBinding[] Bindings) StageInsert(SnowflakeTargetTable target, int chunk, StagedJson rows)
    {
        var columns = chunk == SnowflakeTargetTable.StreamChunk ? target.StreamColumns : target.ValueColumns;
        var sql = $"INSERT INTO {target.QuotedStage} (\"_chunk\", {string.Join(", ", columns.Select(c => SnowflakeTypes.Quote(c.Name)))}) "
            + $"SELECT ?, {string.Join(", ", columns.Select(SnowflakeStaging.Extract))} FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f";
        return (sql, [SnowflakeBinding.Fixed(chunk), SnowflakeBinding.Text(rows)]);
    }

    public void AddStatements(StatementList statements, bool inline)
    {
        var target = Table.Table;
        var stream = SnowflakeBinding.Fixed(SnowflakeTargetTable.StreamChunk);
        if (inline && Chunks.Count > 0)
        {
            statements.Add($"DELETE FROM {target.QuotedStage} WHERE \"_chunk\" = ?", stream);
            foreach (var chunk in Chunks)
            {
                var (sql, bindings) = StageInsert(target, SnowflakeTargetTable.StreamChunk, chunk);
                statements.Add(sql, bindings);
            }
        }

        if (Table.Truncate is { } truncate)
        {
            var guard = $"({Position} IS NULL OR {Position} < ? OR ({Position} = ? AND {Sequence} < ?))";
            SnowflakeBinding[] at = [SnowflakeBinding.Fixed(truncate.Position), SnowflakeBinding.Fixed(truncate.Position), SnowflakeBinding.Fixed(truncate.Sequence)];
            if (_deleteMode == DeleteMode.Hard)
            {
                statements.Add($"DELETE FROM {target.Quoted} WHERE {guard}", at);
            }
            else
            {
                var committed = SnowflakeDestination.Timestamp(truncate.CommittedAt);
                statements.Add(
                    $"UPDATE {target.Quoted} SET {Deleted} = TRUE, {DeletedAt} = ?::TIMESTAMP_TZ, {Position} = ?, {Sequence} = ?, {CommittedAt} = ?::TIMESTAMP_TZ, "
                    + $"{SyncedAt} = ?::TIMESTAMP_TZ WHERE NOT {Deleted} AND {guard}",
                    [committed, SnowflakeBinding.Fixed(truncate.Position), SnowflakeBinding.Fixed(truncate.Sequence), committed, SnowflakeDestination.Timestamp(_syncedAt), .. at]);
            }
        }

        if (Table.Rows.Count > 0)
        {
            statements.Add(Merge(), SnowflakeDestination.Timestamp(_syncedAt), stream);
            statements.Add($"DELETE FROM {target.QuotedStage} WHERE \"_chunk\" = ?", stream);
        }
    }

    private string Merge()
    {
        var target = Table.Table;
        var columns = target.Columns;
        string Q(string name) => SnowflakeTypes.Quote(name);
        string C(int i) => $"s.\"c{i}\"";
        string Unchanged(int i) => $"SUBSTR(s.\"_u\", {i + 1}, 1) = '1'";

        var source = $"SELECT s.*, ?::TIMESTAMP_TZ AS \"_synced\"";
        var from = $" FROM {target.QuotedStage} s";
        if (_hasUnchanged)
        {
            // Unchanged values come from the row's target state before this statement: the key it had before the batch
            // changed it when the target holds that key, else its own key (a resumed snapshot may hold it under the new
            // key already). A MERGE reads its source before it writes, so the order of rows does not matter.
            source += string.Concat(columns.Select((c, i) => $", o.{Q(c.Name)} AS \"u{i}\""))
                + $", (o.{Q(columns[target.KeyIndexes[0]].Name)} IS NOT NULL) AS \"_of\"";
            from += $" LEFT JOIN {target.Quoted} o ON "
                + string.Join(" AND ", target.KeyIndexes.Select((k, i) => $"o.{Q(columns[k].Name)} = s.\"o{i}\""));
        }

        string Updated(int i) => _hasUnchanged && !columns[i].IsKey
            ? $"IFF({Unchanged(i)}, IFF(s.\"_of\", s.\"u{i}\", t.{Q(columns[i].Name)}), {C(i)})"
            : C(i);
        string Inserted(int i) => _hasUnchanged && !columns[i].IsKey ? $"IFF({Unchanged(i)}, s.\"u{i}\", {C(i)})" : C(i);

        var guard = $"(t.{Position} IS NULL OR t.{Position} < s.\"_p\" OR (t.{Position} = s.\"_p\" AND t.{Sequence} < s.\"_s\"))";
        var upsertMetadata = $"{Position} = s.\"_p\", {Sequence} = s.\"_s\", {CommittedAt} = s.\"_c\", {SyncedAt} = s.\"_synced\", "
            + $"{Deleted} = s.\"_d\", {DeletedAt} = IFF(s.\"_d\", s.\"_c\", NULL)";
        var updates = columns.Select((c, i) => (c, i)).Where(x => !x.c.IsKey).Select(x => $"{Q(x.c.Name)} = {Updated(x.i)}").Append(upsertMetadata);
        var delete = _deleteMode == DeleteMode.Hard
            ? "DELETE"
            : $"UPDATE SET {Deleted} = TRUE, {DeletedAt} = s.\"_c\", {Position} = s.\"_p\", {Sequence} = s.\"_s\", {CommittedAt} = s.\"_c\", {SyncedAt} = s.\"_synced\"";
        return $"MERGE INTO {target.Quoted} t USING ({source}{from} WHERE s.\"_chunk\" = ?) s ON "
            + string.Join(" AND ", target.KeyIndexes.Select(k => $"t.{Q(columns[k].Name)} = {C(k)}"))
            + $" WHEN MATCHED AND s.\"_del\" AND {guard} THEN {delete}"
            + $" WHEN MATCHED AND NOT s.\"_del\" AND {guard} THEN UPDATE SET {string.Join(", ", updates)}"
            + $" WHEN NOT MATCHED AND NOT s.\"_del\" THEN INSERT ({string.Join(", ", columns.Select(c => Q(c.Name)))}, {Position}, {Sequence}, {CommittedAt}, {SyncedAt}, {Deleted}, {DeletedAt})"
            + $" VALUES ({string.Join(", ", columns.Select((_, i) => Inserted(i)))}, s.\"_p\", s.\"_s\", s.\"_c\", s.\"_synced\", s.\"_d\", IFF(s.\"_d\", s.\"_c\", NULL))";
    }
}
