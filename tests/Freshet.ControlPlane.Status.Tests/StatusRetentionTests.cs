using Freshet.Contracts;
using Freshet.ControlPlane.Status.Health;
using Freshet.ControlPlane.Status.Ingest;
using Freshet.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Freshet.ControlPlane.Status.Tests;

/// <summary>
/// Rollups and retention over 40 simulated days on a real PostgreSQL, the clock a fake: a report every 30 minutes,
/// maintenance every 6 hours, as the background job would run it.
/// </summary>
public sealed class StatusRetentionTests
{
    private static readonly DateTimeOffset Start = new(2026, 10, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task FortyDays_KeepEachResolutionForItsPeriod_AndTheRollupsLoseNoErrorAndNoPeak()
    {
        var server = await PostgresServer.SharedAsync();
        var database = await server.CreateDatabaseAsync("status_retention");
        var connectionString = server.ConnectionString(database);
        await new StatusDatabaseMigrator().MigrateAsync(connectionString, CancellationToken.None);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var time = new FakeTimeProvider(Start);
        var store = new StatusStore(dataSource, time, NullLogger<StatusStore>.Instance);
        var maintenance = new StatusMaintenance(dataSource, time, NullLogger<StatusMaintenance>.Instance);
        var reader = new StatusReader(dataSource, time, HealthRules.Default);
        var pipeline = Guid.NewGuid();
        var worker = Guid.NewGuid();

        const int Reports = 40 * 48;
        for (var i = 0; i < Reports; i++)
        {
            var at = Start + TimeSpan.FromMinutes(30 * i);
            time.SetUtcNow(at);
            // The worker's error counter grows by one per report: every report brings one new error.
            await store.IngestAsync(worker, [Report(pipeline, at, errors: i, lagSeconds: i == 1000 ? 500 : i % 10)], CancellationToken.None);
            if (i % 12 == 11)
            {
                time.Advance(TimeSpan.FromMinutes(1));
                await maintenance.RunOnceAsync(CancellationToken.None);
            }
        }

        // The reports end at `now`; the clock goes an hour further so that the last hour has closed and is rolled up.
        var now = Start + TimeSpan.FromMinutes(30 * Reports);
        var end = now + TimeSpan.FromHours(1);
        time.SetUtcNow(end);
        await maintenance.RunOnceAsync(CancellationToken.None);

        var spans = await SpansAsync(dataSource, pipeline);
        Assert.True(spans[10].Oldest >= end - StatusMaintenance.Retention.Fine, $"10 s points from {spans[10].Oldest:u}");
        Assert.Equal(46, spans[10].Count); // the last 24 h before `end` (from now - 23 h): one report per 30 min, the last at now - 30 min
        Assert.True(spans[60].Oldest >= end - StatusMaintenance.Retention.Minute, $"1 min points from {spans[60].Oldest:u}");
        Assert.True(spans[60].Oldest < now - TimeSpan.FromDays(29), $"1 min points from {spans[60].Oldest:u}");
        Assert.Equal(Start, spans[3600].Oldest);
        Assert.Equal(40 * 24, spans[3600].Count);

        // Read back over the whole range: hourly points (1 minute points are gone before day 10), every error counted
        // once across two rollups, the one spike kept as the peak of its hour.
        var whole = await reader.ReadMetricsAsync(pipeline, Start, now, TimeSpan.FromSeconds(10), CancellationToken.None);
        Assert.Equal(3600, whole.StepSeconds);
        Assert.Equal(Reports - 1, whole.Points.Sum(p => p.Errors));
        Assert.Equal(500, whole.Points.Max(p => p.LagSecondsMax));
        Assert.All(whole.Points, p => Assert.Equal(100, p.RowsPerSecond));

        var week = await reader.ReadMetricsAsync(pipeline, now - TimeSpan.FromDays(7), now, TimeSpan.FromMinutes(30), CancellationToken.None);
        Assert.Equal(1800, week.StepSeconds);
        Assert.Equal(7 * 48, week.Points.Count);

        // Rollups recompute rather than add: another round changes no point.
        var before = await SpansAsync(dataSource, pipeline);
        var again = await maintenance.RunOnceAsync(CancellationToken.None);
        Assert.Equal(0, again);
        Assert.Equal(before, await SpansAsync(dataSource, pipeline));
        Assert.Equal(Reports - 1, (await reader.ReadMetricsAsync(pipeline, Start, now, TimeSpan.FromHours(1), CancellationToken.None)).Points.Sum(p => p.Errors));
    }

    private static async Task<Dictionary<int, (long Count, DateTimeOffset Oldest, long Errors)>> SpansAsync(NpgsqlDataSource dataSource, Guid pipeline)
    {
        await using var command = dataSource.CreateCommand(
            "SELECT step_seconds, count(*), min(bucket_start), sum(errors)::bigint FROM pipeline_status_points WHERE pipeline_id = $1 GROUP BY step_seconds");
        command.Parameters.Add(new() { Value = pipeline });
        var spans = new Dictionary<int, (long, DateTimeOffset, long)>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            spans[reader.GetInt32(0)] = (reader.GetInt64(1), reader.GetFieldValue<DateTimeOffset>(2), reader.GetInt64(3));
        }

        return spans;
    }

    private static PipelineProgressReport Report(Guid pipeline, DateTimeOffset at, long errors, double lagSeconds) =>
        new(pipeline, 1, PipelineRunState.Streaming, null, null, 1_000, 1_000, 0, lagSeconds, 100, 1_000, at, at, 0, 0, 0, 0, errors,
            new Dictionary<string, TableProgressReport>(), at);
}
