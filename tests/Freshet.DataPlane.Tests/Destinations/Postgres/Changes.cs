using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>Hand-made schemas, changes and batches.</summary>
internal static class Changes
{
    public static readonly DateTimeOffset CommitTime = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static ColumnSchema Key(string name, ValueKind kind = ValueKind.Int32, string? sourceType = null) => new(name, Type(kind, sourceType), true);

    public static ColumnSchema Column(string name, ValueKind kind, string? sourceType = null, bool isArray = false, int? precision = null, int? scale = null) =>
        new(name, new ColumnType(kind, isArray, sourceType ?? DefaultName(kind) + (isArray ? "[]" : ""), precision, scale), false);

    public static TableSchema Table(string name, params ColumnSchema[] columns) => new(new TableId("src", name), name, columns);

    public static RowChange Insert(TableSchema table, long position, long sequence, params object?[] values) => Change(table, ChangeKind.Insert, position, sequence, values);

    public static RowChange Update(TableSchema table, long position, long sequence, params object?[] values) => Change(table, ChangeKind.Update, position, sequence, values);

    public static RowChange KeyChange(TableSchema table, long position, long sequence, object?[] oldKey, params object?[] values) => new()
    {
        Table = table,
        Kind = ChangeKind.Update,
        Values = values,
        OldKey = oldKey,
        Position = position,
        Sequence = sequence,
        CommittedAt = At(position),
    };

    public static RowChange Delete(TableSchema table, long position, long sequence, params object?[] key)
    {
        var values = new object?[table.Columns.Count];
        for (var k = 0; k < key.Length; k++)
        {
            values[table.KeyIndexes[k]] = key[k];
        }

        return Change(table, ChangeKind.Delete, position, sequence, values);
    }

    public static RowChange Truncate(TableSchema table, long position, long sequence) => Change(table, ChangeKind.Truncate, position, sequence, []);

    public static ChangeBatch Batch(params RowChange[] changes)
    {
        var last = changes.Length == 0 ? (0L, 0L) : (changes[^1].Position, changes[^1].Sequence);
        return new ChangeBatch
        {
            Changes = changes,
            ResumePosition = $"resume-{last.Item1}",
            AppliedThrough = last,
            LastCommittedAt = changes.Length == 0 ? null : changes[^1].CommittedAt,
        };
    }

    /// <summary>Each position commits at its own second, so a row's commit time shows which change wrote it.</summary>
    public static DateTimeOffset At(long position) => CommitTime.AddSeconds(position);

    public static UnchangedValue Unchanged => UnchangedValue.Instance;

    private static RowChange Change(TableSchema table, ChangeKind kind, long position, long sequence, object?[] values) => new()
    {
        Table = table,
        Kind = kind,
        Values = values,
        Position = position,
        Sequence = sequence,
        CommittedAt = At(position),
    };

    private static ColumnType Type(ValueKind kind, string? sourceType) => new(kind, false, sourceType ?? DefaultName(kind));

    private static string DefaultName(ValueKind kind) => kind switch
    {
        ValueKind.Int16 => "smallint",
        ValueKind.Int32 => "integer",
        ValueKind.Int64 => "bigint",
        ValueKind.Decimal => "numeric(12,2)",
        ValueKind.NumericText => "numeric",
        ValueKind.Float32 => "real",
        ValueKind.Float64 => "double precision",
        ValueKind.Text => "text",
        ValueKind.Boolean => "boolean",
        ValueKind.Date => "date",
        ValueKind.Time => "time without time zone",
        ValueKind.Timestamp => "timestamp without time zone",
        ValueKind.TimestampTz => "timestamp with time zone",
        ValueKind.Interval => "interval",
        ValueKind.Uuid => "uuid",
        ValueKind.Json => "jsonb",
        ValueKind.Bytes => "bytea",
        ValueKind.Enum => "public.mood",
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}
