using Freshet.DataPlane.Destinations.Snowflake;
using Polly.CircuitBreaker;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

/// <summary>The SQL API client against the emulator: bindings, results, transactions, retries, polling, partitions, cancellation.</summary>
public sealed class SnowflakeSqlClientTests
{
    [Fact]
    public async Task BoundValues_RoundTrip_AndResultValuesDecode()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        var client = account.Client();
        await client.ExecuteAsync(new SnowflakeStatement("""CREATE TABLE "T" ("ID" NUMBER(38,0), "NAME" VARCHAR, "PRICE" NUMBER(10,2), "DAY" DATE, "AT" TIMESTAMP_NTZ, "OK" BOOLEAN)"""), default);

        var insert = await client.ExecuteAsync(new SnowflakeStatement("""INSERT INTO "T" VALUES (?, ?, ?, ?, ?, ?)""")
        {
            Bindings =
            [
                SnowflakeBinding.Fixed(7), SnowflakeBinding.Text("semi;colon 'quoted'"), SnowflakeBinding.Fixed(12.5m),
                new("DATE", "1999-12-31"), new("TIMESTAMP_NTZ", "2024-02-29 10:11:12.1234567"), SnowflakeBinding.Boolean(true),
            ],
        }, default);
        var result = await client.ExecuteAsync(new SnowflakeStatement("""SELECT "ID", "NAME", "PRICE", "DAY", "AT", "OK" FROM "T" WHERE "ID" = ?""")
        {
            Bindings = [SnowflakeBinding.Fixed(7)],
        }, default);

