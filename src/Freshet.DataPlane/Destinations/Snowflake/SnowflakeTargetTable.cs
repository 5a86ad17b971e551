using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Freshet.DataPlane.Destinations.Folding;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// What <see cref="SnowflakeDestination.EnsureTableAsync"/> registered for a source table: the target table, the source
/// columns it receives, and the run's staging table for it.
/// </summary>
/// <remarks>
/// The staging table belongs to one placement (its name carries the pipeline and the epoch), so a worker that lost the
/// pipeline but still runs can never stage into the rows its successor is about to merge. Its columns:
/// <c>_chunk</c> (-1 for a stream batch, the chunk number for snapshot rows), <c>_del</c> (a delete), <c>_p</c>/<c>_s</c>
/// (position and sequence), <c>_c</c> (commit time), <c>_d</c> (soft mode: written and then deleted in the batch),
/// <c>_u</c> (one character per column, '1' where the value is unchanged and the target's stays), <c>c0…</c> the
/// values, <c>o0…</c> the key the row had before the batch changed it (where unchanged values come from).
/// </remarks>
internal sealed class SnowflakeTargetTable : IFoldTarget
{
    public const int StreamChunk = -1;

    private readonly ConditionalWeakTable<TableSchema, int[]> _sourceIndexes = [];

    public SnowflakeTargetTable(TableId source, string name, IReadOnlyList<ColumnSchema> columns, Guid pipelineId, long epoch)
    {
        Source = source;
        Name = name;
        Columns = columns;
        KeyIndexes = [.. columns.Select((c, i) => (c, i)).Where(x => x.c.IsKey).Select(x => x.i)];
        StageName = StagePrefix(pipelineId) + FormattableString.Invariant($"{epoch}_") + Hash(source);
        StageColumns =
        [
            new("_chunk", new ColumnType(ValueKind.Int32, false, "int"), false),
            new("_del", new ColumnType(ValueKind.Boolean, false, "boolean"), false),
            new("_p", new ColumnType(ValueKind.Int64, false, "bigint"), false),
            new("_s", new ColumnType(ValueKind.Int64, false, "bigint"), false),
            new("_c", new ColumnType(ValueKind.TimestampTz, false, "timestamptz"), false),
            new("_d", new ColumnType(ValueKind.Boolean, false, "boolean"), false),
            new("_u", new ColumnType(ValueKind.Text, false, "text"), false),
            .. columns.Select((c, i) => new ColumnSchema($"c{i}", c.Type, false)),
            .. KeyIndexes.Select((k, i) => new ColumnSchema($"o{i}", columns[k].Type, false)),
        ];
        StreamColumns = [.. StageColumns.Skip(1)];
        ValueColumns = [.. StageColumns.Where(c => c.Name.StartsWith('c'))];
    }

    public TableId Source { get; }

    /// <summary>The target table's name (quoted wherever it is used, so its case is the source's).</summary>
    public string Name { get; }

    public string Quoted => SnowflakeTypes.Quote(Name);

    /// <summary>The source columns the target receives, with the source's types (values are cast to the target's on write).</summary>
    public IReadOnlyList<ColumnSchema> Columns { get; }

    public IReadOnlyList<int> KeyIndexes { get; }

    public int ColumnCount => Columns.Count;

    public string StageName { get; }

    public string QuotedStage => SnowflakeTypes.Quote(StageName);

    /// <summary>Every column of the staging table, in order (JSON rows of a stream batch carry all of them but <c>_chunk</c>).</summary>
    public IReadOnlyList<ColumnSchema> StageColumns { get; }

    /// <summary>The staging table's columns a stream batch's JSON rows carry (all but <c>_chunk</c>, which is constant).</summary>
    public IReadOnlyList<ColumnSchema> StreamColumns { get; }

    /// <summary>The staging table's value columns <c>c0…</c> alone (what snapshot rows carry).</summary>
    public IReadOnlyList<ColumnSchema> ValueColumns { get; }

    public static string StagePrefix(Guid pipelineId) => $"_freshet_stage_{pipelineId:N}_";

    public string ColumnName(int index) => Columns[index].Name;

    public int[] SourceIndexes(TableSchema schema) =>
        _sourceIndexes.GetValue(schema, s => [.. Columns.Select(c => s.IndexOf(c.Name))]);

    public int[] OldKeyIndexes(TableSchema schema)
    {
        var indexes = SourceIndexes(schema);
        return [.. KeyIndexes.Select(k => indexes[k] < 0 ? -1 : IndexIn(schema.KeyIndexes, indexes[k]))];
    }

    public string CreateStage() =>
        "CREATE OR REPLACE TRANSIENT TABLE " + QuotedStage + " ("
        + string.Join(", ", StageColumns.Select(c => $"{SnowflakeTypes.Quote(c.Name)} {SnowflakeTypes.TargetType(c.Type)}"))
        + ")";

    private static int IndexIn(IReadOnlyList<int> list, int value)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == value)
            {
                return i;
            }
        }
        return -1;
    }

    // Source names can be long and hold any character; the stage needs a short, plain and stable name per table.
    private static string Hash(TableId source) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{source.Schema}\u0001{source.Name}")))[..12];
}
