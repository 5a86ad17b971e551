using System.Globalization;
using Freshet.Contracts;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>
/// How much WAL a pipeline's slot may hold back: the server's own limit (<c>max_slot_wal_keep_size</c>, past which it
/// invalidates the slot) or the WAL disk budget configured on the source connection, whichever is smaller. Without
/// either the disk is the limit, and only the operator knows how much of it the source may spend.
/// </summary>
internal static class WalRetentionLimit
{
    /// <summary>The source connection's setting: megabytes (PostgreSQL's MB, 1024 × 1024 bytes) of WAL the slot may hold.</summary>
    public const string BudgetSetting = "wal_disk_budget_mb";

    private const long BytesPerMegabyte = 1024 * 1024;

    /// <summary>The connection's WAL disk budget in bytes; null when none is configured.</summary>
    /// <exception cref="ArgumentException">The setting is not a positive whole number of megabytes (a hand-written spec file).</exception>
    public static long? BudgetBytes(IReadOnlyDictionary<string, string> settings)
    {
        if (!settings.TryGetValue(BudgetSetting, out var text) || string.IsNullOrEmpty(text))
        {
            return null;
        }

        return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var megabytes) && megabytes is > 0 and <= long.MaxValue / BytesPerMegabyte
            ? megabytes * BytesPerMegabyte
            : throw new ArgumentException($"The PostgreSQL source's '{BudgetSetting}' must be a positive whole number of megabytes, not '{text}'.", nameof(settings));
    }

    /// <summary>The smaller of the two limits and which one it is; the server's when they are equal, since it is the harder one.</summary>
    public static (long? Bytes, RetainedWalLimitKind? Kind) Effective(long? serverLimitBytes, long? budgetBytes) => (serverLimitBytes, budgetBytes) switch
    {
        ({ } server, { } budget) when budget < server => (budget, RetainedWalLimitKind.WalDiskBudget),
        ({ } server, _) => (server, RetainedWalLimitKind.MaxSlotWalKeepSize),
        (null, { } budget) => (budget, RetainedWalLimitKind.WalDiskBudget),
        (null, null) => (null, null),
    };
}
