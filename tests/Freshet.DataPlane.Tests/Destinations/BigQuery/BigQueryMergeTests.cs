using Freshet.DataPlane.Destinations.BigQuery;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>The staging + MERGE fallback against the emulator: latest change per key wins, replays change nothing.</summary>
public sealed class BigQueryMergeTests
{
    private static readonly BigQueryColumn[] Target =
    [
        new("id", "INT64", null, null, true, ProtoEncoding.Int64),
        new("name", "STRING", null, null, false, ProtoEncoding.String),
        new(BigQueryMerge.OrderColumn, "STRING", null, null, true, ProtoEncoding.String),
    ];

    [Fact]
    public async Task StagedChanges_MergeAsTheLatestPerKey_AndAReplayOfOlderChangesChangesNothing()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        // The target has no primary key: this is the path for tables Storage Write CDC cannot take.
        await bq.Rest.CreateTableAsync("freshet", "people", Target, [], null, default);
        var stagingColumns = BigQueryMerge.StagingColumns(Target[..2]);
        await bq.Rest.CreateTableAsync("freshet", "people__staging", stagingColumns, [], null, default);
        var staging = new StorageWriteRows(stagingColumns, changeData: false);
        var script = BigQueryMerge.Script(bq.Options.ProjectId, "freshet", "people", "people__staging", [.. Target.Select(c => c.Name)], ["id"]);
        List<StorageWriteRow> first =
        [
            BigQueryMerge.StagingRow([1L, "a1"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(10, 0)),
            BigQueryMerge.StagingRow([2L, "b1"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(10, 1)),
            BigQueryMerge.StagingRow([1L, "a2"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(11, 0)),
            BigQueryMerge.StagingRow([3L, "c1"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(11, 1)),
        ];
        List<StorageWriteRow> second =
        [
            BigQueryMerge.StagingRow([2L, null], ChangeType.Delete, StorageWriteRows.SequenceNumber(12, 0)),
            BigQueryMerge.StagingRow([3L, "c2"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(12, 1)),
            // Late and older than what the target holds for 1: ignored.
            BigQueryMerge.StagingRow([1L, "stale"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(10, 5)),
        ];

        await bq.Writer.AppendAsync("freshet", "people__staging", staging, first, default);
        await bq.Rest.QueryAsync(script, null, default);
        await bq.Writer.AppendAsync("freshet", "people__staging", staging, second, default);
        await bq.Rest.QueryAsync(script, null, default);
        var afterApply = await bq.Rest.QueryAsync("SELECT id, name FROM freshet.people ORDER BY id", null, default);
        await bq.Writer.AppendAsync("freshet", "people__staging", staging, [.. first, .. second], default);
        await bq.Rest.QueryAsync(script, null, default);
        var afterReplay = await bq.Rest.QueryAsync("SELECT id, name FROM freshet.people ORDER BY id", null, default);
        var leftInStaging = await bq.Rest.QueryAsync("SELECT COUNT(*) FROM freshet.people__staging", null, default);

        Assert.Equal([["1", "a2"], ["3", "c2"]], afterApply.Rows);
        // The newest staged change of 2 is its delete, of 1 and 3 what the target already holds. (A replay of the first
        // batch alone would bring 2 back: hard deletes leave no trace to compare with; the checkpoint's applied position
        // is what skips such replays.)
        Assert.Equal(afterApply.Rows, afterReplay.Rows);
        Assert.Equal("0", leftInStaging.Rows[0][0]);
    }

    [Fact]
    public async Task FailingStatementInTheScript_RollsBackTheMerge_AndKeepsTheStagedRows()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        await bq.Rest.CreateTableAsync("freshet", "people", Target, [], null, default);
        var stagingColumns = BigQueryMerge.StagingColumns(Target[..2]);
        await bq.Rest.CreateTableAsync("freshet", "people__staging", stagingColumns, [], null, default);
        await bq.Writer.AppendAsync("freshet", "people__staging", new StorageWriteRows(stagingColumns, changeData: false),
            [BigQueryMerge.StagingRow([1L, "a"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(1, 0))], default);
        var script = BigQueryMerge.Script(bq.Options.ProjectId, "freshet", "people", "people__staging", [.. Target.Select(c => c.Name)], ["id"],
            sameTransaction: ["UPDATE `freshet.no_such_checkpoints` SET x = 1 WHERE TRUE"]);

        var failure = await Assert.ThrowsAsync<BigQueryException>(() => bq.Rest.QueryAsync(script, null, default));
        var target = await bq.Rest.QueryAsync("SELECT COUNT(*) FROM freshet.people", null, default);
        var staged = await bq.Rest.QueryAsync("SELECT COUNT(*) FROM freshet.people__staging", null, default);

        Assert.Equal(400, failure.HttpStatus);
        Assert.Equal("0", target.Rows[0][0]);
        Assert.Equal("1", staged.Rows[0][0]);
    }

    [Fact]
    public void Script_RefusesATargetWithoutTheOrderColumn_OrWithoutKeys()
    {
        Assert.Throws<ArgumentException>(() => BigQueryMerge.Script("p", "d", "t", "s", ["id", "name"], ["id"]));
        Assert.Throws<ArgumentException>(() => BigQueryMerge.Script("p", "d", "t", "s", ["id", BigQueryMerge.OrderColumn], []));
        Assert.Throws<ArgumentException>(() => BigQueryMerge.Path("p", "d", "bad`name"));
    }
}
