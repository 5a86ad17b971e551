namespace Freshet.DataPlane.Schema;

/// <summary>A source table's name.</summary>
public readonly record struct TableId(string Schema, string Name)
{
    public override string ToString() => $"{Schema}.{Name}";
}

/// <summary>One replicated column.</summary>
/// <param name="Name">Column name at the source (and in the destination).</param>
/// <param name="Type">Its type.</param>
/// <param name="IsKey">Whether it is part of the key the destination merges on.</param>
public sealed record ColumnSchema(string Name, ColumnType Type, bool IsKey);

/// <summary>
/// A source table's replicated shape at one point in the log: the columns in source order (excluded columns already
/// removed) and the destination table they land in. Immutable: a schema change produces a new instance.
/// </summary>
public sealed class TableSchema
{
    public TableSchema(TableId source, string destinationName, IReadOnlyList<ColumnSchema> columns)
    {
        Source = source;
        DestinationName = destinationName;
        Columns = columns;
        KeyIndexes = [.. columns.Select((c, i) => (c, i)).Where(x => x.c.IsKey).Select(x => x.i)];
        if (KeyIndexes.Count == 0)
        {
            throw new ArgumentException($"Table {source} has no key column.", nameof(columns));
        }
    }

    public TableId Source { get; }

    public string DestinationName { get; }

    public IReadOnlyList<ColumnSchema> Columns { get; }

    /// <summary>Positions of the key columns in <see cref="Columns"/>, in column order.</summary>
    public IReadOnlyList<int> KeyIndexes { get; }

    public int IndexOf(string column)
    {
        for (var i = 0; i < Columns.Count; i++)
        {
            if (string.Equals(Columns[i].Name, column, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>Whether both describe the same columns with the same types in the same order.</summary>
    public bool SameShapeAs(TableSchema other) =>
        Columns.Count == other.Columns.Count
        && Columns.Zip(other.Columns).All(p => p.First.Name == p.Second.Name && p.First.IsKey == p.Second.IsKey && p.First.Type.SameValuesAs(p.Second.Type));

    public override string ToString() => $"{Source} → {DestinationName} ({string.Join(", ", Columns.Select(c => $"{c.Name} {c.Type}"))})";
}
