using System.Text.Json.Nodes;

namespace Freshet.Emulators.BigQuery.Tests;

/// <summary>
/// tables.insert/get/patch and datasets.get as the REST reference describes them: schema, primary key through
/// tableConstraints (BigQuery's PRIMARY KEY … NOT ENFORCED), maxStaleness, and the schema changes a patch may make.
/// </summary>
public sealed class TablesTests
{
    [Fact]
    public async Task Insert_ThenGet_ReturnsSchemaPrimaryKeyAndMaxStaleness()
    {
        await using var bq = await RawBigQuery.StartAsync();

        var created = await bq.CreateTableAsync("orders", [("id", "INT64", "REQUIRED"), ("amount", "NUMERIC", "NULLABLE"), ("note", "STRING", "NULLABLE")],
            primaryKey: ["id"], maxStaleness: "0-0 0 0:15:0");
        var fetched = await bq.SendAsync(HttpMethod.Get, "datasets/freshet/tables/orders");

        Assert.Equal(200, created.Status);
        Assert.Equal(200, fetched.Status);
        var fields = fetched.Body!["schema"]!["fields"]!.AsArray();
        Assert.Equal(["id", "amount", "note"], fields.Select(f => f!["name"]!.GetValue<string>()));
        // tables.get answers with the legacy type names.
        Assert.Equal(["INTEGER", "NUMERIC", "STRING"], fields.Select(f => f!["type"]!.GetValue<string>()));
        Assert.Equal("REQUIRED", fields[0]!["mode"]!.GetValue<string>());
        Assert.Equal("id", fetched.Body["tableConstraints"]!["primaryKey"]!["columns"]![0]!.GetValue<string>());
        Assert.Equal("0-0 0 0:15:0", fetched.Body["maxStaleness"]!.GetValue<string>());
        Assert.Equal($"{bq.Project}:freshet.orders", fetched.Body["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task Insert_ExistingTable_Answers409Duplicate()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "NULLABLE")]);

        var again = await bq.CreateTableAsync("t", [("id", "INT64", "NULLABLE")]);

        Assert.Equal(409, again.Status);
        Assert.Equal("duplicate", again.Body!["error"]!["errors"]![0]!["reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task MissingDatasetTableOrProject_Answer404NotFound()
    {
        await using var bq = await RawBigQuery.StartAsync();

        var dataset = await bq.SendAsync(HttpMethod.Get, "datasets/nope");
        var table = await bq.SendAsync(HttpMethod.Get, "datasets/freshet/tables/nope");
        var insertIntoMissing = await bq.CreateTableAsync("t", [("id", "INT64", "NULLABLE")], dataset: "nope");

        Assert.All(new[] { dataset, table, insertIntoMissing }, a =>
        {
            Assert.Equal(404, a.Status);
            Assert.Equal("notFound", a.Body!["error"]!["errors"]![0]!["reason"]!.GetValue<string>());
        });
        Assert.StartsWith("Not found: Table", table.Body!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
    }

    public static TheoryData<string> InvalidTables => new()
    {
        "primary key column not in the schema",
        "more than 16 primary key columns",
        "unknown type",
        "bad field name",
        "reserved pseudo-column name",
        "NUMERIC precision out of range",
        "maxStaleness not an interval",
    };

    [Theory]
    [MemberData(nameof(InvalidTables))]
    public async Task Insert_InvalidDefinition_Answers400Invalid(string problem)
    {
        await using var bq = await RawBigQuery.StartAsync();
        var many = Enumerable.Range(0, 17).Select(i => ($"k{i}", "INT64", "NULLABLE")).ToArray();
        var answer = problem switch
        {
            "primary key column not in the schema" => await bq.CreateTableAsync("t", [("id", "INT64", "NULLABLE")], primaryKey: ["other"]),
            "more than 16 primary key columns" => await bq.CreateTableAsync("t", many, primaryKey: [.. many.Select(m => m.Item1)]),
            "unknown type" => await bq.CreateTableAsync("t", [("id", "VARCHAR2", "NULLABLE")]),
            "bad field name" => await bq.CreateTableAsync("t", [("my col", "INT64", "NULLABLE")]),
            "reserved pseudo-column name" => await bq.CreateTableAsync("t", [("_CHANGE_TYPE", "STRING", "NULLABLE")]),
            "NUMERIC precision out of range" => await bq.SendAsync(HttpMethod.Post, "datasets/freshet/tables", JsonNode.Parse($$$"""
                {"tableReference": {"projectId": "{{{bq.Project}}}", "datasetId": "freshet", "tableId": "t"},
                 "schema": {"fields": [{"name": "n", "type": "NUMERIC", "precision": "40", "scale": "2"}]}}
                """)),
            _ => await bq.CreateTableAsync("t", [("id", "INT64", "NULLABLE")], maxStaleness: "15 minutes"),
        };

        Assert.Equal(400, answer.Status);
        Assert.Equal("invalid", answer.Body!["error"]!["errors"]![0]!["reason"]!.GetValue<string>());
        Assert.Equal(404, (await bq.SendAsync(HttpMethod.Get, "datasets/freshet/tables/t")).Status);
    }

    [Fact]
    public async Task Patch_AddsNullableColumnsAndRelaxesRequired_KeepsTheRows()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("name", "STRING", "REQUIRED")], primaryKey: ["id"]);
        await bq.QueryAsync("INSERT INTO `freshet.t` (id, name) VALUES (1, 'a')");

        var patched = await bq.SendAsync(new HttpMethod("PATCH"), "datasets/freshet/tables/t", JsonNode.Parse("""
            {"schema": {"fields": [{"name": "id", "type": "INTEGER", "mode": "REQUIRED"}, {"name": "name", "type": "STRING", "mode": "NULLABLE"},
                                   {"name": "added", "type": "DATE"}]}}
            """));
        var insertWithoutName = await bq.QueryAsync("INSERT INTO `freshet.t` (id, added) VALUES (2, DATE '2026-01-02')");
        var read = await bq.QueryAsync("SELECT id, name, added FROM `freshet.t` ORDER BY id");

        Assert.Equal(200, patched.Status);
        Assert.Equal(3, patched.Body!["schema"]!["fields"]!.AsArray().Count);
        Assert.Equal(200, insertWithoutName.Status);
        Assert.Equal([["1", "a", null], ["2", null, "2026-01-02"]], RawBigQuery.Rows(read));
    }

    public static TheoryData<string, string> RefusedPatches => new()
    {
        { """[{"name": "id", "type": "INTEGER", "mode": "REQUIRED"}]""", "is missing in new schema" },
        { """[{"name": "id", "type": "STRING", "mode": "REQUIRED"}, {"name": "name", "type": "STRING"}]""", "has changed type" },
        { """[{"name": "id", "type": "INTEGER", "mode": "REQUIRED"}, {"name": "name", "type": "STRING", "mode": "REQUIRED"}]""", "has changed mode" },
        { """[{"name": "id", "type": "INTEGER", "mode": "REQUIRED"}, {"name": "name", "type": "STRING"}, {"name": "x", "type": "STRING", "mode": "REQUIRED"}]""", "Cannot add required field" },
    };

    [Theory]
    [MemberData(nameof(RefusedPatches))]
    public async Task Patch_IncompatibleSchema_Answers400AndLeavesTheTable(string fields, string message)
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("name", "STRING", "NULLABLE")]);

        var patched = await bq.SendAsync(new HttpMethod("PATCH"), "datasets/freshet/tables/t", JsonNode.Parse($$$"""{"schema": {"fields": {{{fields}}}}}"""));
        var table = await bq.SendAsync(HttpMethod.Get, "datasets/freshet/tables/t");

        Assert.Equal(400, patched.Status);
        Assert.Contains(message, patched.Body!["error"]!["message"]!.GetValue<string>(), StringComparison.Ordinal);
        Assert.Equal(2, table.Body!["schema"]!["fields"]!.AsArray().Count);
    }

