using Freshet.ControlPlane.Scheduler.Leadership;
using Freshet.Testing;
using Npgsql;

namespace Freshet.ControlPlane.Scheduler.Tests;

/// <summary>Leader election on a real PostgreSQL, through the scheduler's own migrations.</summary>
public sealed class LeadershipTests : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(1);
    private NpgsqlDataSource _dataSource = null!;

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("scheduler");
        var connectionString = server.ConnectionString(database);
        await new SchedulerDatabaseMigrator().MigrateAsync(connectionString, CancellationToken.None);
        _dataSource = NpgsqlDataSource.Create(connectionString);
    }

    public async Task DisposeAsync() => await _dataSource.DisposeAsync();

    [Fact]
    public async Task OneLeads_TheStandbyTakesOverOnlyOnceTheLeaseExpires_AndTheOldTermCanNoLongerCommit()
    {
        var a = Candidate("a");
        var b = Candidate("b");

        var first = await a.TryAcquireOrRenewAsync(CancellationToken.None);
        Assert.Equal(new LeadershipTerm(a.Candidate, 1), first);
        Assert.Null(await b.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Equal(first, await a.TryAcquireOrRenewAsync(CancellationToken.None));
        await CommitFencedAsync(first!);

        // The leader stops renewing (it died or stalled): the standby gets nothing until the lease runs out.
        await Task.Delay(Lease + TimeSpan.FromMilliseconds(200));
        var second = await b.TryAcquireOrRenewAsync(CancellationToken.None);

        Assert.Equal(new LeadershipTerm(b.Candidate, 2), second);
        await Assert.ThrowsAsync<NotLeaderException>(() => CommitFencedAsync(first!));
        await CommitFencedAsync(second!);
        Assert.Null(await a.TryAcquireOrRenewAsync(CancellationToken.None));
        Assert.Equal((b.Candidate, "b", 2L), await CurrentAsync(a));
    }

    [Fact]
    public async Task LeaderThatResigns_IsReplacedAtOnce()
    {
        var a = Candidate("a");
        var b = Candidate("b");
        await a.TryAcquireOrRenewAsync(CancellationToken.None);

        await a.ResignAsync(CancellationToken.None);

        Assert.Equal(2, (await b.TryAcquireOrRenewAsync(CancellationToken.None))?.Term);
    }

    [Fact]
    public async Task ManyCandidatesRacing_NeverHoldTheSameTermTwice_AndNeverTwoAtOnce()
    {
        var candidates = Enumerable.Range(0, 6).Select(i => Candidate($"c{i}")).ToList();
        var holdersOfTerm = new System.Collections.Concurrent.ConcurrentDictionary<long, Guid>();
        var conflicts = 0;
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(4);

        // Each candidate renews for a while, then stalls past the lease so another can take over.
        await Task.WhenAll(candidates.Select(async (candidate, index) =>
        {
            var random = new Random(index);
            while (DateTime.UtcNow < until)
            {
                var term = await candidate.TryAcquireOrRenewAsync(CancellationToken.None);
                if (term is not null && holdersOfTerm.GetOrAdd(term.Term, candidate.Candidate) != candidate.Candidate)
                {
                    Interlocked.Increment(ref conflicts);
                }

                await Task.Delay(random.Next(0, 5) == 0 ? Lease + TimeSpan.FromMilliseconds(100) : TimeSpan.FromMilliseconds(50));
            }
        }));

        Assert.Equal(0, conflicts);
        Assert.True(holdersOfTerm.Count >= 2, $"only {holdersOfTerm.Count} term(s) in 4 s: the race exercised no takeover");
        Assert.Equal(Enumerable.Range(1, holdersOfTerm.Count).Select(t => (long)t), holdersOfTerm.Keys.Order());
    }

    private SchedulerLeadership Candidate(string name) => new(_dataSource, Guid.NewGuid(), name, Lease);

    private async Task CommitFencedAsync(LeadershipTerm term)
    {
        await using var connection = await _dataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await SchedulerLeadership.FenceAsync(connection, transaction, term, CancellationToken.None);
        await transaction.CommitAsync();
    }

    private static async Task<(Guid, string, long)?> CurrentAsync(SchedulerLeadership leadership) =>
        await leadership.CurrentAsync(CancellationToken.None) is { } current ? (current.Holder, current.Name, current.Term) : null;
}
