using Freshet.Contracts;
using Freshet.DataPlane.Sources.Postgres;

namespace Freshet.DataPlane.Tests.Sources.Postgres;

/// <summary>
/// Which limit a slot's retained WAL is judged against. The test cluster leaves max_slot_wal_keep_size unlimited (the
/// end-to-end test covers that case); the cases where the server limits the slot are checked here, without I/O.
/// </summary>
public sealed class WalRetentionLimitTests
{
    private const long GiB = 1L << 30;

    [Theory]
    [InlineData(null, null, null, null)]
    [InlineData(50 * GiB, null, 50 * GiB, RetainedWalLimitKind.MaxSlotWalKeepSize)]
    [InlineData(null, 10 * GiB, 10 * GiB, RetainedWalLimitKind.WalDiskBudget)]
    [InlineData(50 * GiB, 10 * GiB, 10 * GiB, RetainedWalLimitKind.WalDiskBudget)]
    [InlineData(10 * GiB, 50 * GiB, 10 * GiB, RetainedWalLimitKind.MaxSlotWalKeepSize)]
    [InlineData(10 * GiB, 10 * GiB, 10 * GiB, RetainedWalLimitKind.MaxSlotWalKeepSize)]
    public void Effective_IsTheSmallerOfTheServersLimitAndTheBudget_NamingWhichOne(
        long? serverLimit, long? budget, long? expectedBytes, RetainedWalLimitKind? expectedKind)
    {
        Assert.Equal((expectedBytes, expectedKind), WalRetentionLimit.Effective(serverLimit, budget));
    }

    [Fact]
    public void BudgetBytes_ReadsMegabytesFromTheConnectionSettings()
    {
        Assert.Null(WalRetentionLimit.BudgetBytes(new Dictionary<string, string>()));
        Assert.Equal(2048L * 1024 * 1024, WalRetentionLimit.BudgetBytes(new Dictionary<string, string> { ["wal_disk_budget_mb"] = "2048" }));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("-5")]
    [InlineData("10GB")]
    [InlineData("99999999999999999999")]
    public void BudgetBytes_NotAPositiveWholeNumber_FailsNamingTheSetting(string value)
    {
        var error = Assert.Throws<ArgumentException>(() => WalRetentionLimit.BudgetBytes(new Dictionary<string, string> { ["wal_disk_budget_mb"] = value }));
        Assert.Contains("wal_disk_budget_mb", error.Message, StringComparison.Ordinal);
    }
}
