using Freshet.DataPlane.Destinations.BigQuery;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>The connection test against the emulator: every step on a good connection, a clear first failure on a bad one.</summary>
public sealed class BigQueryConnectionCheckTests
{
    [Fact]
    public async Task GoodConnection_PassesEveryStep_AndLeavesNoTableBehind()
    {
        await using var bq = await BigQueryTestProject.StartAsync();

        var steps = await BigQueryConnectionCheck.RunAsync(bq.Options, bq.Tokens, bq.Rest, bq.Writer, "freshet", default);

        Assert.Equal(["authenticate", "dataset", "create table", "write", "query", "drop table"], steps.Select(s => s.Name));
        Assert.All(steps, s => Assert.True(s.Succeeded, s.Message));
        Assert.Empty(await bq.Emulator.QueryAsync("SELECT table_name FROM information_schema.tables WHERE table_schema = 'freshet'"));
    }

    [Fact]
    public async Task DeletedKey_StopsAtAuthentication_WithWhatToCheck()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        bq.Emulator.DeleteServiceAccountKeys(BigQueryTestProject.Account);

        var steps = await BigQueryConnectionCheck.RunAsync(bq.Options, bq.Tokens, bq.Rest, bq.Writer, "freshet", default);

        var step = Assert.Single(steps);
        Assert.Equal("authenticate", step.Name);
        Assert.False(step.Succeeded);
        Assert.Contains("invalid_grant", step.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MissingDataset_StopsThere_NamingTheDatasetAndTheRole()
    {
        await using var bq = await BigQueryTestProject.StartAsync();

        var steps = await BigQueryConnectionCheck.RunAsync(bq.Options, bq.Tokens, bq.Rest, bq.Writer, "warehouse", default);

        Assert.Equal(["authenticate", "dataset"], steps.Select(s => s.Name));
        Assert.False(steps[1].Succeeded);
        Assert.Contains($"{bq.Options.ProjectId}.warehouse", steps[1].Message, StringComparison.Ordinal);
        Assert.Contains("roles/bigquery.dataViewer", steps[1].Message, StringComparison.Ordinal);
    }
}
