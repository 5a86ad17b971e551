using DuckDB.NET.Data;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>A target table as <see cref="DuckDbDestination.EnsureTableAsync"/> left it, and which source columns it receives.</summary>
/// <param name="Source">The source table.</param>
/// <param name="Name">The target table in the <c>main</c> schema.</param>
/// <param name="Columns">Every replicated (non-metadata) column of the target, in the target's order.</param>
/// <param name="Written">The source columns written, each to the target column of the same name.</param>
/// <param name="PhysicalColumns">Every column of the target, metadata included, in DuckDB's order (an appender's order).</param>
internal sealed record TargetTable(
    TableId Source, string Name, IReadOnlyList<TargetColumn> Columns, IReadOnlyList<WrittenColumn> Written, IReadOnlyList<string> PhysicalColumns)
{
    public string QualifiedName { get; } = "main." + DuckDbSql.Quote(Name);

    /// <summary>Whether new rows can be appended straight in: every written column can, and so can every other column (as NULL).</summary>
    public bool AppendsDirectly { get; } = Written.All(c => c.AppendsDirectly) && Columns.All(c => ChunkAppender.Supports(c.Type));

    /// <summary>Positions in <see cref="Written"/> of the key columns.</summary>
    public IReadOnlyList<int> KeyIndexes { get; } = [.. Written.Select((c, i) => (c, i)).Where(x => x.c.IsKey).Select(x => x.i)];

    /// <summary>The position in <see cref="Written"/> of the column written to <paramref name="targetColumn"/>, or -1.</summary>
    public int WrittenIndexOf(string targetColumn)
    {
        for (var i = 0; i < Written.Count; i++)
        {
            if (string.Equals(Written[i].TargetName, targetColumn, StringComparison.OrdinalIgnoreCase))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>A replicated column of a target table, as DuckDB describes it.</summary>
internal sealed record TargetColumn(string Name, string Type);

/// <summary>A source column that is written, and how.</summary>
/// <param name="SourceName">The column's name in the source's <see cref="TableSchema"/>.</param>
/// <param name="SourceType">Its type at the source: decides how values are staged.</param>
/// <param name="TargetName">The target column (DuckDB matches names ignoring case).</param>
/// <param name="TargetType">The target column's type; values are cast to it when it is not the type the source maps to.</param>
/// <param name="IsKey">Whether rows are matched on it.</param>
internal sealed record WrittenColumn(string SourceName, ColumnType SourceType, string TargetName, string TargetType, bool IsKey)
{
    public string StagingType { get; } = DuckDbTypes.StagingType(SourceType);

    public Action<IDuckDBAppenderRow, object> Write { get; } = DuckDbTypes.Writer(SourceType);

    /// <summary>
    /// Whether values go straight into the target column (<see cref="ChunkAppender"/>): the target has the type the
    /// source maps to, and it is one the appender writes. Otherwise they need staging and SQL to convert.
    /// </summary>
    public bool AppendsDirectly { get; } =
        !SourceType.IsArray && DuckDbTypes.SameType(TargetType, DuckDbTypes.TargetType(SourceType)) && ChunkAppender.Supports(TargetType);

    /// <summary>SQL giving the target value from the staged value <paramref name="staged"/>.</summary>
    public string TargetValue(string staged)
    {
        var value = DuckDbTypes.FromStaging(SourceType, staged);
        return DuckDbTypes.SameType(TargetType, DuckDbTypes.TargetType(SourceType)) ? value : $"CAST({value} AS {TargetType})";
    }
}
