using System.Globalization;
using Freshet.Console.Api;

namespace Freshet.Console.Components.Shared;

/// <summary>One line of what changed between two specs of a pipeline, in words: <c>Kind</c> is added, removed or changed.</summary>
public sealed record SpecChange(string Kind, string What, string? Before, string? After);

/// <summary>
/// What changed between two specs of a pipeline: tables added and removed, a table's options, and each option, as
/// lines people read (the revision view and the wizard's review show them), not JSON.
/// </summary>
public static class PipelineDiff
{
    public static IReadOnlyList<SpecChange> Between(PipelineSpecView before, PipelineSpecView after, Func<Guid, string> connectionName)
    {
        var changes = new List<SpecChange>();
        if (before.Name != after.Name)
        {
            changes.Add(new("changed", "Name", before.Name, after.Name));
        }

        if (before.SourceConnectionId != after.SourceConnectionId)
        {
            changes.Add(new("changed", "Source", connectionName(before.SourceConnectionId), connectionName(after.SourceConnectionId)));
        }

        if (before.DestinationConnectionId != after.DestinationConnectionId)
        {
            changes.Add(new("changed", "Destination", connectionName(before.DestinationConnectionId), connectionName(after.DestinationConnectionId)));
        }

        var old = before.Tables.ToDictionary(t => t.Key, StringComparer.Ordinal);
        var @new = after.Tables.ToDictionary(t => t.Key, StringComparer.Ordinal);
        foreach (var table in after.Tables.Where(t => !old.ContainsKey(t.Key)))
        {
            changes.Add(new("added", $"Table {table.Key}", null, TableOptionsText(table.Options)));
        }

        foreach (var table in before.Tables.Where(t => !@new.ContainsKey(t.Key)))
        {
            changes.Add(new("removed", $"Table {table.Key}", TableOptionsText(table.Options), null));
        }

        foreach (var table in after.Tables.Where(t => old.ContainsKey(t.Key)))
        {
            var was = TableOptionsText(old[table.Key].Options);
            var now = TableOptionsText(table.Options);
            if (was != now)
            {
                changes.Add(new("changed", $"Table {table.Key} options", was, now));
            }
        }

        if (before.DeleteMode != after.DeleteMode)
        {
            changes.Add(new("changed", "Deletes", DeleteModeText(before.DeleteMode), DeleteModeText(after.DeleteMode)));
        }

        if (before.SchemaChangePolicy != after.SchemaChangePolicy)
        {
            changes.Add(new("changed", "Schema changes", SchemaPolicyText(before.SchemaChangePolicy), SchemaPolicyText(after.SchemaChangePolicy)));
        }

        if (before.LagThresholdSeconds != after.LagThresholdSeconds)
        {
            changes.Add(new("changed", "Lag threshold", Seconds(before.LagThresholdSeconds), Seconds(after.LagThresholdSeconds)));
        }

        return changes;
    }

    public static string DeleteModeText(string mode) => mode switch
    {
        "hard" => "delete the destination row",
        "soft" => "keep the row, marked deleted",
        _ => mode,
    };

    public static string SchemaPolicyText(string policy) => policy switch
    {
        "propagate" => "follow the source (add, drop, retype columns)",
        "add_columns_only" => "add new columns only",
        "ignore" => "keep the destination's columns",
        "quarantine" => "stop the table until someone decides",
        _ => policy,
    };

    public static string Seconds(int seconds) => seconds % 60 == 0 && seconds >= 60
        ? string.Create(CultureInfo.InvariantCulture, $"{seconds / 60} min")
        : string.Create(CultureInfo.InvariantCulture, $"{seconds} s");

    public static string TableOptionsText(TableOptions? options)
    {
        var parts = new List<string> { options?.Snapshot == false ? "no initial copy" : "initial copy" };
        if (options?.DestinationName is { } name)
        {
            parts.Add($"as {name}");
        }

        if (options?.ExcludedColumns is { Count: > 0 } excluded)
        {
            parts.Add($"without {string.Join(", ", excluded)}");
        }

        return string.Join(", ", parts);
    }
}
