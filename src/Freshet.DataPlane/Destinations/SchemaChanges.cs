using Freshet.Contracts;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations;

/// <summary>
/// What a schema-change policy makes of the differences between a source table and its existing target table: the
/// columns to add, drop and retype, the new columns the target does not receive, and the reason to quarantine the
/// table instead. Each destination compares types in its own terms and carries the actions out in its own DDL; the
/// decision itself is made here once.
/// </summary>
/// <param name="Add">New source columns the target gets (Propagate, AddColumnsOnly).</param>
/// <param name="Drop">Target columns the source no longer has, to drop (Propagate).</param>
/// <param name="Retype">Columns whose target type should follow the source's (Propagate).</param>
/// <param name="Ignored">New source columns the target does not receive (Ignore).</param>
/// <param name="Differences">The differences in words (for reasons and logs); empty when there are none.</param>
/// <param name="QuarantineReason">Set when the policy says the table must stop.</param>
internal sealed record SchemaChangePlan(
    IReadOnlyList<ColumnSchema> Add,
    IReadOnlyList<string> Drop,
    IReadOnlyList<ColumnSchema> Retype,
    IReadOnlyList<string> Ignored,
    string Differences,
    string? QuarantineReason)
{
    /// <summary>
    /// Decides. <paramref name="targetColumns"/> are the target's replicated columns (metadata columns left out);
    /// <paramref name="retyped"/> says, for a source column the target has, how its type changed (e.g. <c>INT64 → STRING</c>),
    /// or null when it did not; <paramref name="keyChange"/> describes a change of the key, when the destination can see one.
    /// </summary>
    public static SchemaChangePlan Decide(TableSchema source, IEnumerable<string> targetColumns, Func<ColumnSchema, string?> retyped, SchemaChangePolicy policy,
        string? keyChange = null)
    {
        var targetList = targetColumns.ToList();
        var existing = targetList.ToHashSet(StringComparer.Ordinal);
        var added = source.Columns.Where(c => !existing.Contains(c.Name)).ToList();
        var gone = targetList.Where(name => source.IndexOf(name) < 0).ToList();
        var changed = source.Columns.Where(c => existing.Contains(c.Name)).Select(c => (Column: c, Change: retyped(c))).Where(x => x.Change is not null).ToList();
        var differences = Describe(added.Select(c => c.Name), gone, changed.Select(c => $"{c.Column.Name} ({c.Change})"), keyChange);
        if (differences.Length > 0 && policy == SchemaChangePolicy.Quarantine)
        {
            return Refused($"the source table changed: {differences}", differences);
        }

        if (keyChange is not null && policy != SchemaChangePolicy.Propagate)
        {
            return Refused($"the source table's key changed, which policy {policy} cannot follow: {differences}", differences);
        }

        var follows = policy is SchemaChangePolicy.Propagate or SchemaChangePolicy.AddColumnsOnly;
        // Under the policies other than Propagate a retyped column keeps the target's type: values are cast to it as they are written.
        return policy == SchemaChangePolicy.Propagate
            ? new SchemaChangePlan(added, gone, [.. changed.Select(c => c.Column)], [], differences, null)
            : new SchemaChangePlan(follows ? added : [], [], [], follows ? [] : [.. added.Select(c => c.Name)], differences, null);
    }

    /// <summary>
    /// A reason to refuse a table whose column has the name of a Freshet metadata column, or null. Names are compared as
    /// <paramref name="names"/> compares them (ordinal by default; a destination whose names ignore case passes that).
    /// </summary>
    public static string? MetadataCollision(TableSchema table, StringComparer? names = null) =>
        table.Columns.FirstOrDefault(c => MetadataColumns.All.Contains(c.Name, names ?? StringComparer.Ordinal)) is { } collision
            ? $"column {collision.Name} has the name of a Freshet metadata column"
            : null;

    private static SchemaChangePlan Refused(string reason, string differences) => new([], [], [], [], differences, reason);

    private static string Describe(IEnumerable<string> added, IEnumerable<string> dropped, IEnumerable<string> retyped, string? key)
    {
        var parts = new List<string>();
        foreach (var (label, names) in new[] { ("added", added), ("dropped", dropped), ("retyped", retyped) })
        {
            var list = string.Join(", ", names);
            if (list.Length > 0)
            {
                parts.Add($"{label} {list}");
            }
        }

        if (key is not null)
        {
            parts.Add($"key {key}");
        }

        return string.Join("; ", parts);
    }
}
