namespace Freshet.Emulators.Snowflake.Tests;

/// <summary>Request rules of POST/GET /api/v2/statements (docs: SQL API reference, "Submitting multiple SQL statements").</summary>
public sealed class StatementRulesTests
{
    [Fact]
    public async Task MultiStatementCount_MustMatchExactly_ZeroAcceptsAny()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;

        var withoutCount = await api.SubmitAsync("SELECT 1; SELECT 2");
        var wrongCount = await api.SubmitAsync("SELECT 1; SELECT 2", multiStatementCount: 3);
        var anyCount = await api.SubmitAsync("SELECT 1; SELECT 2; SELECT 3", multiStatementCount: 0);
        var exact = await api.SubmitAsync("SELECT 10 AS a; SELECT 'x' AS b", multiStatementCount: 2);

        Assert.Equal((422, "000008"), (withoutCount.Status, withoutCount.Code));
        Assert.Contains("Actual statement count 2 did not match the desired statement count 1", withoutCount.Message, StringComparison.Ordinal);
        Assert.Equal((422, "000008"), (wrongCount.Status, wrongCount.Code));
        Assert.Equal(200, anyCount.Status);
        Assert.Equal(200, exact.Status);
        var children = exact.Json!["statementHandles"]!.AsArray().Select(h => h!.GetValue<string>()).ToList();
        Assert.Equal(2, children.Count);
        var second = await api.PollAsync(children[1]);
        Assert.Equal([["x"]], second.Rows);
    }

    [Theory]
    [InlineData("BEGIN")]
    [InlineData("COMMIT")]
    [InlineData("USE FRESHET.PUBLIC")]
    [InlineData("ALTER SESSION SET QUERY_TAG = 'x'")]
    public async Task SessionStatement_OutsideMultiStatementRequest_IsRefused(string statement)
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;

        var answer = await api.SubmitAsync(statement);

        Assert.Equal(422, answer.Status);
        Assert.Equal("990002", answer.Code);
    }

    [Fact]
    public async Task Transaction_InMultiStatementRequest_CommitsTogether_OrRollsBackWhenAStatementFails()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        Assert.Equal(200, (await api.SubmitAsync("CREATE TABLE t (id NUMBER(38,0), name VARCHAR)")).Status);

        var committed = await api.SubmitAsync("BEGIN; INSERT INTO t VALUES (1, 'a'); INSERT INTO t VALUES (2, 'b'); COMMIT", multiStatementCount: 4);
        var failed = await api.SubmitAsync("BEGIN; INSERT INTO t VALUES (3, 'c'); INSERT INTO missing VALUES (4); COMMIT", multiStatementCount: 4);
        var leftOpen = await api.SubmitAsync("BEGIN; INSERT INTO t VALUES (5, 'e')", multiStatementCount: 2);

        Assert.Equal(200, committed.Status);
        Assert.Equal((422, "002003"), (failed.Status, failed.Code));
        Assert.Equal(200, leftOpen.Status);
        var rows = await emulator.QueryAsync("SELECT id FROM FRESHET.PUBLIC.t ORDER BY id");
        // 3 rolled back with the failed statement; 5 rolled back when its request (its session) ended without COMMIT.
        Assert.Equal([1m, 2m], rows.Select(r => (decimal)r[0]!));
    }

    [Fact]
    public async Task RequestId_ResubmittedWithRetry_ReturnsTheFirstExecutionWithoutRunningAgain()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        await api.SubmitAsync("CREATE TABLE t (id NUMBER)");
        var requestId = Guid.NewGuid();

        var first = await api.SubmitAsync("INSERT INTO t VALUES (1)", $"?requestId={requestId}");
        var executedAfterFirst = emulator.ExecutedRequests;
        var resubmitted = await api.SubmitAsync("INSERT INTO t VALUES (1)", $"?requestId={requestId}&retry=true");
        var withoutRetry = await api.SubmitAsync("INSERT INTO t VALUES (1)", $"?requestId={requestId}");

        Assert.Equal(200, first.Status);
        Assert.Equal(200, resubmitted.Status);
        Assert.Equal(first.Handle, resubmitted.Handle);
        Assert.Equal(executedAfterFirst, emulator.ExecutedRequests);
        Assert.Equal((400, "990001"), (withoutRetry.Status, withoutRetry.Code));
        Assert.Single(await emulator.QueryAsync("SELECT * FROM FRESHET.PUBLIC.t"));
    }

    [Fact]
    public async Task ExecutedStatements_CountsEachStatementOfRequestsThatRan_NotRefusedOrReplayedOnes()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        await api.SubmitAsync("CREATE TABLE t (id NUMBER)");
        var before = (emulator.ExecutedStatements, emulator.ExecutedRequests);
        var requestId = Guid.NewGuid();

        var transaction = await api.SubmitAsync("BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); COMMIT", $"?requestId={requestId}", multiStatementCount: 4);
        var replayed = await api.SubmitAsync("BEGIN; INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); COMMIT", $"?requestId={requestId}&retry=true", multiStatementCount: 4);
        var failed = await api.SubmitAsync("INSERT INTO missing VALUES (3)");
        var refused = await api.SubmitAsync("SELECT 1; SELECT 2", multiStatementCount: 3);

        Assert.Equal((200, 200, 422, 422), (transaction.Status, replayed.Status, failed.Status, refused.Status));
        // 4 of the transaction and 1 of the failed INSERT; the replay ran nothing, the refused request was never run.
        Assert.Equal((before.ExecutedStatements + 5, before.ExecutedRequests + 2), (emulator.ExecutedStatements, emulator.ExecutedRequests));
        using var http = new HttpClient { BaseAddress = emulator.BaseAddress };
        var counters = System.Text.Json.Nodes.JsonNode.Parse(await http.GetStringAsync("emulator/counters"))!;
        Assert.Equal(emulator.ExecutedStatements, counters["executedStatements"]!.GetValue<long>());
        Assert.Equal(emulator.ExecutedRequests, counters["executedRequests"]!.GetValue<int>());
    }

    [Fact]
    public async Task AsyncTrue_Answers202_ThenPollingAnswersTheResult()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        using var hold = emulator.HoldStatements();

        var accepted = await api.SubmitAsync("SELECT 42", "?async=true");
        var stillRunning = await api.PollAsync(accepted.Handle);
        hold.Dispose();
        var done = await PollUntilDoneAsync(api, accepted.Handle);

        Assert.Equal((202, "333334"), (accepted.Status, accepted.Code));
        Assert.Equal(202, stillRunning.Status);
        Assert.Equal($"/api/v2/statements/{accepted.Handle}", accepted.Json!["statementStatusUrl"]!.GetValue<string>());
        Assert.Equal([["42"]], done.Rows);
    }

    [Fact]
    public async Task LongStatement_WithoutAsync_Answers202AfterTheSynchronousWait()
    {
        var (emulator, api) = await RawApi.StartAsync(new SnowflakeEmulatorOptions { Account = "XY12345", SynchronousWait = TimeSpan.FromMilliseconds(200) });
        await using var _ = emulator;
        using var __ = api;
        var hold = emulator.HoldStatements();

        var accepted = await api.SubmitAsync("SELECT 7");
        hold.Dispose();
        var done = await PollUntilDoneAsync(api, accepted.Handle);

        Assert.Equal(202, accepted.Status);
        Assert.Equal([["7"]], done.Rows);
    }

    [Fact]
    public async Task LargeResult_IsSplitIntoPartitions_LaterOnesCarryOnlyData()
    {
        var (emulator, api) = await RawApi.StartAsync(new SnowflakeEmulatorOptions { Account = "XY12345", PartitionRowLimit = 3 });
        await using var _ = emulator;
        using var __ = api;

        var first = await api.SubmitAsync("SELECT range AS n FROM range(10) ORDER BY n");
        var second = await api.PollAsync(first.Handle, "?partition=1");
        var last = await api.PollAsync(first.Handle, "?partition=3");
        var beyond = await api.PollAsync(first.Handle, "?partition=4");

        Assert.Equal(10, first.Json!["resultSetMetaData"]!["numRows"]!.GetValue<int>());
        Assert.Equal([3, 3, 3, 1], first.Json["resultSetMetaData"]!["partitionInfo"]!.AsArray().Select(p => p!["rowCount"]!.GetValue<int>()));
        Assert.Equal(["0", "1", "2"], first.Rows.Select(r => r[0]));
        Assert.Equal(["3", "4", "5"], second.Rows.Select(r => r[0]));
        Assert.Null(second.Json!["resultSetMetaData"]);
        Assert.Equal(["9"], last.Rows.Select(r => r[0]));
        Assert.Equal(422, beyond.Status);
    }

    [Fact]
    public async Task RequestOverTheSizeLimit_Is413AndDoesNotRun()
    {
        var (emulator, api) = await RawApi.StartAsync(new SnowflakeEmulatorOptions { Account = "XY12345", MaxRequestBytes = 1_000 });
        await using var _ = emulator;
        using var __ = api;

        var answer = await api.SubmitAsync($"CREATE TABLE big AS SELECT '{new string('x', 2_000)}' AS v");

        Assert.Equal(413, answer.Status);
        Assert.Empty(await emulator.QueryAsync("SELECT table_name FROM information_schema.tables WHERE table_name = 'big'"));
    }

    [Fact]
    public async Task Cancel_StopsARunningStatement_AndPollingReports000604()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        await api.SubmitAsync("CREATE TABLE t (id NUMBER)");
        using var hold = emulator.HoldStatements();

        var accepted = await api.SubmitAsync("INSERT INTO t VALUES (1)", "?async=true");
        var cancel = await api.SendAsync(api.Request(HttpMethod.Post, $"/api/v2/statements/{accepted.Handle}/cancel"));
        hold.Dispose();
        var after = await PollUntilDoneAsync(api, accepted.Handle);

        Assert.Equal(200, cancel.Status);
        Assert.Equal((422, "000604"), (after.Status, after.Code));
        Assert.Empty(await emulator.QueryAsync("SELECT * FROM FRESHET.PUBLIC.t"));
    }

    [Fact]
    public async Task InjectedFaults_Answer429And503WithRetryAfter_ThenServiceResumes()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        emulator.InjectFaults(429, 1, TimeSpan.FromSeconds(2));
        emulator.InjectFaults(503, 1, TimeSpan.FromSeconds(1));

        var throttled = await api.SubmitAsync("SELECT 1");
        var unavailable = await api.SubmitAsync("SELECT 1");
        var fine = await api.SubmitAsync("SELECT 1");

        Assert.Equal((429, TimeSpan.FromSeconds(2)), (throttled.Status, throttled.RetryAfter));
        Assert.Equal((503, TimeSpan.FromSeconds(1)), (unavailable.Status, unavailable.RetryAfter));
        Assert.Equal(200, fine.Status);
    }

    [Fact]
    public async Task LostResponse_TheStatementRanButTheAnswerIs503()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        await api.SubmitAsync("CREATE TABLE t (id NUMBER)");
        emulator.LoseResponses(1);
        var requestId = Guid.NewGuid();

        var lost = await api.SubmitAsync("INSERT INTO t VALUES (1)", $"?requestId={requestId}");
        var retried = await api.SubmitAsync("INSERT INTO t VALUES (1)", $"?requestId={requestId}&retry=true");

        Assert.Equal(503, lost.Status);
        Assert.Equal(200, retried.Status);
        Assert.Single(await emulator.QueryAsync("SELECT * FROM FRESHET.PUBLIC.t"));
    }

    [Fact]
    public async Task Bindings_AreTypedByTheirSnowflakeType_AndBadValuesAre100037()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;

        var typed = await api.SubmitAsync("SELECT ? + 1 AS n, ? AS s, ? AS b, ? IS NULL AS missing", bindings: new Dictionary<string, object>
        {
            ["1"] = new { type = "FIXED", value = "41" },
            ["2"] = new { type = "TEXT", value = "it's" },
            ["3"] = new { type = "BOOLEAN", value = "TRUE" },
            ["4"] = new Dictionary<string, object?> { ["type"] = "TEXT", ["value"] = null },
        });
        var bad = await api.SubmitAsync("SELECT ?", bindings: new Dictionary<string, object> { ["1"] = new { type = "FIXED", value = "forty" } });
        var missing = await api.SubmitAsync("SELECT ?, ?", bindings: new Dictionary<string, object> { ["1"] = new { type = "FIXED", value = "1" } });
        var array = await api.SubmitAsync("SELECT ?", bindings: new Dictionary<string, object> { ["1"] = new { type = "FIXED", value = new[] { "1", "2" } } });

        Assert.Equal(200, typed.Status);
        Assert.Equal([["42", "it's", "true", "true"]], typed.Rows);
        Assert.Equal((422, "100037"), (bad.Status, bad.Code));
        Assert.Equal((422, "002049"), (missing.Status, missing.Code));
        Assert.Equal((422, "100037"), (array.Status, array.Code));
    }

    [Fact]
    public async Task UnknownDatabase_IsAnObjectDoesNotExistError()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;

        var answer = await api.SendAsync(api.Request(HttpMethod.Post, "/api/v2/statements", new { statement = "SELECT 1", database = "NOPE" }));

        Assert.Equal((422, "002043"), (answer.Status, answer.Code));
    }

    internal static async Task<Answer> PollUntilDoneAsync(RawApi api, string handle)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var answer = await api.PollAsync(handle);
            if (answer.Status != 202)
            {
                return answer;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException($"statement {handle} still running after 200 polls");
    }
}
