using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Freshet.DataPlane.Destinations.Folding;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>
/// What <see cref="BigQueryDestination.EnsureTableAsync"/> registered for a source table: the target table, the source
/// columns it receives with the target's BigQuery columns, whether its rows go by Storage Write CDC, and the placement's
/// staging table for the MERGE path.
/// </summary>
/// <remarks>
/// The staging table belongs to one placement (its name carries the pipeline and the epoch), so a worker that lost the
/// pipeline but still runs never stages into rows its successor is about to merge. Its columns: <c>_batch</c> (the
/// apply call that staged the row; leftovers of a failed call are never merged by another), <c>_del</c> (a delete),
/// <c>_p</c>/<c>_s</c> (position and sequence), <c>_c</c> (commit time), <c>_d</c> (soft mode: written and then deleted
/// in the batch), <c>_u</c> (one character per column, '1' where the value is unchanged and the target's stays),
/// <c>c0…</c> the values, <c>o0…</c> the key the row had before the batch changed it (where unchanged values come from).
/// </remarks>
internal sealed class BigQueryTargetTable : IFoldTarget
{
    public static readonly BigQueryColumn[] MetadataColumnsOfTarget =
    [
        new(MetadataColumns.Position, "INT64", null, null, false, ProtoEncoding.Int64),
        new(MetadataColumns.Sequence, "INT64", null, null, false, ProtoEncoding.Int64),
        new(MetadataColumns.CommittedAt, "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
        new(MetadataColumns.SyncedAt, "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
        new(MetadataColumns.Deleted, "BOOL", null, null, false, ProtoEncoding.Bool),
        new(MetadataColumns.DeletedAt, "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
    ];

    private readonly ConditionalWeakTable<TableSchema, int[]> _sourceIndexes = [];

    public BigQueryTargetTable(TableId source, string name, IReadOnlyList<ColumnSchema> columns, IReadOnlyList<BigQueryColumn> targetColumns, bool changeData,
        Guid pipelineId, long epoch)
    {
        Source = source;
        Name = name;
        Columns = columns;
        TargetColumns = targetColumns;
        ChangeData = changeData;
        KeyIndexes = [.. columns.Select((c, i) => (c, i)).Where(x => x.c.IsKey).Select(x => x.i)];
        CdcRows = new StorageWriteRows([.. targetColumns, .. MetadataColumnsOfTarget], changeData: true);
        StageName = StagePrefix(pipelineId) + FormattableString.Invariant($"{epoch}_") + Hash(source);
        StageColumns =
        [
            new("_batch", "STRING", null, null, false, ProtoEncoding.String),
            new("_del", "BOOL", null, null, false, ProtoEncoding.Bool),
            new("_p", "INT64", null, null, false, ProtoEncoding.Int64),
            new("_s", "INT64", null, null, false, ProtoEncoding.Int64),
            new("_c", "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
            new("_d", "BOOL", null, null, false, ProtoEncoding.Bool),
            new("_u", "STRING", null, null, false, ProtoEncoding.String),
            .. targetColumns.Select((c, i) => c with { Name = $"c{i}", Required = false }),
            .. KeyIndexes.Select((k, i) => targetColumns[k] with { Name = $"o{i}", Required = false }),
        ];
        StageRows = new StorageWriteRows(StageColumns, changeData: false);
    }

    public TableId Source { get; }

    public string Name { get; }

    /// <summary>The source columns the target receives (values are converted to the target's types on write).</summary>
    public IReadOnlyList<ColumnSchema> Columns { get; }

    /// <summary>The target's columns for <see cref="Columns"/>, in the same order, with the target's types.</summary>
    public IReadOnlyList<BigQueryColumn> TargetColumns { get; }

    /// <summary>Rows go by Storage Write CDC (the target declares the source's key as its primary key and the connection allows it).</summary>
    public bool ChangeData { get; }

    public IReadOnlyList<int> KeyIndexes { get; }

    public int ColumnCount => Columns.Count;

    /// <summary>The writer schema of CDC rows: the received columns, then the metadata columns.</summary>
    public StorageWriteRows CdcRows { get; }

    public string StageName { get; }

    public IReadOnlyList<BigQueryColumn> StageColumns { get; }

    public StorageWriteRows StageRows { get; }

    public static string StagePrefix(Guid pipelineId) => $"_freshet_stage_{pipelineId:N}_";

    public string ColumnName(int index) => Columns[index].Name;

    public int[] SourceIndexes(TableSchema schema) =>
        _sourceIndexes.GetValue(schema, s => [.. Columns.Select(c => s.IndexOf(c.Name))]);

    public int[] OldKeyIndexes(TableSchema schema)
    {
        var keyNames = schema.KeyIndexes.Select(i => schema.Columns[i].Name).ToList();
        return [.. KeyIndexes.Select(k => keyNames.IndexOf(Columns[k].Name))];
    }

    private static string Hash(TableId source) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(source.ToString())))[..12].ToString(CultureInfo.InvariantCulture);
}
