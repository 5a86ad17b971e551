using Freshet.Contracts;
using Freshet.ControlPlane.Status.Alerts;
using Freshet.ControlPlane.Status.Health;
using Freshet.ControlPlane.Status.Ingest;
using Freshet.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Freshet.ControlPlane.Status.Tests.Alerts;

/// <summary>
/// Alert evaluation on a real PostgreSQL with a fake clock, fed by real ingest: two replicas evaluating at the same
/// moments raise each notice once; an alert opens after the rule's duration and resolves with a notice; the history
/// and outbox read back through <see cref="IAlertHistory"/>; a second firing inside the quiet period opens silently;
/// deleting the rule closes its open alert without a notice.
/// The rules come from a catalog held in memory here (in the product the API module provides them).
/// </summary>
public sealed class AlertEngineTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    private readonly FakeTimeProvider _time = new(T0);
    private readonly Guid _tenant = Guid.NewGuid();
    private readonly Guid _pipeline = Guid.NewGuid();
    private readonly Guid _worker = Guid.NewGuid();
    private readonly RulesInMemory _catalog = new();
    private NpgsqlDataSource _dataSource = null!;
    private StatusStore _store = null!;
    private StatusReader _reader = null!;

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("alerts");
        var connectionString = server.ConnectionString(database);
        await new StatusDatabaseMigrator().MigrateAsync(connectionString, CancellationToken.None);
        _dataSource = NpgsqlDataSource.Create(connectionString);
        _store = new StatusStore(_dataSource, _time, NullLogger<StatusStore>.Instance);
        _reader = new StatusReader(_dataSource, _time, HealthRules.Default);
        _catalog.Subjects.Add(new AlertSubject(_tenant, "orders to warehouse", new PipelineStatusQuery(_pipeline, false, true, 1, 30)));
    }

    public async Task DisposeAsync() => await _dataSource.DisposeAsync();

    [Fact]
    public async Task TwoReplicas_RaiseEachNoticeOnce_AlertOpensAfterItsDuration_ResolvesWithANotice_QuietPeriodSilences_AndADeletedRuleClosesSilently()
    {
        var lagRule = Rule("lag over a minute", AlertCondition.LagAbove, threshold: 60, forDuration: TimeSpan.FromMinutes(2));
        _catalog.Rules.Add(lagRule);
        var options = new AlertOptions();
        using var sender = new WebhookSender(options, _time);
        var dispatcher = new WebhookDispatcher(_dataSource, _catalog, sender, _time, NullLogger<WebhookDispatcher>.Instance);
        AlertEngine Replica() => new(_dataSource, _catalog, _reader, dispatcher, options, _time, NullLogger<AlertEngine>.Instance);
        var replicas = new[] { Replica(), Replica() };

        async Task<int> EvaluateAtAsync(DateTimeOffset at, double lagSeconds)
        {
            _time.SetUtcNow(at);
            await _store.IngestAsync(_worker, [Report(at, lagSeconds)], CancellationToken.None);
            var raised = await Task.WhenAll(replicas.Select(r => r.EvaluateOnceAsync(CancellationToken.None)));
            return raised.Sum();
        }

        // Lag above the rule's threshold from 10:00:10; the rule wants 2 minutes of it.
        Assert.Equal(0, await EvaluateAtAsync(T0, 1));
        Assert.Equal(0, await EvaluateAtAsync(T0.AddSeconds(10), 90));
        Assert.Equal(0, await EvaluateAtAsync(T0.AddSeconds(70), 150));
        Assert.Equal(1, await EvaluateAtAsync(T0.AddSeconds(130), 210));
        Assert.Equal(0, await EvaluateAtAsync(T0.AddSeconds(140), 220));

        var history = new AlertHistory(_dataSource, sender, _time);
        var open = Assert.Single(await history.ReadIncidentsAsync(_tenant, null, null, open: true, null, 10, CancellationToken.None));
        Assert.Equal((lagRule.RuleId, _pipeline, "orders to warehouse"), (open.RuleId, open.PipelineId, open.PipelineName));
        Assert.Equal((T0.AddSeconds(10), T0.AddSeconds(130)), (open.ConditionSince, open.OpenedAt));
        Assert.Equal(210, open.Value);
        Assert.True(open.Notified);
        Assert.Equal("Lag is 4 min, above the rule's 60 s.", open.Summary);

        // Caught up: resolved, with a notice.
        Assert.Equal(1, await EvaluateAtAsync(T0.AddSeconds(150), 0.3));
        var resolved = Assert.Single(await history.ReadIncidentsAsync(_tenant, lagRule.RuleId, _pipeline, open: false, null, 10, CancellationToken.None));
        Assert.Equal(("cleared", T0.AddSeconds(150)), (resolved.Resolution, resolved.ResolvedAt));
        var notices = await history.ReadDeliveriesAsync(_tenant, lagRule.RuleId, null, 10, CancellationToken.None);
        Assert.Equal(["alert.resolved", "alert.firing"], notices.Select(n => n.Type).ToArray());
        Assert.All(notices, n => Assert.Equal(("pending", open.Id), (n.State, n.IncidentId)));
        // Another tenant asking for this rule's history gets nothing.
        Assert.Empty(await history.ReadIncidentsAsync(Guid.NewGuid(), lagRule.RuleId, null, null, null, 10, CancellationToken.None));
        Assert.Empty(await history.ReadDeliveriesAsync(Guid.NewGuid(), lagRule.RuleId, null, 10, CancellationToken.None));

        // Lag again for long enough, within the quiet period of the first firing: the alert opens, silently.
        Assert.Equal(0, await EvaluateAtAsync(T0.AddSeconds(200), 500));
        Assert.Equal(0, await EvaluateAtAsync(T0.AddSeconds(330), 600));
        var silenced = Assert.Single(await history.ReadIncidentsAsync(_tenant, null, null, open: true, null, 10, CancellationToken.None));
        Assert.False(silenced.Notified);

        // The rule is deleted: its open alert closes without a notice.
        _catalog.Rules.Clear();
        Assert.Equal(0, await EvaluateAtAsync(T0.AddSeconds(340), 600));
        var closed = (await history.ReadIncidentsAsync(_tenant, lagRule.RuleId, null, null, null, 10, CancellationToken.None))[0];
        Assert.Equal((silenced.Id, "rule_removed"), (closed.Id, closed.Resolution));
        Assert.Equal(2, (await history.ReadDeliveriesAsync(_tenant, lagRule.RuleId, null, 10, CancellationToken.None)).Count);

        // The dispatcher drops the notices of a rule that no longer exists instead of posting them.
        Assert.Equal(2, await dispatcher.DispatchOnceAsync(CancellationToken.None));
        Assert.All(await history.ReadDeliveriesAsync(_tenant, lagRule.RuleId, null, 10, CancellationToken.None), n => Assert.Equal(("dropped", 0), (n.State, n.Attempts.Count)));
    }

    private AlertRuleDefinition Rule(string name, AlertCondition condition, double? threshold = null, TimeSpan? forDuration = null) =>
        new(Guid.NewGuid(), _tenant, name, condition, threshold, [], forDuration ?? TimeSpan.Zero, TimeSpan.FromMinutes(15), null,
            new Uri("https://hooks.invalid/freshet"), "whsec_" + Convert.ToBase64String(new byte[32]), Enabled: true);

    private PipelineProgressReport Report(DateTimeOffset at, double lagSeconds) =>
        new(_pipeline, 1, PipelineRunState.Streaming, null, null, 1_000, 900, 100, lagSeconds, 10, 1_000, at, at, 4_096, 100, 1, 0, 0,
            new Dictionary<string, TableProgressReport>(), at);

    private sealed class RulesInMemory : IAlertRuleCatalog
    {
        public List<AlertRuleDefinition> Rules { get; } = [];

        public List<AlertSubject> Subjects { get; } = [];

        public Task<IReadOnlyList<AlertRuleDefinition>> ReadEnabledRulesAsync(CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<AlertRuleDefinition>>([.. Rules.Where(r => r.Enabled)]);

        public Task<AlertRuleDefinition?> ReadRuleAsync(Guid ruleId, CancellationToken cancellationToken) =>
            Task.FromResult(Rules.FirstOrDefault(r => r.RuleId == ruleId));

        public Task<IReadOnlyList<AlertSubject>> ReadSubjectsAsync(IReadOnlyCollection<Guid> tenantIds, CancellationToken cancellationToken) =>
            Task.FromResult<IReadOnlyList<AlertSubject>>([.. Subjects.Where(s => tenantIds.Contains(s.TenantId))]);
    }
}
