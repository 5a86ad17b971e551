using System.Text.RegularExpressions;
using System.Threading.Channels;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Turns binlog events into the engine's source events: row changes of the selected tables, a commit at the end of
/// every event group (transaction or standalone statement) carrying the resume position after it, and a failed table
/// for DDL on a selected table that is not applied yet (TRUNCATE is: it becomes a truncate change).
/// </summary>
/// <remarks>
/// A group's changes and its commit carry the group's start offset as their numeric position (see
/// <see cref="BinlogPosition"/>): the binlog writes a group whole at commit, so start offsets order groups as the server
/// committed them and no group straddles a snapshot's position. Changes are numbered from 1 within the group, after the
/// snapshot's rows (sequence 0) at the same position.
/// </remarks>
internal sealed partial class BinlogChangeDecoder(
    IReadOnlyDictionary<TableId, TableSchema> tables, BinlogPosition start, ChannelWriter<SourceEvent> output)
{
    private readonly MariaDbGtidState _gtids = MariaDbGtidState.Parse(start.GtidState);
    private readonly Dictionary<ulong, ColumnMap?> _maps = [];
    private readonly HashSet<TableId> _failed = [];
    private string _file = start.File;
    private bool _inGroup;
    private bool _standalone;
    private bool _sawBegin;
    private MariaDbGtid? _groupGtid;
    private long _groupPosition;
    private long _sequence;
    private DateTimeOffset _groupTime;

    /// <summary>The binlog file the events come from (the stream tells it through ROTATE).</summary>
    public string File => _file;

    public async ValueTask HandleAsync(BinlogEvent binlogEvent, CancellationToken cancellationToken)
    {
        switch (binlogEvent)
        {
            case RotateEvent rotate:
                _file = rotate.NextFile;
                break;
            case MariaDbGtidEvent gtid:
                Begin(gtid.Header);
                _groupGtid = gtid.Gtid;
                _standalone = gtid.IsStandalone;
                break;
            case MySqlGtidEvent gtid:
                Begin(gtid.Header);
                break;
            case RowsEvent rows when _inGroup:
                await RowsAsync(rows, cancellationToken).ConfigureAwait(false);
                break;
            case XidEvent xid when _inGroup:
                await CommitAsync(xid.Header, cancellationToken).ConfigureAwait(false);
                break;
            case QueryEvent query when _inGroup:
                await QueryAsync(query, cancellationToken).ConfigureAwait(false);
                break;
            case QueryEvent query when IsBegin(query.Sql):
                // A group without a GTID event (MySQL with GTIDs off writes anonymous GTIDs; older servers only BEGIN).
                Begin(query.Header);
                _sawBegin = true;
                break;
        }
    }

    private void Begin(BinlogEventHeader header)
    {
        _inGroup = true;
        _standalone = false;
        _sawBegin = false;
        _groupGtid = null;
        _groupPosition = BinlogPosition.ToNumeric(_file, header.NextPosition - header.EventSize);
        _sequence = 0;
        _groupTime = header.When;
    }

    private async ValueTask QueryAsync(QueryEvent query, CancellationToken cancellationToken)
    {
        var sql = query.Sql.TrimStart();
        if (IsBegin(sql))
        {
            _sawBegin = true;
            return;
        }

        if (sql.StartsWith("COMMIT", StringComparison.OrdinalIgnoreCase) || sql.StartsWith("ROLLBACK", StringComparison.OrdinalIgnoreCase))
        {
            await CommitAsync(query.Header, cancellationToken).ConfigureAwait(false);
            return;
        }

        await StatementAsync(query, cancellationToken).ConfigureAwait(false);
        // MariaDB marks a statement that is its own group; MySQL's DDL group is a GTID and the statement, without BEGIN.
        if (_standalone || !_sawBegin)
        {
            await CommitAsync(query.Header, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>DDL touching a selected table: TRUNCATE is replicated; anything else fails that table only.</summary>
    private async ValueTask StatementAsync(QueryEvent query, CancellationToken cancellationToken)
    {
        var match = DdlStatement().Match(query.Sql);
        if (!match.Success || query.ErrorCode != 0)
        {
            return;
        }

        var verb = match.Groups["verb"].Value.ToUpperInvariant();
        foreach (var (id, schema) in tables)
        {
            if (_failed.Contains(id) || !Mentions(query.Sql, query.Database, id))
            {
                continue;
            }

            if (verb.StartsWith("TRUNCATE", StringComparison.Ordinal))
            {
                await output.WriteAsync(SourceEvent.ForChange(new RowChange
                {
                    Table = schema,
                    Kind = ChangeKind.Truncate,
                    Values = [],
                    Position = _groupPosition,
                    Sequence = ++_sequence,
                    CommittedAt = _groupTime,
                }), cancellationToken).ConfigureAwait(false);
                continue;
            }

            _failed.Add(id);
            await output.WriteAsync(SourceEvent.ForFailedTable(id,
                $"{id} was changed by DDL the MySQL source does not apply yet ({Shorten(query.Sql)}); re-snapshot the table to pick up its new shape"),
                cancellationToken).ConfigureAwait(false);
        }
    }

    private async ValueTask RowsAsync(RowsEvent rows, CancellationToken cancellationToken)
    {
        var id = new TableId(rows.Table.Database, rows.Table.Name);
        if (!tables.TryGetValue(id, out var schema) || _failed.Contains(id))
        {
            return;
        }

        // Table ids change when a table's definition is reopened (DDL, FLUSH), so a map is kept per id.
        if (!_maps.TryGetValue(rows.Table.TableId, out var map) || map is null || map.Table.Columns.Count != rows.Table.Columns.Count)
        {
            map = ColumnMap.Create(schema, rows.Table, out var error);
            _maps[rows.Table.TableId] = map;
            if (map is null)
            {
                _failed.Add(id);
                await output.WriteAsync(SourceEvent.ForFailedTable(id, $"{id} no longer has the shape the pipeline replicates: {error}; re-snapshot the table"), cancellationToken).ConfigureAwait(false);
                return;
            }
        }

        foreach (var row in rows.Rows)
        {
            var change = rows.Kind switch
            {
                RowsEventKind.Write => Change(schema, ChangeKind.Insert, map.Values(row.After!), null),
                RowsEventKind.Update => Update(schema, map, row),
                _ => Change(schema, ChangeKind.Delete, map.KeyOnly(row.Before!), null),
            };
            await output.WriteAsync(SourceEvent.ForChange(change), cancellationToken).ConfigureAwait(false);
        }
    }

    private RowChange Update(TableSchema schema, ColumnMap map, RowImage row)
    {
        var after = map.Values(row.After!);
        var before = map.Values(row.Before!);
        var keyChanged = schema.KeyIndexes.Any(k => !ValueEquality.Equal(before[k], after[k]));
        return Change(schema, ChangeKind.Update, after, keyChanged ? [.. schema.KeyIndexes.Select(k => before[k])] : null);
    }

    private RowChange Change(TableSchema schema, ChangeKind kind, object?[] values, object?[]? oldKey) => new()
    {
        Table = schema,
        Kind = kind,
        Values = values,
        OldKey = oldKey,
        Position = _groupPosition,
        Sequence = ++_sequence,
        CommittedAt = _groupTime,
        ApproximateBytes = ApproximateBytes(values),
    };

    private async ValueTask CommitAsync(BinlogEventHeader header, CancellationToken cancellationToken)
    {
        if (_groupGtid is { } gtid)
        {
            _gtids.Advance(gtid);
        }

        _inGroup = false;
        var resume = new BinlogPosition(_gtids.ToString(), _file, header.NextPosition);
        await output.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(_groupPosition, resume.ToString(), (ulong)_groupPosition, _groupTime)), cancellationToken).ConfigureAwait(false);
    }

    private static bool IsBegin(string sql) => sql.TrimStart().StartsWith("BEGIN", StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether the statement names the table, qualified, or unqualified while its database is the default one.</summary>
    private static bool Mentions(string sql, string defaultDatabase, TableId table)
    {
        var name = Regex.Escape(table.Name);
        var database = Regex.Escape(table.Schema);
        var qualified = new Regex($@"`?{database}`?\s*\.\s*`?{name}`?(?![\w$])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
        if (qualified.IsMatch(sql))
        {
            return true;
        }

        return string.Equals(defaultDatabase, table.Schema, StringComparison.Ordinal)
            && Regex.IsMatch(sql, $@"(?<![\w$.`])`?{name}`?(?![\w$.])", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
    }

    private static int ApproximateBytes(object?[] values)
    {
        var bytes = 16;
        foreach (var value in values)
        {
            bytes += value switch
            {
                string s => 24 + s.Length * 2,
                byte[] b => 24 + b.Length,
                _ => 16,
            };
        }

        return bytes;
    }

    private static string Shorten(string sql) => sql.Length <= 200 ? sql : sql[..200] + "…";

    [GeneratedRegex(@"^\s*(?:/\*.*?\*/\s*)*(?<verb>ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE|RENAME\s+TABLE|TRUNCATE(?:\s+TABLE)?|DROP\s+(?:TEMPORARY\s+)?TABLE|CREATE\s+(?:OR\s+REPLACE\s+)?TABLE)\b",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex DdlStatement();

    /// <summary>Where each of the pipeline's columns is in a table map's columns, matched by name.</summary>
    private sealed class ColumnMap
    {
        private readonly int[] _ordinals;
        private readonly TableSchema _schema;

        /// <summary>The binlog's columns are the pipeline's, in the same order: an image is already the values.</summary>
        private readonly bool _identity;

        private ColumnMap(BinlogTable table, TableSchema schema, int[] ordinals)
        {
            Table = table;
            _schema = schema;
            _ordinals = ordinals;
            _identity = ordinals.Length == table.Columns.Count && ordinals.Select((o, i) => o == i).All(same => same);
        }

        public BinlogTable Table { get; }

        public static ColumnMap? Create(TableSchema schema, BinlogTable table, out string? error)
        {
            error = null;
            if (!table.HasColumnNames)
            {
                error = "the binlog does not name its columns (binlog_row_metadata must be FULL)";
                return null;
            }

            var ordinals = new int[schema.Columns.Count];
            for (var i = 0; i < ordinals.Length; i++)
            {
                var column = schema.Columns[i];
                var found = table.Columns.FirstOrDefault(c => string.Equals(c.Name, column.Name, StringComparison.OrdinalIgnoreCase));
                if (found is null)
                {
                    error = $"column {column.Name} is gone";
                    return null;
                }

                var type = found.ToColumnType();
                if (!type.SameValuesAs(column.Type))
                {
                    error = $"column {column.Name} is now {type} (was {column.Type})";
                    return null;
                }

                ordinals[i] = found.Index;
            }

            return new ColumnMap(table, schema, ordinals);
        }

        public object?[] Values(object?[] image)
        {
            // Each image is a fresh array that nothing else keeps (the rows event is dropped after decoding), so the
            // common case hands it on instead of copying it: one array per row less to allocate and collect.
            if (_identity && image.Length == _ordinals.Length)
            {
                return image;
            }

            var values = new object?[_ordinals.Length];
            for (var i = 0; i < values.Length; i++)
            {
                values[i] = image[_ordinals[i]];
            }

            return values;
        }

        public object?[] KeyOnly(object?[] image)
        {
            var values = new object?[_ordinals.Length];
            foreach (var k in _schema.KeyIndexes)
            {
                values[k] = image[_ordinals[k]];
            }

            return values;
        }
    }
}
