namespace Freshet.Emulators.BigQuery.Tests;

/// <summary>
/// jobs.query and jobs.getQueryResults (cloud.google.com/bigquery/docs/reference/rest/v2/jobs/query): GoogleSQL only when
/// asked for, named parameters, scripts with transactions, the REST row format, incomplete answers and pages.
/// </summary>
public sealed class QueryTests
{
    [Fact]
    public async Task Query_WithoutUseLegacySqlFalse_IsRefused_BecauseTheApiDefaultsToLegacySql()
    {
        await using var bq = await RawBigQuery.StartAsync();

        var answer = await bq.QueryAsync("SELECT 1", useLegacySql: null);

        Assert.Equal(400, answer.Status);
        Assert.Equal("invalidQuery", answer.Body!["error"]!["errors"]![0]!["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Query_NamedParametersAndGoogleSqlSyntax_ReturnRowsAsStrings()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("name", "STRING", "NULLABLE"), ("amount", "NUMERIC", "NULLABLE"),
            ("ts", "TIMESTAMP", "NULLABLE"), ("day", "DATE", "NULLABLE"), ("ok", "BOOL", "NULLABLE"), ("raw", "BYTES", "NULLABLE"), ("local", "DATETIME", "NULLABLE")]);

        var insert = await bq.QueryAsync(
            "INSERT INTO `" + bq.Project + ".freshet.t` (id, name, amount, ts, day, ok, raw, local) VALUES (@id, \"it's\", @amount, @ts, @day, TRUE, @raw, DATETIME '2026-03-04 05:06:07.5')",
            [RawBigQuery.Parameter("id", "INT64", "7"), RawBigQuery.Parameter("amount", "NUMERIC", "12.50"), RawBigQuery.Parameter("ts", "TIMESTAMP", "2026-01-02T03:04:05.123456Z"),
             RawBigQuery.Parameter("day", "DATE", "2026-01-02"), RawBigQuery.Parameter("raw", "BYTES", Convert.ToBase64String([1, 2, 3]))]);
        var micros = await bq.QueryAsync("SELECT * EXCEPT(local), SAFE_CAST('x' AS INT64) AS bad FROM `freshet.t` WHERE id = @id",
            [RawBigQuery.Parameter("id", "INT64", "7")], extra: new { formatOptions = new { useInt64Timestamp = true } });
        var seconds = await bq.QueryAsync("SELECT ts, local FROM freshet.t");

        RawBigQuery.Ok(insert);
        Assert.Equal("1", insert.Body!["numDmlAffectedRows"]!.GetValue<string>());
        RawBigQuery.Ok(micros);
        Assert.Equal(["id", "name", "amount", "ts", "day", "ok", "raw", "bad"], micros.Body!["schema"]!["fields"]!.AsArray().Select(f => f!["name"]!.GetValue<string>()));
        Assert.Equal(["INTEGER", "STRING", "NUMERIC", "TIMESTAMP", "DATE", "BOOLEAN", "BYTES", "INTEGER"], micros.Body["schema"]!["fields"]!.AsArray().Select(f => f!["type"]!.GetValue<string>()));
        Assert.Equal([["7", "it's", "12.5", "1767323045123456", "2026-01-02", "true", "AQID", null]], RawBigQuery.Rows(micros));
        Assert.Equal([["1.767323045123456E9", "2026-03-04T05:06:07.5"]], RawBigQuery.Rows(seconds));
    }

    [Fact]
    public async Task Script_TransactionWithMerge_CommitsTogether_AndAFailingScriptRollsBack()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("target", [("id", "INT64", "REQUIRED"), ("v", "STRING", "NULLABLE")], primaryKey: ["id"]);
        await bq.CreateTableAsync("staging", [("id", "INT64", "REQUIRED"), ("v", "STRING", "NULLABLE"), ("op", "STRING", "NULLABLE"), ("seq", "INT64", "NULLABLE")]);
        await bq.QueryAsync("INSERT INTO freshet.target VALUES (1, 'old'), (2, 'gone')");
        await bq.QueryAsync("INSERT INTO freshet.staging VALUES (1, 'first', 'U', 1), (1, 'new', 'U', 2), (2, NULL, 'D', 3), (3, 'added', 'U', 4)");

