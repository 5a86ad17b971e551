using System.Text;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations.Folding;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.DataPlane.Destinations.Postgres;

/// <summary>
/// Applies one table's folded changes set-based: COPY them into a temporary staging table, then one statement each for
/// the truncate, the upserts and the deletes, every one guarded by the target row's (position, sequence).
/// </summary>
internal sealed class StagedApply(FoldedTable<TargetTable> folded, string stageName, DeleteMode deleteMode)
{
    private static readonly string Position = Sql.Quote(MetadataColumns.Position);
    private static readonly string Sequence = Sql.Quote(MetadataColumns.Sequence);
    private static readonly string CommittedAt = Sql.Quote(MetadataColumns.CommittedAt);
    private static readonly string SyncedAt = Sql.Quote(MetadataColumns.SyncedAt);
    private static readonly string Deleted = Sql.Quote(MetadataColumns.Deleted);
    private static readonly string DeletedAt = Sql.Quote(MetadataColumns.DeletedAt);

    private readonly TargetTable _table = folded.Table;
    private readonly bool _hasUnchanged = folded.Rows.Values.Any(r => r.HasUnchanged);
    private int _upserts;
    private int _deletes;

    public FoldedTable<TargetTable> Folded => folded;

    /// <summary>Creates the staging table (dropped at commit) and copies the folded rows into it.</summary>
    public async Task StageAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, CancellationToken cancellationToken)
    {
        if (folded.Rows.Count == 0)
        {
            return;
        }

        var columns = new List<string> { "_del boolean", "_p bigint", "_s bigint", "_c timestamp with time zone", "_d boolean", "_u boolean[]" };
        columns.AddRange(_table.Columns.Select((c, i) => $"c{i} {c.WireType}"));
        if (_hasUnchanged)
        {
            columns.AddRange(_table.KeyIndexes.Select((k, i) => $"o{i} {_table.Columns[k].WireType}"));
        }

        await using (var create = Sql.Command($"CREATE TEMP TABLE {stageName} ({string.Join(", ", columns)}) ON COMMIT DROP", connection, transaction))
        {
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var names = string.Join(", ", columns.Select(c => c[..c.IndexOf(' ', StringComparison.Ordinal)]));
        var importer = await connection.BeginBinaryImportAsync($"COPY {stageName} ({names}) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false);
        await using (importer.ConfigureAwait(false))
        {
            foreach (var row in folded.Rows.Values)
            {
                await importer.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await importer.WriteAsync(row.IsDelete, NpgsqlDbType.Boolean, cancellationToken).ConfigureAwait(false);
                await importer.WriteAsync(row.Position, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await importer.WriteAsync(row.Sequence, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await importer.WriteAsync(row.CommittedAt.UtcDateTime, NpgsqlDbType.TimestampTz, cancellationToken).ConfigureAwait(false);
                await importer.WriteAsync(row.Deleted, NpgsqlDbType.Boolean, cancellationToken).ConfigureAwait(false);
                if (row.HasUnchanged)
                {
                    var unchanged = Array.ConvertAll(row.Values, v => ReferenceEquals(v, UnchangedValue.Instance));
                    await importer.WriteAsync(unchanged, NpgsqlDbType.Array | NpgsqlDbType.Boolean, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    await importer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
                }

                for (var c = 0; c < _table.Columns.Count; c++)
                {
                    await WriteValueAsync(importer, row.Values[c], _table.Columns[c].WireDbType, cancellationToken).ConfigureAwait(false);
                }

                if (_hasUnchanged)
                {
                    for (var k = 0; k < _table.KeyIndexes.Count; k++)
                    {
                        await WriteValueAsync(importer, row.OriginKey[k], _table.Columns[_table.KeyIndexes[k]].WireDbType, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (row.IsDelete)
                {
                    _deletes++;
                }
                else
                {
                    _upserts++;
                }
            }

            await importer.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The statements that move the staged rows into the target; $1 is the synced-at time.</summary>
    public IEnumerable<(string Sql, object?[] Parameters)> Statements(DateTime syncedAt)
    {
        if (folded.Truncate is { } truncate)
        {
            var guard = Guard("", "$1", "$2");
            object?[] parameters = [truncate.Position, truncate.Sequence, truncate.CommittedAt.UtcDateTime, syncedAt];
            yield return deleteMode == DeleteMode.Hard
                ? ($"DELETE FROM {_table.QualifiedName} WHERE {guard}", parameters)
                : ($"UPDATE {_table.QualifiedName} SET {Deleted} = true, {DeletedAt} = $3, {Position} = $1, {Sequence} = $2, {CommittedAt} = $3, {SyncedAt} = $4 "
                    + $"WHERE NOT {Deleted} AND {guard}", parameters);
        }

        if (_upserts > 0)
        {
            yield return (Upsert(), [syncedAt]);
        }

        if (_deletes > 0)
        {
            yield return (deleteMode == DeleteMode.Hard ? HardDelete() : SoftDelete(), [syncedAt]);
        }
    }

    public static async ValueTask WriteValueAsync(NpgsqlBinaryImporter importer, object? value, NpgsqlDbType type, CancellationToken cancellationToken)
    {
        if (value is null || value is UnchangedValue)
        {
            await importer.WriteNullAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            // Typed calls skip Npgsql's per-value lookup of a converter for the runtime type of an object.
            var written = value switch
            {
                int v => importer.WriteAsync(v, type, cancellationToken),
                long v => importer.WriteAsync(v, type, cancellationToken),
                short v => importer.WriteAsync(v, type, cancellationToken),
                string v => importer.WriteAsync(v, type, cancellationToken),
                decimal v => importer.WriteAsync(v, type, cancellationToken),
                double v => importer.WriteAsync(v, type, cancellationToken),
                float v => importer.WriteAsync(v, type, cancellationToken),
                bool v => importer.WriteAsync(v, type, cancellationToken),
                DateTime v => importer.WriteAsync(v, type, cancellationToken),
                DateOnly v => importer.WriteAsync(v, type, cancellationToken),
                TimeOnly v => importer.WriteAsync(v, type, cancellationToken),
                Guid v => importer.WriteAsync(v, type, cancellationToken),
                NpgsqlInterval v => importer.WriteAsync(v, type, cancellationToken),
                byte[] v => importer.WriteAsync(v, type, cancellationToken),
                _ => importer.WriteAsync(value, type, cancellationToken),
            };
            await written.ConfigureAwait(false);
        }
    }

    private string Upsert()
    {
        var columns = _table.Columns;
        var targetColumns = string.Join(", ", columns.Select(c => Sql.Quote(c.Name)).Concat([Position, Sequence, CommittedAt, SyncedAt, Deleted, DeletedAt]));
        var values = columns.Select((c, i) => !_hasUnchanged || c.IsKey
                ? Sql.Value($"s.c{i}", c)
                : $"CASE WHEN s._u[{i + 1}] THEN (CASE WHEN o.ctid IS NOT NULL THEN o.{Sql.Quote(c.Name)} ELSE cur.{Sql.Quote(c.Name)} END) ELSE {Sql.Value($"s.c{i}", c)} END")
            .Concat(["s._p", "s._s", "s._c", "$1", "s._d", "CASE WHEN s._d THEN s._c END"]);
        var updates = columns.Where(c => !c.IsKey).Select(c => Sql.Quote(c.Name))
            .Concat([Position, Sequence, CommittedAt, SyncedAt, Deleted, DeletedAt])
            .Select(c => $"{c} = excluded.{c}");
        var sql = new StringBuilder()
            .Append($"INSERT INTO {_table.QualifiedName} AS t ({targetColumns}) SELECT {string.Join(", ", values)} FROM {stageName} s");
        if (_hasUnchanged)
        {
            // Unchanged values come from the row's target state before this statement: its own key, or the key it had
            // before the batch changed it (a statement never sees its own writes, so the order of rows does not matter).
            // When the target lacks that old key, they come from the row's own key if the target has it: a resumed
            // snapshot copies a row's chunk later than the snapshot it resumes, so it can hold the row under its new key
            // already and not under its old one (the source fills such changes while it can, see PgOutputDecoder.FillAsync).
            sql.Append($" LEFT JOIN {_table.QualifiedName} o ON ")
                .Append(string.Join(" AND ", _table.KeyIndexes.Select((k, i) => $"o.{Sql.Quote(columns[k].Name)} = {Sql.Value($"s.o{i}", columns[k])}")))
                .Append($" LEFT JOIN {_table.QualifiedName} cur ON ")
                .Append(string.Join(" AND ", _table.KeyIndexes.Select(k => $"cur.{Sql.Quote(columns[k].Name)} = {Sql.Value($"s.c{k}", columns[k])}")));
        }

        return sql
            .Append($" WHERE NOT s._del ON CONFLICT ({KeyList()}) DO UPDATE SET {string.Join(", ", updates)} WHERE ")
            .Append(Guard("t.", $"excluded.{Position}", $"excluded.{Sequence}"))
            .ToString();
    }

    private string HardDelete() =>
        $"DELETE FROM {_table.QualifiedName} t USING {stageName} s WHERE s._del AND {KeyMatch()} AND {Guard("t.", "s._p", "s._s")}";

    private string SoftDelete() =>
        $"UPDATE {_table.QualifiedName} t SET {Deleted} = true, {DeletedAt} = s._c, {Position} = s._p, {Sequence} = s._s, {CommittedAt} = s._c, {SyncedAt} = $1 "
        + $"FROM {stageName} s WHERE s._del AND {KeyMatch()} AND {Guard("t.", "s._p", "s._s")}";

    /// <summary>A change at (position, sequence) applies only to a target row that is older (or was not written by Freshet).</summary>
    private static string Guard(string target, string position, string sequence) =>
        $"({target}{Position} IS NULL OR ({target}{Position}, {target}{Sequence}) < ({position}, {sequence}))";

    private string KeyList() => string.Join(", ", _table.KeyIndexes.Select(k => Sql.Quote(_table.Columns[k].Name)));

    private string KeyMatch() =>
        string.Join(" AND ", _table.KeyIndexes.Select(k => $"t.{Sql.Quote(_table.Columns[k].Name)} = {Sql.Value($"s.c{k}", _table.Columns[k])}"));
}
