using Freshet.BigQuery.Storage.V1;
using Google.Rpc;
using Grpc.Core;
using Type = Google.Protobuf.Reflection.FieldDescriptorProto.Types.Type;

namespace Freshet.Emulators.BigQuery.Tests;

/// <summary>
/// BigQueryWrite.AppendRows on the _default stream, from storage.proto's comments and the CDC guide
/// (cloud.google.com/bigquery/docs/change-data-capture): connection rules, row errors, UPSERT/DELETE by primary key with
/// _CHANGE_SEQUENCE_NUMBER ordering, size limit, retryable faults.
/// </summary>
public sealed class StorageWriteTests
{
    private static readonly Google.Protobuf.Reflection.DescriptorProto CdcSchema = RawBigQuery.Descriptor(
        ("id", Type.Int64), ("name", Type.String), ("_CHANGE_TYPE", Type.String), ("_CHANGE_SEQUENCE_NUMBER", Type.String));

    [Fact]
    public async Task Append_FirstRequestCarriesStreamAndSchema_LaterOnesOnlyRows()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("events", [("id", "INT64", "REQUIRED"), ("payload", "JSON", "NULLABLE"), ("at", "TIMESTAMP", "NULLABLE"),
            ("day", "DATE", "NULLABLE"), ("amount", "NUMERIC", "NULLABLE"), ("raw", "BYTES", "NULLABLE"), ("t", "TIME", "NULLABLE"), ("f", "FLOAT64", "NULLABLE")]);
        var schema = RawBigQuery.Descriptor(("id", Type.Int64), ("payload", Type.String), ("at", Type.Int64), ("day", Type.Int32), ("amount", Type.String),
            ("raw", Type.Bytes), ("t", Type.String), ("f", Type.Double));

        using var call = await bq.OpenAppendAsync();
        var first = await RawBigQuery.AppendAsync(call, bq.Request("events", schema,
            RawBigQuery.Row(1L, """{"a": 1}""", 1_767_323_045_123_456L, 20_455, "12.345", new byte[] { 0xFF }, "01:02:03.5", 2.5)));
        var second = await RawBigQuery.AppendAsync(call, bq.Request(null, null, RawBigQuery.Row(2L), RawBigQuery.Row(3L, null, null, null, "-0.5")));
        var rows = RawBigQuery.Ok(await bq.QueryAsync("SELECT id, payload, `at`, day, amount, raw, t, f FROM freshet.events ORDER BY id", extra: new { formatOptions = new { useInt64Timestamp = true } }));

