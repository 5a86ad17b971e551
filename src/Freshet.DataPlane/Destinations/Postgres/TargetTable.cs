using System.Runtime.CompilerServices;
using Freshet.DataPlane.Destinations.Folding;
using Freshet.DataPlane.Schema;
using NpgsqlTypes;

namespace Freshet.DataPlane.Destinations.Postgres;

/// <summary>One source column the target receives.</summary>
/// <param name="Name">Column name (source and target).</param>
/// <param name="IsKey">Part of the target's primary key.</param>
/// <param name="TargetType">The target column's type, as format_type spells it.</param>
/// <param name="WireType">The type its values are sent (and staged) as.</param>
/// <param name="WireDbType">The same, for Npgsql.</param>
/// <param name="NeedsCast">Whether the server must cast from <paramref name="WireType"/> to <paramref name="TargetType"/>.</param>
internal sealed record TargetColumn(string Name, bool IsKey, string TargetType, string WireType, NpgsqlDbType WireDbType, bool NeedsCast);

/// <summary>What <see cref="PostgresDestination.EnsureTableAsync"/> registered for a source table: where its rows go and which columns are written.</summary>
internal sealed class TargetTable : IFoldTarget
{
    private readonly ConditionalWeakTable<TableSchema, int[]> _sourceIndexes = [];

    public TargetTable(TableId source, string schema, string name, IReadOnlyList<TargetColumn> columns)
    {
        Source = source;
        Name = name;
        Columns = columns;
        QualifiedName = $"{Sql.Quote(schema)}.{Sql.Quote(name)}";
        KeyIndexes = [.. columns.Select((c, i) => (c, i)).Where(x => x.c.IsKey).Select(x => x.i)];
        NeedsCast = columns.Any(c => c.NeedsCast);
    }

    public TableId Source { get; }

    public string Name { get; }

    public string QualifiedName { get; }

    public IReadOnlyList<TargetColumn> Columns { get; }

    public int ColumnCount => Columns.Count;

    public string ColumnName(int index) => Columns[index].Name;

    /// <summary>Positions of the key columns in <see cref="Columns"/>.</summary>
    public IReadOnlyList<int> KeyIndexes { get; }

    /// <summary>Whether some column cannot be copied straight into the target.</summary>
    public bool NeedsCast { get; }

    /// <summary>For each of <see cref="Columns"/>, its position in <paramref name="schema"/> (matched by name), or -1.</summary>
    public int[] SourceIndexes(TableSchema schema) =>
        _sourceIndexes.GetValue(schema, s => [.. Columns.Select(c => s.IndexOf(c.Name))]);

    /// <summary>For each key column, its position in <paramref name="schema"/>'s old-key values (<see cref="TableSchema.KeyIndexes"/> order), or -1.</summary>
    public int[] OldKeyIndexes(TableSchema schema)
    {
        var indexes = SourceIndexes(schema);
        return [.. KeyIndexes.Select(k => indexes[k] < 0 ? -1 : IndexOf(schema.KeyIndexes, indexes[k]))];
    }

    private static int IndexOf(IReadOnlyList<int> list, int value)
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
}
