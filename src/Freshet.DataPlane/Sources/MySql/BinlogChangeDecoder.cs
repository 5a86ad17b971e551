using Freshet.Contracts;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Turns binlog events into the engine's source events: row changes of the selected tables, a commit at the end of
/// every event group (transaction or standalone statement) carrying the resume position after it, schema changes, and
/// failed tables.
/// </summary>
/// <remarks>
/// <para>
/// A table's shape comes from the TABLE_MAP before its rows (binlog_row_metadata=FULL names and types every column):
/// that is the shape of exactly those rows, where information_schema only knows the table as it is now. When the
/// table map differs from the known schema after an ALTER TABLE of that table was read, the new shape (known columns
/// keep their description, new or retyped ones take the table map's) goes to the engine as a schema change before the
/// rows, and the destination applies it per the pipeline's schema-change policy — the same path as PostgreSQL's
/// relation messages. Key columns stay those the catalog described (as for PostgreSQL); a key column that is gone, or
/// an ALTER that changes the primary key, fails the table.
/// </para>
/// <para>
/// A table map that differs while no ALTER of the table was read since the stream started is a replay from before a
/// change the catalog already shows (a restart from a checkpoint older than the DDL): its rows are mapped onto the
/// known schema by name (columns it lacks are null, columns since dropped are left out), so the destination's shape
/// does not go back and forth.
/// </para>
/// <para>
/// Statements: TRUNCATE becomes a truncate change; RENAME TABLE (or ALTER … RENAME) naming a selected table, DROP
/// TABLE and CREATE OR REPLACE TABLE fail that table (the pipeline follows tables by name, as the PostgreSQL source
/// does); an ALTER TABLE whose table cannot be made out fails each selected table it mentions, and no other.
/// </para>
/// </remarks>
/// <remarks>
/// A group's changes and its commit carry the group's start offset as their numeric position (see
/// <see cref="BinlogPosition"/>): the binlog writes a group whole at commit, so start offsets order groups as the server
/// committed them and no group straddles a snapshot's position. Changes are numbered from 1 within the group, after the
/// snapshot's rows (sequence 0) at the same position.
/// </remarks>
internal sealed partial class BinlogChangeDecoder(
    Dictionary<TableId, TableSchema> tables, IReadOnlyList<TableSpec> specs, BinlogPosition start, ChannelWriter<SourceEvent> output)
{
    // The position's GTID part in the server's own form: MariaDB's per-domain state, or a MySQL GTID set. A MySQL set is
    // tracked only when the start had one (a snapshot's @@gtid_executed): a set built from the GTIDs seen since an
    // empty start would lack the server's history, and resuming after it would make the server send that history again.
    private readonly MySqlGtidSet? _mySqlGtids = MySqlGtidSet.IsMySqlForm(start.GtidState) ? MySqlGtidSet.Parse(start.GtidState) : null;
    private readonly MariaDbGtidState _gtids = MySqlGtidSet.IsMySqlForm(start.GtidState) ? MariaDbGtidState.Parse("") : MariaDbGtidState.Parse(start.GtidState);
    private readonly Dictionary<ulong, ColumnMap?> _maps = [];
    private readonly HashSet<TableId> _failed = [];
    private readonly HashSet<TableId> _altered = [];
    private string _file = start.File;
    private bool _inGroup;
    private bool _standalone;
    private bool _sawBegin;
    private MariaDbGtid? _groupGtid;
    private (Guid Source, long Number)? _groupMySqlGtid;
    private long _groupPosition;
    private long _sequence;
    private DateTimeOffset _groupTime;

    private BinlogPosition _committed = start;
    private int _rotations;

    /// <summary>The inserts of the current group not handed on yet: consecutive write rows of one table grow one block.</summary>
    private InsertBlock? _block;

    // A new block's arrays are sized for as many rows as the last block had: transactions of a workload tend to be
    // alike, and arrays that fit are neither copied while they grow nor counted (in the batch's bytes) half empty.
    private int _blockCapacity = 64;

    /// <summary>A block is handed on at this many rows even within a transaction (a huge one is then cut into batches).</summary>
    internal const int MaxBlockRows = 16_384;

    /// <summary>… or once it holds this much memory.</summary>
    internal const long MaxBlockBytes = 4L * 1024 * 1024;

    /// <summary>The binlog file the events come from (the stream tells it through ROTATE).</summary>
    public string File => _file;

    /// <summary>The position after the last group handed on: where a new dump would resume.</summary>
    public BinlogPosition Position => _committed;

    public async ValueTask HandleAsync(BinlogEvent binlogEvent, CancellationToken cancellationToken)
    {
        // Inserts gathered into a block go out before whatever the next event leads to (rows events see to it themselves;
        // events that lead to nothing, such as MariaDB's ANNOTATE_ROWS before each statement, leave the block growing).
        if (binlogEvent is not (RowsEvent or TableMapEvent or SkippedEvent or HeartbeatEvent))
        {
            await FlushBlockAsync(cancellationToken).ConfigureAwait(false);
        }

        switch (binlogEvent)
        {
            case RotateEvent rotate:
                // The dump's first ROTATE names the file it starts in; a later one to a lower number means the server's
                // binlog started over beneath the reader, whose numeric positions would then run backwards.
                if (_rotations++ > 0 && BinlogPosition.FileIndex(rotate.NextFile) < BinlogPosition.FileIndex(_file))
                {
                    throw new SourcePositionLostException(BinlogPositionLoss.Message(
                        $"the server's binlog numbering started over while it was read (RESET MASTER?): after {_file} came {rotate.NextFile}"));
                }

                _file = rotate.NextFile;
                break;
            case MariaDbGtidEvent gtid:
                Begin(gtid.Header);
                _groupGtid = gtid.Gtid;
                _standalone = gtid.IsStandalone;
                break;
            case MySqlGtidEvent gtid:
                Begin(gtid.Header);
                // An anonymous GTID event (gtid_mode OFF) names no transaction.
                _groupMySqlGtid = gtid.SourceId != Guid.Empty && gtid.TransactionNumber > 0 ? (gtid.SourceId, gtid.TransactionNumber) : null;
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
        _groupMySqlGtid = null;
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

    /// <summary>
    /// DDL touching a selected table: TRUNCATE is replicated; ALTER TABLE is noted (its new shape arrives with the next
    /// table map); a rename, a drop, a replacement or a change of the primary key fails that table only.
    /// </summary>
    private async ValueTask StatementAsync(QueryEvent query, CancellationToken cancellationToken)
    {
        var match = DdlStatement().Match(query.Sql);
        if (!match.Success || query.ErrorCode != 0)
        {
            return;
        }

        var verb = match.Groups["verb"].Value.ToUpperInvariant();
        if (verb.StartsWith("ALTER", StringComparison.Ordinal))
        {
            await AlterAsync(query, cancellationToken).ConfigureAwait(false);
            return;
        }

        // CREATE TABLE names other tables too (… LIKE t, … SELECT FROM t): only the one it creates counts.
        var created = verb.StartsWith("CREATE", StringComparison.Ordinal) ? CreateTarget(query.Sql, query.Database) : null;
        foreach (var (id, schema) in tables.ToList())
        {
            if (_failed.Contains(id) || !(created is { } target ? SameTable(id, target) : Mentions(query.Sql, query.Database, id)))
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

            var why = verb.StartsWith("RENAME", StringComparison.Ordinal)
                ? $"{id} was renamed ({Shorten(query.Sql)}); the pipeline follows tables by name: select the table under its new name (it is copied then)"
                : $"{id} was dropped or replaced ({Shorten(query.Sql)}); re-snapshot the table once it exists again";
            await FailAsync(id, why, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// ALTER TABLE: the table it changes is noted, so that the next table map that differs is taken as its new shape;
    /// a rename or a change of the primary key fails the table; when the table cannot be made out, every selected table
    /// the statement mentions fails (and only those).
    /// </summary>
    private async ValueTask AlterAsync(QueryEvent query, CancellationToken cancellationToken)
    {
        var target = AlterTarget(query.Sql, query.Database);
        if (target is null)
        {
            foreach (var id in tables.Keys.Where(id => !_failed.Contains(id) && Mentions(query.Sql, query.Database, id)).ToList())
            {
                await FailAsync(id, $"{id} may have been changed by a statement the MySQL source could not parse ({Shorten(query.Sql)}); re-snapshot the table", cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        var touched = tables.Keys.FirstOrDefault(id => SameTable(id, target.Value));
        if (touched == default || _failed.Contains(touched))
        {
            return;
        }

        if (AlterRenames().IsMatch(query.Sql))
        {
            await FailAsync(touched, $"{touched} was renamed ({Shorten(query.Sql)}); the pipeline follows tables by name: select the table under its new name (it is copied then)", cancellationToken).ConfigureAwait(false);
            return;
        }

        if (AlterChangesKey().IsMatch(query.Sql))
        {
            await FailAsync(touched, $"the primary key of {touched} was changed ({Shorten(query.Sql)}); the destination merges rows on it, so re-snapshot the table", cancellationToken).ConfigureAwait(false);
            return;
        }

        _altered.Add(touched);
    }

    private async ValueTask FailAsync(TableId id, string reason, CancellationToken cancellationToken)
    {
        _failed.Add(id);
        await output.WriteAsync(SourceEvent.ForFailedTable(id, reason), cancellationToken).ConfigureAwait(false);
    }

    private async ValueTask RowsAsync(RowsEvent rows, CancellationToken cancellationToken)
    {
        var id = new TableId(rows.Table.Database, rows.Table.Name);
        if (!tables.TryGetValue(id, out var schema) || _failed.Contains(id))
        {
            return;
        }

        // Table ids change when a table's definition is reopened (DDL, FLUSH), so a map is kept per id; each transaction
        // sends its table maps again, and one that describes other columns than the map's is looked at anew.
        if (!_maps.TryGetValue(rows.Table.TableId, out var map) || map is null || map.Schema != schema
            || (!ReferenceEquals(map.Table, rows.Table) && !SameColumns(map.Table, rows.Table)))
        {
            await FlushBlockAsync(cancellationToken).ConfigureAwait(false);
            map = await MapAsync(id, schema, rows.Table, cancellationToken).ConfigureAwait(false);
            _maps[rows.Table.TableId] = map;
            if (map is null)
            {
                return;
            }

            schema = map.Schema;
        }
        else if (!ReferenceEquals(map.Table, rows.Table))
        {
            _maps[rows.Table.TableId] = map = map.For(rows.Table);
        }

        if (rows.Kind == RowsEventKind.Write && map.Blocks is { } blocks && blocks.AllPresent(rows.AfterPresent))
        {
            await ReadInsertsAsync(schema, blocks, rows, cancellationToken).ConfigureAwait(false);
            return;
        }

        await FlushBlockAsync(cancellationToken).ConfigureAwait(false);
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

    /// <summary>Reads a write rows event's images into the open block (a new one when it is another table's or full).</summary>
    private async ValueTask ReadInsertsAsync(TableSchema schema, BinlogBlockReader blocks, RowsEvent rows, CancellationToken cancellationToken)
    {
        if (_block is not null && !ReferenceEquals(_block.Table, schema))
        {
            await FlushBlockAsync(cancellationToken).ConfigureAwait(false);
        }

        var position = 0;
        while (position < rows.Images.Length)
        {
            _block ??= new InsertBlock(schema, blocks.Kinds, _groupPosition, _sequence + 1, _groupTime, _blockCapacity);
            if (!ReadUntilFull(blocks, rows.Images, ref position, _block))
            {
                await FlushBlockAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Reads images from <paramref name="position"/> on into the block; false when it stopped because the block is full.</summary>
    private bool ReadUntilFull(BinlogBlockReader blocks, byte[] images, ref int position, InsertBlock block)
    {
        var reader = new PayloadReader(images) { Position = position };
        try
        {
            while (reader.Remaining > 0)
            {
                blocks.ReadRow(ref reader, block);
                _sequence++;
                if (block.Count >= MaxBlockRows || (block.Count % 1024 == 0 && block.ApproximateBytes >= MaxBlockBytes))
                {
                    return false;
                }
            }

            return true;
        }
        finally
        {
            position = reader.Position;
        }
    }

    private async ValueTask FlushBlockAsync(CancellationToken cancellationToken)
    {
        if (_block is { Count: > 0 } block)
        {
            _block = null;
            _blockCapacity = Math.Clamp(block.Count, 64, MaxBlockRows);
            await output.WriteAsync(SourceEvent.ForInserts(block), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// How the rows of <paramref name="table"/> become values of the table's schema: the known one when the table map
    /// matches it, or when no ALTER of the table was read yet (a replay from before a change the catalog shows); else
    /// the shape the table map describes, announced to the engine first. Null when the table cannot be replicated any
    /// more (it was failed).
    /// </summary>
    private async ValueTask<ColumnMap?> MapAsync(TableId id, TableSchema known, BinlogTable table, CancellationToken cancellationToken)
    {
        if (!table.HasColumnNames)
        {
            await FailAsync(id, $"{id} cannot be followed: the binlog does not name its columns (binlog_row_metadata must be FULL); re-snapshot the table", cancellationToken).ConfigureAwait(false);
            return null;
        }

        var shaped = Shape(known, table, out var error);
        if (shaped is null)
        {
            await FailAsync(id, $"{id} no longer has a shape the pipeline can replicate: {error}; re-snapshot the table", cancellationToken).ConfigureAwait(false);
            return null;
        }

        if (shaped.SameShapeAs(known) || !_altered.Contains(id))
        {
            return ColumnMap.Create(known, table);
        }

        tables[id] = shaped;
        await output.WriteAsync(SourceEvent.ForSchema(shaped), cancellationToken).ConfigureAwait(false);
        return ColumnMap.Create(shaped, table);
    }

    /// <summary>
    /// The schema the table map describes: its columns in order (the spec's excluded ones left out), each known column
    /// kept as the catalog described it while its type holds the same values, new and retyped ones as the table map
    /// types them; the key as known. Null (with why) when a key column is gone or a column's type is not supported.
    /// </summary>
    private TableSchema? Shape(TableSchema known, BinlogTable table, out string? error)
    {
        error = null;
        var spec = specs.FirstOrDefault(t => SameTable(new TableId(t.Schema, t.Name), known.Source));
        var excluded = new HashSet<string>(spec?.ExcludedColumns ?? [], StringComparer.OrdinalIgnoreCase);
        var columns = new List<ColumnSchema>();
        foreach (var column in table.Columns)
        {
            if (excluded.Contains(column.Name!))
            {
                continue;
            }

            ColumnType type;
            try
            {
                type = column.ToColumnType();
            }
            catch (BinlogUnsupportedException e)
            {
                error = e.Message;
                return null;
            }

            var was = known.Columns.FirstOrDefault(c => string.Equals(c.Name, column.Name, StringComparison.OrdinalIgnoreCase));
            columns.Add(was is not null && was.Type.SameValuesAs(type) ? was : new ColumnSchema(was?.Name ?? column.Name!, type, was?.IsKey ?? false));
        }

        var gone = known.KeyIndexes.Select(k => known.Columns[k].Name).Where(key => !columns.Any(c => c.Name == key)).ToList();
        if (gone.Count > 0)
        {
            error = $"key column {string.Join(", ", gone)} is gone";
            return null;
        }

        return new TableSchema(known.Source, known.DestinationName, columns);
    }

    private static bool SameColumns(BinlogTable left, BinlogTable right) =>
        left.Columns.Count == right.Columns.Count
        && left.Columns.Zip(right.Columns).All(p => p.First.Name == p.Second.Name && p.First.Type == p.Second.Type && p.First.Length == p.Second.Length
            && p.First.Precision == p.Second.Precision && p.First.Scale == p.Second.Scale && p.First.Unsigned == p.Second.Unsigned && p.First.Collation == p.Second.Collation);

    private static bool SameTable(TableId left, TableId right) =>
        string.Equals(left.Schema, right.Schema, StringComparison.OrdinalIgnoreCase) && string.Equals(left.Name, right.Name, StringComparison.OrdinalIgnoreCase);

    /// <summary>The table an ALTER TABLE statement changes (its database the default one when unqualified), or null.</summary>
    internal static TableId? AlterTarget(string sql, string defaultDatabase) => Target(AlterStatement().Match(sql), defaultDatabase);

    /// <summary>The table a CREATE TABLE statement creates, or null when it cannot be made out.</summary>
    internal static TableId? CreateTarget(string sql, string defaultDatabase) => Target(CreateStatement().Match(sql), defaultDatabase);

    private static TableId? Target(Match match, string defaultDatabase)
    {
        if (!match.Success)
        {
            return null;
        }

        var first = Unquote(match.Groups["first"].Value);
        return match.Groups["second"].Success ? new TableId(first, Unquote(match.Groups["second"].Value)) : new TableId(defaultDatabase, first);
    }

    private static string Unquote(string name) =>
        name.StartsWith('`') ? name[1..^1].Replace("``", "`", StringComparison.Ordinal) : name;

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
        ApproximateBytes = ChangeSize.Of(values),
    };

    private async ValueTask CommitAsync(BinlogEventHeader header, CancellationToken cancellationToken)
    {
        if (_groupGtid is { } gtid)
        {
            _gtids.Advance(gtid);
        }

        if (_groupMySqlGtid is var (source, number))
        {
            _mySqlGtids?.Add(source, number);
        }

        _inGroup = false;
        var resume = new BinlogPosition(_mySqlGtids?.ToString() ?? _gtids.ToString(), _file, header.NextPosition);
        _committed = resume;
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

    private static string Shorten(string sql) => sql.Length <= 200 ? sql : sql[..200] + "…";

    [GeneratedRegex(@"^\s*(?:/\*.*?\*/\s*)*(?<verb>ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE|RENAME\s+TABLE|TRUNCATE(?:\s+TABLE)?|DROP\s+(?:TEMPORARY\s+)?TABLE|CREATE\s+(?:OR\s+REPLACE\s+)?TABLE)\b",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex DdlStatement();

    [GeneratedRegex(@"^\s*(?:/\*.*?\*/\s*)*ALTER\s+(?:ONLINE\s+|IGNORE\s+)*TABLE\s+(?:IF\s+EXISTS\s+)?(?<first>`(?:[^`]|``)+`|[\w$]+)(?:\s*\.\s*(?<second>`(?:[^`]|``)+`|[\w$]+))?(?=[\s;(]|$)",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex AlterStatement();

    [GeneratedRegex(@"^\s*(?:/\*.*?\*/\s*)*CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMPORARY\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?<first>`(?:[^`]|``)+`|[\w$]+)(?:\s*\.\s*(?<second>`(?:[^`]|``)+`|[\w$]+))?(?=[\s;(]|$)",
        RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex CreateStatement();

    // RENAME [TO|AS] new_name, as opposed to RENAME COLUMN / INDEX / KEY.
    [GeneratedRegex(@"\bRENAME\s+(?!COLUMN\b|INDEX\b|KEY\b)", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AlterRenames();

    [GeneratedRegex(@"\bPRIMARY\s+KEY\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex AlterChangesKey();

    /// <summary>
    /// Where each of a schema's columns is in a table map's columns, matched by name; -1 for a column the table map
    /// does not have (a row from before the column was added), whose value is null.
    /// </summary>
    private sealed class ColumnMap
    {
        private readonly int[] _ordinals;

        /// <summary>The binlog's columns are the pipeline's, in the same order: an image is already the values.</summary>
        private readonly bool _identity;

        private ColumnMap(BinlogTable table, TableSchema schema, int[] ordinals, BinlogBlockReader? blocks)
        {
            Table = table;
            Schema = schema;
            _ordinals = ordinals;
            _identity = ordinals.Length == table.Columns.Count && ordinals.Select((o, i) => o == i).All(same => same);
            Blocks = blocks;
        }

        /// <summary>Reads inserts into blocks, when every column of the table map is of a type it reads; else null.</summary>
        public BinlogBlockReader? Blocks { get; }

        public BinlogTable Table { get; }

        public TableSchema Schema { get; }

        public static ColumnMap Create(TableSchema schema, BinlogTable table)
        {
            var ordinals = new int[schema.Columns.Count];
            for (var i = 0; i < ordinals.Length; i++)
            {
                var name = schema.Columns[i].Name;
                ordinals[i] = table.Columns.FirstOrDefault(c => string.Equals(c.Name, name, StringComparison.OrdinalIgnoreCase))?.Index ?? -1;
            }

            return new ColumnMap(table, schema, ordinals, BinlogBlockReader.TryCreate(table, schema, ordinals));
        }

        /// <summary>The same map for another table map of the same columns (each transaction sends its own).</summary>
        public ColumnMap For(BinlogTable table) => new(table, Schema, _ordinals, Blocks is null ? null : BinlogBlockReader.TryCreate(table, Schema, _ordinals));

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
                var ordinal = _ordinals[i];
                values[i] = ordinal < 0 ? null : image[ordinal];
            }

            return values;
        }

        public object?[] KeyOnly(object?[] image)
        {
            var values = new object?[_ordinals.Length];
            foreach (var k in Schema.KeyIndexes)
            {
                values[k] = image[_ordinals[k]];
            }

            return values;
        }
    }
}