        Assert.Equal("1", insert.Rows[0][0]);
        var row = result.Rows.Single();
        Assert.Equal(7m, SnowflakeValues.Fixed(row[result.Ordinal("ID")]!));
        Assert.Equal("semi;colon 'quoted'", row[1]);
        Assert.Equal(12.5m, SnowflakeValues.Fixed(row[2]!));
        Assert.Equal(new DateOnly(1999, 12, 31), SnowflakeValues.Date(row[3]!));
        Assert.Equal(new DateTime(2024, 2, 29, 10, 11, 12).AddTicks(1234560), SnowflakeValues.TimestampNtz(row[4]!));
        Assert.True(SnowflakeValues.Boolean(row[5]!));
    }

    [Fact]
    public async Task Transaction_WithAFailingStatement_IsAFatalErrorAndLeavesNothingBehind()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        var client = account.Client();
        await client.ExecuteAsync(new SnowflakeStatement("CREATE TABLE t (id NUMBER)"), default);
        var before = account.Emulator.ExecutedRequests;

        var committed = await client.ExecuteAsync(SnowflakeStatement.Transaction(["INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (2)"]), default);
        var error = await Assert.ThrowsAsync<SnowflakeException>(() =>
            client.ExecuteAsync(SnowflakeStatement.Transaction(["INSERT INTO t VALUES (3)", "INSERT INTO no_such_table VALUES (4)"]), default));
        var rows = await client.ExecuteAsync(new SnowflakeStatement("SELECT id FROM t ORDER BY id"), default);

        Assert.Equal(4, committed.StatementHandles.Count);
        Assert.Equal(("002003", false), (error.Code, error.IsRetryable));
        Assert.Contains("no_such_table", error.Message, StringComparison.Ordinal);
        Assert.Equal([["1"], ["2"]], rows.Rows);
        // One execution each: a fatal error is not retried.
        Assert.Equal(before + 3, account.Emulator.ExecutedRequests);
    }

    [Fact]
    public async Task ThrottlingAndUnavailability_AreRetried_AfterTheRetryAfterTheServiceAsksFor()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        // A backoff of ten minutes: only Retry-After (1 s) lets the call finish within the test's minute.
        var client = account.Client(configure: o => o with { RetryDelay = TimeSpan.FromMinutes(10), MaxRetryDelay = TimeSpan.FromMinutes(10) });
        account.Emulator.InjectFaults(429, 2, TimeSpan.FromSeconds(1));
        account.Emulator.InjectFaults(503, 1, TimeSpan.FromSeconds(1));
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(1));

        var result = await client.ExecuteAsync(new SnowflakeStatement("SELECT 'through'"), deadline.Token);

        Assert.Equal("through", result.Rows[0][0]);
    }

    [Fact]
    public async Task LostResponse_IsRetriedWithTheSameRequestId_AndTheInsertHappensOnce()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        var client = account.Client();
        await client.ExecuteAsync(new SnowflakeStatement("CREATE TABLE t (id NUMBER)"), default);
        account.Emulator.LoseResponses(2);

        await client.ExecuteAsync(new SnowflakeStatement("INSERT INTO t VALUES (1)"), default);
        var rows = await client.ExecuteAsync(new SnowflakeStatement("SELECT count(*) FROM t"), default);

        Assert.Equal("1", rows.Rows[0][0]);
    }

    [Fact]
    public async Task LongStatement_Answered202_IsPolledToItsResult()
    {
        await using var account = await SnowflakeTestAccount.StartAsync(o => o.SynchronousWait = TimeSpan.FromMilliseconds(100));
        var client = account.Client();
        var hold = account.Emulator.HoldStatements();

        var running = client.ExecuteAsync(new SnowflakeStatement("SELECT 'late'"), default);
        var asynchronous = client.ExecuteAsync(new SnowflakeStatement("SELECT 'async'") { Asynchronous = true }, default);
        await Task.Delay(300);
        Assert.False(running.IsCompleted);
        hold.Dispose();

        Assert.Equal("late", (await running).Rows[0][0]);
        Assert.Equal("async", (await asynchronous).Rows[0][0]);
    }

    [Fact]
    public async Task LargeResult_EveryPartitionIsFetched()
    {
        await using var account = await SnowflakeTestAccount.StartAsync(o => o.PartitionRowLimit = 7);
        var client = account.Client();

        var result = await client.ExecuteAsync(new SnowflakeStatement("SELECT range AS n FROM range(50) ORDER BY n"), default);

        Assert.Equal(8, result.Partitions);
        Assert.Equal(Enumerable.Range(0, 50).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture)), result.Rows.Select(r => r[0]));
    }

    [Fact]
    public async Task Cancellation_CancelsTheStatementOnTheService()
    {
        await using var account = await SnowflakeTestAccount.StartAsync(o => o.SynchronousWait = TimeSpan.FromMilliseconds(100));
        var client = account.Client();
        await client.ExecuteAsync(new SnowflakeStatement("CREATE TABLE t (id NUMBER)"), default);
        var hold = account.Emulator.HoldStatements();
        using var cancellation = new CancellationTokenSource();

        var insert = client.ExecuteAsync(new SnowflakeStatement("INSERT INTO t VALUES (1)"), cancellation.Token);
        await Task.Delay(300);
        await cancellation.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => insert);
        hold.Dispose();
        // Runs after the held insert has ended one way or the other (the account runs one request at a time).
        var rows = await client.ExecuteAsync(new SnowflakeStatement("SELECT count(*) FROM t"), default);

        Assert.Equal("0", rows.Rows[0][0]);
    }

    [Fact]
    public async Task ServiceThatKeepsFailing_OpensTheCircuit()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        var client = account.Client(configure: o => o with { MaxRetryAttempts = 0, CircuitBreakerMinimumThroughput = 3 });
        account.Emulator.InjectFaults(503, 100);

        var failures = new List<Exception>();
        for (var i = 0; i < 5; i++)
        {
            failures.Add(await Assert.ThrowsAnyAsync<Exception>(() => client.ExecuteAsync(new SnowflakeStatement("SELECT 1"), default)));
        }

        Assert.All(failures.Take(3), f => Assert.True(f is SnowflakeException { HttpStatus: 503, IsRetryable: true }, f.ToString()));
        Assert.IsType<BrokenCircuitException>(failures[^1]);
    }

    [Fact]
    public async Task MultiStatementRequest_NeedsItsExactCount()
    {
        await using var account = await SnowflakeTestAccount.StartAsync();
        var client = account.Client();

        var error = await Assert.ThrowsAsync<SnowflakeException>(() => client.ExecuteAsync(new SnowflakeStatement("SELECT 1; SELECT 2"), default));
        var counted = await client.ExecuteAsync(new SnowflakeStatement("SELECT 1; SELECT 2") { StatementCount = 2 }, default);

        Assert.Equal(("000008", false), (error.Code, error.IsRetryable));
        Assert.Equal(2, counted.StatementHandles.Count);
    }
}