        Assert.Equal(AppendRowsResponse.ResponseOneofCase.AppendResult, first.ResponseCase);
        Assert.Null(first.AppendResult.Offset);
        Assert.Equal(bq.StreamName("events"), first.WriteStream);
        Assert.Equal(AppendRowsResponse.ResponseOneofCase.AppendResult, second.ResponseCase);
        Assert.Equal(
            [["1", """{"a":1}""", "1767323045123456", "2026-01-02", "12.345", "/w==", "01:02:03.5", "2.5"],
             ["2", null, null, null, null, null, null, null],
             ["3", null, null, null, "-0.5", null, null, null]],
            RawBigQuery.Rows(rows).Select(r => r.Select(v => v?.Replace(" ", "", StringComparison.Ordinal)).ToArray()));
        Assert.Equal(1, bq.Emulator.Storage.Connections);
    }

    public static TheoryData<string, StatusCode> ConnectionRules => new()
    {
        { "no write_stream on the first request", StatusCode.InvalidArgument },
        { "no writer_schema on the first request", StatusCode.InvalidArgument },
        { "offset on the default stream", StatusCode.InvalidArgument },
        { "an explicit stream", StatusCode.NotFound },
        { "a table that does not exist", StatusCode.NotFound },
        { "a malformed stream name", StatusCode.InvalidArgument },
        { "a field the table does not have", StatusCode.InvalidArgument },
        { "a field of an incompatible type", StatusCode.InvalidArgument },
        { "_CHANGE_TYPE on a table without primary key", StatusCode.InvalidArgument },
    };

    [Theory]
    [MemberData(nameof(ConnectionRules))]
    public async Task Append_BreakingAConnectionRule_EndsTheCallAndWritesNothing(string rule, StatusCode expected)
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("keyed", [("id", "INT64", "REQUIRED"), ("name", "STRING", "NULLABLE")], primaryKey: ["id"]);
        await bq.CreateTableAsync("plain", [("id", "INT64", "REQUIRED"), ("name", "STRING", "NULLABLE")]);
        var schema = RawBigQuery.Descriptor(("id", Type.Int64), ("name", Type.String));
        var row = RawBigQuery.Row(1L, "a");
        var request = rule switch
        {
            "no write_stream on the first request" => bq.Request(null, schema, row),
            "no writer_schema on the first request" => bq.Request("keyed", null, row),
            "offset on the default stream" => WithOffset(bq.Request("keyed", schema, row)),
            "an explicit stream" => WithStream(bq.Request("keyed", schema, row), bq.StreamName("keyed").Replace("_default", "abc123", StringComparison.Ordinal)),
            "a table that does not exist" => bq.Request("missing", schema, row),
            "a malformed stream name" => WithStream(bq.Request("keyed", schema, row), "freshet.keyed"),
            "a field the table does not have" => bq.Request("keyed", RawBigQuery.Descriptor(("id", Type.Int64), ("extra", Type.String)), RawBigQuery.Row(1L, "x")),
            "a field of an incompatible type" => bq.Request("keyed", RawBigQuery.Descriptor(("id", Type.Int64), ("name", Type.Double)), RawBigQuery.Row(1L, 2.0)),
            _ => bq.Request("plain", CdcSchema, RawBigQuery.Row(1L, "a", "UPSERT", "1")),
        };

        using var call = await bq.OpenAppendAsync();
        var failure = await Assert.ThrowsAsync<RpcException>(() => RawBigQuery.AppendAsync(call, request));

        Assert.Equal(expected, failure.StatusCode);
        Assert.Empty(await bq.Emulator.QueryAsync("SELECT * FROM freshet.keyed UNION ALL SELECT * FROM freshet.plain"));
        if (rule == "a field the table does not have")
        {
            var storageError = StatusOf(failure).Details.Single().Unpack<StorageError>();
            Assert.Equal(StorageError.Types.StorageErrorCode.SchemaMismatchExtraFields, storageError.Code);
        }
        if (rule == "a table that does not exist")
        {
            Assert.Equal(StorageError.Types.StorageErrorCode.TableNotFound, StatusOf(failure).Details.Single().Unpack<StorageError>().Code);
        }
    }

    [Fact]
    public async Task Append_RowsThatDoNotFit_ComeBackAsRowErrors_NoneOfTheRequestIsWritten_TheConnectionStaysUsable()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("day", "DATE", "NULLABLE"), ("doc", "JSON", "NULLABLE"), ("n", "NUMERIC", "NULLABLE")]);
        var schema = RawBigQuery.Descriptor(("id", Type.Int64), ("day", Type.String), ("doc", Type.String), ("n", Type.String));

        using var call = await bq.OpenAppendAsync();
        var rejected = await RawBigQuery.AppendAsync(call, bq.Request("t", schema,
            RawBigQuery.Row(1L, "2026-01-01"),
            RawBigQuery.Row(2L, "2026-13-01"),
            RawBigQuery.Row(null, "2026-01-01"),
            RawBigQuery.Row(4L, null, "{not json"),
            RawBigQuery.Row(5L, null, null, "123456789012345678901234567890.5")));
        var accepted = await RawBigQuery.AppendAsync(call, bq.Request(null, null, RawBigQuery.Row(1L, "2026-01-01", null, "1.0000000005")));

        Assert.Equal([1L, 2L, 3L, 4L], rejected.RowErrors.Select(e => e.Index));
        Assert.All(rejected.RowErrors, e => Assert.Equal(RowError.Types.RowErrorCode.FieldsError, e.Code));
        Assert.Contains("required", rejected.RowErrors[1].Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal((int)Code.InvalidArgument, rejected.Error.Code);
        Assert.Equal(AppendRowsResponse.ResponseOneofCase.AppendResult, accepted.ResponseCase);
        // NUMERIC keeps 9 decimals: the tenth rounds half away from zero.
        Assert.Equal([[1L, 1.000000001m]], (await bq.Emulator.QueryAsync("SELECT id, n FROM freshet.t")).Select(r => new object?[] { r[0], r[1] }));
    }

    [Fact]
    public async Task Cdc_UpsertAndDelete_ApplyByPrimaryKey_AndOlderSequenceNumbersNeverOverwriteNewerOnes()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("name", "STRING", "NULLABLE")], primaryKey: ["id"], maxStaleness: "0-0 0 0:5:0");

        using var call = await bq.OpenAppendAsync();
        var batch = bq.Request("t", CdcSchema,
            RawBigQuery.Row(1L, "a1", "UPSERT", "0000000000000001/0000000000000000"),
            RawBigQuery.Row(2L, "b1", "UPSERT", "1/1"),
            RawBigQuery.Row(3L, "c1", "UPSERT", "1/2"),
            RawBigQuery.Row(1L, "a2", "UPSERT", "2/0"),
            RawBigQuery.Row(2L, null, "DELETE", "2/1"));
        await RawBigQuery.AppendAsync(call, batch);
        // Out of order and replayed: an older UPSERT of 1, the whole first batch again, an older UPSERT of deleted 2.
        await RawBigQuery.AppendAsync(call, bq.Request(null, null,
            RawBigQuery.Row(1L, "stale", "upsert", "1/FFFFFFFFFFFFFFFF"),
            RawBigQuery.Row(2L, "b-resurrected", "UPSERT", "2/0")));
        await RawBigQuery.AppendAsync(call, batch.Clone());
        // A newer change wins; sections compare as numbers, not as text ("A" > "9").
        await RawBigQuery.AppendAsync(call, bq.Request(null, null, RawBigQuery.Row(3L, "c2", "UPSERT", "1/A"), RawBigQuery.Row(3L, "c-old", "UPSERT", "1/9")));

        var rows = await bq.QueryAsync("SELECT id, name FROM freshet.t ORDER BY id");

        Assert.Equal([["1", "a2"], ["3", "c2"]], RawBigQuery.Rows(rows));
    }

    [Fact]
    public async Task Cdc_BadChangeTypeOrSequenceNumber_IsARowError()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("name", "STRING", "NULLABLE")], primaryKey: ["id"]);

        using var call = await bq.OpenAppendAsync();
        var response = await RawBigQuery.AppendAsync(call, bq.Request("t", CdcSchema,
            RawBigQuery.Row(1L, "a", "INSERT", "1"),
            RawBigQuery.Row(2L, "b", "UPSERT", "xyz"),
            RawBigQuery.Row(3L, "c", "UPSERT", "1/2/3/4/5"),
            RawBigQuery.Row(4L, "d", "UPSERT", "11111111111111111"),
            RawBigQuery.Row(5L, "e", null, "1")));

        Assert.Equal([0L, 1L, 2L, 3L, 4L], response.RowErrors.Select(e => e.Index));
        Assert.Empty(await bq.Emulator.QueryAsync("SELECT * FROM freshet.t"));
    }

    [Fact]
    public async Task Append_WithoutChangeType_OnAKeyedTable_AppendsDuplicates_BecauseTheKeyIsNotEnforced()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED")], primaryKey: ["id"]);

        using var call = await bq.OpenAppendAsync();
        await RawBigQuery.AppendAsync(call, bq.Request("t", RawBigQuery.Descriptor(("id", Type.Int64)), RawBigQuery.Row(1L), RawBigQuery.Row(1L)));

        Assert.Equal(2, (await bq.Emulator.QueryAsync("SELECT * FROM freshet.t")).Count);
    }

    [Fact]
    public async Task Append_RequestOverTenMegabytes_IsRefusedWithInvalidArgument()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED"), ("body", "STRING", "NULLABLE")]);
        var big = new string('x', 1_000_000);
        var schema = RawBigQuery.Descriptor(("id", Type.Int64), ("body", Type.String));

        using var call = await bq.OpenAppendAsync();
        var under = await RawBigQuery.AppendAsync(call, bq.Request("t", schema, [.. Enumerable.Range(0, 9).Select(i => RawBigQuery.Row((long)i, big))]));
        var failure = await Assert.ThrowsAsync<RpcException>(() =>
            RawBigQuery.AppendAsync(call, bq.Request(null, null, [.. Enumerable.Range(0, 10).Select(i => RawBigQuery.Row((long)i, big))])));

        Assert.Equal(AppendRowsResponse.ResponseOneofCase.AppendResult, under.ResponseCase);
        Assert.Equal(StatusCode.InvalidArgument, failure.StatusCode);
        Assert.Equal(9, (await bq.Emulator.QueryAsync("SELECT id FROM freshet.t")).Count);
    }

    [Theory]
    [InlineData(FaultKind.Throttled, StatusCode.ResourceExhausted)]
    [InlineData(FaultKind.Unavailable, StatusCode.Unavailable)]
    public async Task InjectedFault_EndsTheCallWithARetryInfo_AndANewConnectionWrites(FaultKind kind, StatusCode expected)
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED")]);
        var schema = RawBigQuery.Descriptor(("id", Type.Int64));
        bq.Emulator.InjectFaults(FaultTarget.Storage, kind, 1, TimeSpan.FromMilliseconds(1500));

        using (var call = await bq.OpenAppendAsync())
        {
            var failure = await Assert.ThrowsAsync<RpcException>(() => RawBigQuery.AppendAsync(call, bq.Request("t", schema, RawBigQuery.Row(1L))));
            Assert.Equal(expected, failure.StatusCode);
            Assert.Equal(TimeSpan.FromMilliseconds(1500), StatusOf(failure).Details.Single().Unpack<RetryInfo>().RetryDelay.ToTimeSpan());
        }
        using var retry = await bq.OpenAppendAsync();
        var written = await RawBigQuery.AppendAsync(retry, bq.Request("t", schema, RawBigQuery.Row(1L)));

        Assert.Equal(AppendRowsResponse.ResponseOneofCase.AppendResult, written.ResponseCase);
        Assert.Single(await bq.Emulator.QueryAsync("SELECT id FROM freshet.t"));
    }

    [Fact]
    public async Task Append_AfterATablePatchAddsAColumn_ANewConnectionCanWriteIt()
    {
        await using var bq = await RawBigQuery.StartAsync();
        await bq.CreateTableAsync("t", [("id", "INT64", "REQUIRED")]);
        await bq.SendAsync(new HttpMethod("PATCH"), "datasets/freshet/tables/t",
            System.Text.Json.Nodes.JsonNode.Parse("""{"schema": {"fields": [{"name": "id", "type": "INT64", "mode": "REQUIRED"}, {"name": "extra", "type": "STRING"}]}}"""));

        using var call = await bq.OpenAppendAsync();
        var response = await RawBigQuery.AppendAsync(call, bq.Request("t", RawBigQuery.Descriptor(("id", Type.Int64), ("extra", Type.String)), RawBigQuery.Row(1L, "x")));

        Assert.Equal(AppendRowsResponse.ResponseOneofCase.AppendResult, response.ResponseCase);
        Assert.Equal("x", (await bq.Emulator.QueryAsync("SELECT extra FROM freshet.t")).Single()[0]);
    }

    private static AppendRowsRequest WithOffset(AppendRowsRequest request)
    {
        request.Offset = 0;
        return request;
    }

    private static AppendRowsRequest WithStream(AppendRowsRequest request, string stream)
    {
        request.WriteStream = stream;
        return request;
    }

    private static Google.Rpc.Status StatusOf(RpcException exception) =>
        Google.Rpc.Status.Parser.ParseFrom(exception.Trailers.GetValueBytes("grpc-status-details-bin") ?? throw new InvalidOperationException("no status details"));
}