    [Fact]
    public async Task Patch_SetsThePrimaryKeyAndMaxStaleness()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED")]);

        var patched = await bq.SendAsync(new HttpMethod("PATCH"), "datasets/freshet/tables/t", JsonNode.Parse("""
            {"tableConstraints": {"primaryKey": {"columns": ["id"]}}, "maxStaleness": "0-0 0 0:5:0"}
            """));

        Assert.Equal(200, patched.Status);
        Assert.Equal("id", patched.Body!["tableConstraints"]!["primaryKey"]!["columns"]![0]!.GetValue<string>());
        Assert.Equal("0-0 0 0:5:0", patched.Body["maxStaleness"]!.GetValue<string>());
    }

    [Fact]
    public async Task InjectedFaults_Answer429And503WithRetryAfter_ThenServeNormally()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.TokenAsync();
        bq.Emulator.InjectFaults(FaultTarget.Rest, FaultKind.Throttled, 1, TimeSpan.FromSeconds(2));
        bq.Emulator.InjectFaults(FaultTarget.Rest, FaultKind.Unavailable, 1, TimeSpan.FromSeconds(1));

        var first = await bq.SendAsync(HttpMethod.Get, "datasets/freshet");
        var second = await bq.SendAsync(HttpMethod.Get, "datasets/freshet");
        var third = await bq.SendAsync(HttpMethod.Get, "datasets/freshet");

        Assert.Equal((429, TimeSpan.FromSeconds(2)), (first.Status, first.RetryAfter!.Value));
        Assert.Equal("rateLimitExceeded", first.Body!["error"]!["errors"]![0]!["reason"]!.GetValue<string>());
        Assert.Equal((503, TimeSpan.FromSeconds(1)), (second.Status, second.RetryAfter!.Value));
        Assert.Equal(200, third.Status);
    }

    [Fact]
    public async Task AlterTableDropColumnThroughAQuery_RemovesTheField()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("old", "STRING", "NULLABLE"), ("v", "STRING", "NULLABLE")], primaryKey: ["id"]);

        var altered = await bq.QueryAsync("ALTER TABLE `freshet.t` DROP COLUMN `old`");
        var fetched = await bq.SendAsync(HttpMethod.Get, "datasets/freshet/tables/t");
        var inserted = await bq.QueryAsync("INSERT INTO `freshet.t` (id, v) VALUES (1, 'a')");

        RawBigQuery.Ok(altered);
        RawBigQuery.Ok(inserted);
        Assert.Equal(["id", "v"], fetched.Body!["schema"]!["fields"]!.AsArray().Select(f => f!["name"]!.GetValue<string>()));
        Assert.Equal("id", fetched.Body["tableConstraints"]!["primaryKey"]!["columns"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task DropTableThroughAQuery_RemovesTheTable_AndItCanBeCreatedAgain()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED")], primaryKey: ["id"]);

        var dropped = await bq.QueryAsync("DROP TABLE IF EXISTS `freshet.t`");
        var gone = await bq.SendAsync(HttpMethod.Get, "datasets/freshet/tables/t");
        var again = await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("v", "STRING", "NULLABLE")]);

        RawBigQuery.Ok(dropped);
        Assert.Equal(404, gone.Status);
        Assert.Equal(200, again.Status);
    }
}
