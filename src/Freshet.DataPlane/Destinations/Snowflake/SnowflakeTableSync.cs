using System.Globalization;
using Freshet.Contracts;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Destinations.Snowflake;

/// <summary>
/// Creates a target table for a source table, or brings an existing one in line with it as the schema-change policy
/// allows, reading the target's columns from INFORMATION_SCHEMA.COLUMNS of the connection's database; then creates the
/// placement's staging table for it.
/// </summary>
/// <remarks>
/// Snowflake changes a column's type in place only where no value can be lost (a longer VARCHAR, a NUMBER with more
/// precision and the same scale); any other retype the policy asks for is refused by the service and the table is
/// quarantined with that reason. A change of the source's key cannot be seen here (Snowflake keeps no enforced key to
/// compare with): the MERGE simply follows the source's current key.
/// </remarks>
internal sealed class SnowflakeTableSync(SnowflakeSqlClient client, Guid pipelineId, long epoch)
{
    private sealed record ExistingColumn(string Name, string DataType, int? Precision, int? Scale);

    public async Task<(TableSetup Setup, SnowflakeTargetTable? Table)> EnsureAsync(TableSchema table, SchemaChangePolicy policy, CancellationToken cancellationToken)
    {
        if (SchemaChangePlan.MetadataCollision(table) is { } collision)
        {
            return (Refused(collision), null);
        }

        var quoted = SnowflakeTypes.Quote(table.DestinationName);
        var existing = await ReadAsync(table.DestinationName, cancellationToken).ConfigureAwait(false);
        var created = false;
        List<string> added = [], dropped = [], retyped = [], ignored = [];
        if (existing is null)
        {
            var columns = table.Columns.Select(c => $"{SnowflakeTypes.Quote(c.Name)} {SnowflakeTypes.TargetType(c.Type)}{(c.IsKey ? " NOT NULL" : "")}").Concat(
            [
                $"{SnowflakeTypes.Quote(MetadataColumns.Position)} NUMBER(19,0)",
                $"{SnowflakeTypes.Quote(MetadataColumns.Sequence)} NUMBER(19,0)",
                $"{SnowflakeTypes.Quote(MetadataColumns.CommittedAt)} TIMESTAMP_TZ(6)",
                $"{SnowflakeTypes.Quote(MetadataColumns.SyncedAt)} TIMESTAMP_TZ(6)",
                $"{SnowflakeTypes.Quote(MetadataColumns.Deleted)} BOOLEAN NOT NULL DEFAULT FALSE",
                $"{SnowflakeTypes.Quote(MetadataColumns.DeletedAt)} TIMESTAMP_TZ(6)",
            ]);
            await client.ExecuteAsync(new SnowflakeStatement($"CREATE TABLE IF NOT EXISTS {quoted} ({string.Join(", ", columns)})"), cancellationToken).ConfigureAwait(false);
            created = true;
        }
        else
        {
            var byName = existing.Where(c => !MetadataColumns.All.Contains(c.Name)).ToDictionary(c => c.Name, StringComparer.Ordinal);
            var plan = SchemaChangePlan.Decide(table, byName.Keys,
                c => SameType(byName[c.Name], SnowflakeTypes.TargetType(c.Type)) ? null : $"{Describe(byName[c.Name])} → {SnowflakeTypes.TargetType(c.Type)}", policy);
            var differences = plan.Differences;
            if (plan.QuarantineReason is { } reason)
            {
                return (Refused(reason), null);
            }

            var actions = new List<string>();
            actions.AddRange(plan.Add.Select(c => $"ALTER TABLE {quoted} ADD COLUMN {SnowflakeTypes.Quote(c.Name)} {SnowflakeTypes.TargetType(c.Type)}"));
            added.AddRange(plan.Add.Select(c => c.Name));
            ignored.AddRange(plan.Ignored);
            actions.AddRange(plan.Drop.Select(name => $"ALTER TABLE {quoted} DROP COLUMN {SnowflakeTypes.Quote(name)}"));
            dropped.AddRange(plan.Drop);
            actions.AddRange(plan.Retype.Select(c => $"ALTER TABLE {quoted} ALTER COLUMN {SnowflakeTypes.Quote(c.Name)} SET DATA TYPE {SnowflakeTypes.TargetType(c.Type)}"));
            retyped.AddRange(plan.Retype.Select(c => c.Name));
            if (actions.Count > 0)
            {
                try
                {
                    // DDL commits statement by statement in Snowflake: a refused retype leaves the earlier actions done,
                    // which is harmless (the table is quarantined, and the next setup sees what is left to do).
                    await client.ExecuteAsync(new SnowflakeStatement(string.Join(";\n", actions)) { StatementCount = actions.Count }, cancellationToken).ConfigureAwait(false);
                }
                catch (SnowflakeException e) when (SnowflakeDestination.IsTableError(e))
                {
                    return (Refused($"the target could not follow the source ({differences}): {SnowflakeDestination.Describe(e)}"), null);
                }
            }
        }

        var targetColumns = created || added.Count + dropped.Count + retyped.Count > 0
            ? (await ReadAsync(table.DestinationName, cancellationToken).ConfigureAwait(false))!
            : existing!;
        var present = targetColumns.Select(c => c.Name).ToHashSet(StringComparer.Ordinal);
        var received = table.Columns.Where(c => !ignored.Contains(c.Name) && present.Contains(c.Name)).ToList();
        var target = new SnowflakeTargetTable(table.Source, table.DestinationName, received, pipelineId, epoch);
        await client.ExecuteAsync(new SnowflakeStatement(target.CreateStage()), cancellationToken).ConfigureAwait(false);
        return (new TableSetup(created, added, dropped, retyped, null, ignored), target);
    }

    private async Task<List<ExistingColumn>?> ReadAsync(string name, CancellationToken cancellationToken)
    {
        var result = await client.ExecuteAsync(new SnowflakeStatement(
            "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = CURRENT_SCHEMA() AND table_name = ? ORDER BY ordinal_position")
        {
            Bindings = [SnowflakeBinding.Text(name)],
        }, cancellationToken).ConfigureAwait(false);
        if (result.Rows.Count == 0)
        {
            return null;
        }

        return [.. result.Rows.Select(r => new ExistingColumn(r[0]!, r[1]!, Number(r[2]), Number(r[3])))];
    }

    private static int? Number(string? text) => text is null ? null : int.Parse(text, NumberStyles.Integer, CultureInfo.InvariantCulture);

    /// <summary>
    /// Whether the target's column already has the type the source's maps to, as INFORMATION_SCHEMA spells it: NUMBER
    /// with its precision and scale, TEXT for VARCHAR, and the time types without their fractional precision.
    /// </summary>
    private static bool SameType(ExistingColumn existing, string wanted)
    {
        var open = wanted.IndexOf('(', StringComparison.Ordinal);
        var family = open < 0 ? wanted : wanted[..open];
        if (family == "NUMBER")
        {
            var arguments = wanted[(open + 1)..^1].Split(',');
            return existing.DataType == "NUMBER"
                && existing.Precision == int.Parse(arguments[0], CultureInfo.InvariantCulture)
                && existing.Scale == int.Parse(arguments[1], CultureInfo.InvariantCulture);
        }

        return string.Equals(existing.DataType, family == "VARCHAR" ? "TEXT" : family, StringComparison.Ordinal);
    }

    private static string Describe(ExistingColumn column) =>
        column.DataType == "NUMBER" ? FormattableString.Invariant($"NUMBER({column.Precision},{column.Scale})") : column.DataType;

    private static TableSetup Refused(string reason) => new(false, [], [], [], reason, []);
}