        var merged = await bq.QueryAsync("""
            BEGIN TRANSACTION;
            MERGE `freshet.target` t
            USING (SELECT * FROM `freshet.staging` QUALIFY ROW_NUMBER() OVER (PARTITION BY id ORDER BY seq DESC) = 1) s
            ON t.id = s.id
            WHEN MATCHED AND s.op = 'D' THEN DELETE
            WHEN MATCHED THEN UPDATE SET v = s.v
            WHEN NOT MATCHED AND s.op != 'D' THEN INSERT (id, v) VALUES (s.id, s.v);
            DELETE FROM `freshet.staging` WHERE TRUE;
            COMMIT TRANSACTION;
            """);
        var failed = await bq.QueryAsync("""
            BEGIN TRANSACTION;
            DELETE FROM freshet.target WHERE TRUE;
            SELECT * FROM freshet.missing_table;
            COMMIT TRANSACTION;
            """);
        var rows = await bq.QueryAsync("SELECT id, v FROM freshet.target ORDER BY id");

        RawBigQuery.Ok(merged);
        Assert.Equal(400, failed.Status);
        Assert.Equal([["1", "new"], ["3", "added"]], RawBigQuery.Rows(rows));
    }

    [Fact]
    public async Task Query_AnsweredIncomplete_IsFinishedThroughGetQueryResults_InPages()
    {
        await using var bq = await RawBigQuery.StartAsync();
        bq.Emulator.AnswerQueriesIncomplete(1);

        var first = await bq.QueryAsync("SELECT x FROM range(5) t(x) ORDER BY x");
        var jobId = first.Body!["jobReference"]!["jobId"]!.GetValue<string>();
        var page1 = await bq.SendAsync(HttpMethod.Get, $"queries/{jobId}?maxResults=3");
        var page2 = await bq.SendAsync(HttpMethod.Get, $"queries/{jobId}?maxResults=3&pageToken={page1.Body!["pageToken"]!.GetValue<string>()}");
        var unknown = await bq.SendAsync(HttpMethod.Get, "queries/job_nope");

        Assert.False(first.Body["jobComplete"]!.GetValue<bool>());
        Assert.Null(first.Body["rows"]);
        Assert.True(page1.Body["jobComplete"]!.GetValue<bool>());
        Assert.Equal("5", page1.Body["totalRows"]!.GetValue<string>());
        Assert.Equal([["0"], ["1"], ["2"]], RawBigQuery.Rows(page1));
        Assert.Equal([["3"], ["4"]], RawBigQuery.Rows(page2));
        Assert.Null(page2.Body!["pageToken"]);
        Assert.Equal(404, unknown.Status);
    }

    [Fact]
    public async Task Query_SameRequestIdTwice_RunsOnce()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "NULLABLE")]);
        var requestId = Guid.NewGuid().ToString();

        var first = await bq.QueryAsync("INSERT INTO freshet.t VALUES (1)", extra: new { requestId });
        var second = await bq.QueryAsync("INSERT INTO freshet.t VALUES (1)", extra: new { requestId });
        var count = await bq.QueryAsync("SELECT COUNT(*) FROM freshet.t");

        Assert.Equal(first.Body!["jobReference"]!["jobId"]!.GetValue<string>(), second.Body!["jobReference"]!["jobId"]!.GetValue<string>());
        Assert.Equal([["1"]], RawBigQuery.Rows(count));
    }

    [Fact]
    public async Task Query_OtherProjectOrBadSql_AnswersNotFoundOrInvalidQuery()
    {
        await using var bq = await RawBigQuery.StartAsync();

        var otherProject = await bq.QueryAsync("SELECT * FROM `someone-else.freshet.t`");
        var syntax = await bq.QueryAsync("SELEC 1");

        Assert.Equal(404, otherProject.Status);
        Assert.Equal(400, syntax.Status);
        Assert.Equal("invalidQuery", syntax.Body!["error"]!["errors"]![0]!["reason"]!.GetValue<string>());
    }
}
