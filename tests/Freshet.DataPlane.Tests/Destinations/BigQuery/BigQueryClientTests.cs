using Freshet.DataPlane.Destinations.BigQuery;
using Freshet.DataPlane.Schema;
using Freshet.Emulators.BigQuery;
using NpgsqlTypes;
using Polly.CircuitBreaker;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>
/// Our BigQuery clients (token source, REST, Storage Write) against the emulator: what lands in the table, which
/// failures are retried and after which delay, and what the caller is told when BigQuery refuses something.
/// </summary>
public sealed class BigQueryClientTests
{
    private static readonly TableSchema EveryKind = new(new TableId("public", "every_kind"), "every_kind",
    [
        new("id", new ColumnType(ValueKind.Int64, false, "bigint"), IsKey: true),
        new("small", new ColumnType(ValueKind.Int16, false, "smallint"), false),
        new("price", new ColumnType(ValueKind.Decimal, false, "numeric(12,2)", 12, 2), false),
        new("wide", new ColumnType(ValueKind.NumericText, false, "numeric(50,20)", 50, 20), false),
        new("any_number", new ColumnType(ValueKind.NumericText, false, "numeric"), false),
        new("ratio", new ColumnType(ValueKind.Float64, false, "double precision"), false),
        new("name", new ColumnType(ValueKind.Text, false, "text"), false),
        new("ok", new ColumnType(ValueKind.Boolean, false, "boolean"), false),
        new("day", new ColumnType(ValueKind.Date, false, "date"), false),
        new("clock", new ColumnType(ValueKind.Time, false, "time"), false),
        new("local", new ColumnType(ValueKind.Timestamp, false, "timestamp"), false),
        new("at", new ColumnType(ValueKind.TimestampTz, false, "timestamptz"), false),
        new("doc", new ColumnType(ValueKind.Json, false, "jsonb"), false),
        new("raw", new ColumnType(ValueKind.Bytes, false, "bytea"), false),
        new("uid", new ColumnType(ValueKind.Uuid, false, "uuid"), false),
        new("span", new ColumnType(ValueKind.Interval, false, "interval"), false),
        new("tags", new ColumnType(ValueKind.Text, true, "text[]"), false),
    ]);

    private static IReadOnlyList<BigQueryColumn> Columns(TableSchema table) => [.. table.Columns.Select(c => BigQueryTypes.Column(c.Name, c.Type, c.IsKey))];

    [Fact]
    public void Types_MapEachKind_NumericByPrecision()
    {
        var types = Columns(EveryKind).Select(c => c.Type + (c.Precision is { } p ? $"({p},{c.Scale})" : "")).ToList();

        Assert.Equal(
            ["INT64", "INT64", "NUMERIC(12,2)", "BIGNUMERIC(50,20)", "BIGNUMERIC", "FLOAT64", "STRING", "BOOL", "DATE", "TIME", "DATETIME", "TIMESTAMP", "JSON", "BYTES", "STRING", "STRING", "JSON"],
            types);
        Assert.Equal("STRING", BigQueryTypes.Column("x", new ColumnType(ValueKind.NumericText, false, "numeric(80,10)", 80, 10), false).Type);
        Assert.Equal("BIGNUMERIC", BigQueryTypes.Column("x", new ColumnType(ValueKind.Decimal, false, "numeric(20,12)", 20, 12), false).Type);
    }

    [Fact]
    public void SequenceNumber_IsTwoHexSections_ThatOrderAsTheSourceDoes()
    {
        Assert.Equal("000000000000002A/0000000000000003", StorageWriteRows.SequenceNumber(42, 3));
        Assert.True(string.CompareOrdinal(StorageWriteRows.SequenceNumber(0x1_0000_0000, 0), StorageWriteRows.SequenceNumber(0xFFFF_FFFF, 99)) > 0);
    }

    [Fact]
    public async Task TokenSource_CachesTheToken_AndRenewsItAfterA401()
    {
        await using var bq = await BigQueryTestProject.StartAsync();

        var first = await bq.Tokens.GetTokenAsync(renew: false, default);
        var second = await bq.Tokens.GetTokenAsync(renew: false, default);
        var issuedBefore = bq.Emulator.IssuedTokens;
        bq.Emulator.RevokeAccessTokens();
        var exists = await bq.Rest.DatasetExistsAsync("freshet", default);

        Assert.Equal(first, second);
        Assert.Equal(1, issuedBefore);
        Assert.True(exists);
        Assert.Equal(2, bq.Emulator.IssuedTokens);
    }

    [Theory]
    [InlineData("not json", "not JSON")]
    [InlineData("""{"type": "authorized_user"}""", "service account key file")]
    [InlineData("""{"type": "service_account", "private_key": "x"}""", "client_email")]
    [InlineData("""{"type": "service_account", "client_email": "a@b", "private_key": "not a key"}""", "private_key")]
    public void TokenSource_MalformedKeyFile_SaysWhatIsWrong(string json, string expected)
    {
        var failure = Assert.Throws<ArgumentException>(() => ServiceAccountTokenSource.FromJson(json));

        Assert.Contains(expected, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenSource_KeyDeleted_FailsWithTheTokenEndpointsReason()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        bq.Emulator.DeleteServiceAccountKeys(BigQueryTestProject.Account);

        var failure = await Assert.ThrowsAsync<BigQueryException>(() => bq.Tokens.GetTokenAsync(renew: false, default));

        Assert.Equal("invalid_grant", failure.Reason);
        Assert.False(failure.IsRetryable);
        Assert.Contains(BigQueryTestProject.Account, failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rest_CreatesTheTargetWithItsPrimaryKey_AndReadsItBack()
    {
        await using var bq = await BigQueryTestProject.StartAsync();

        var created = await bq.Rest.CreateTableAsync("freshet", "every_kind", Columns(EveryKind), ["id"], "0-0 0 0:15:0", default);
        var read = await bq.Rest.GetTableAsync("freshet", "every_kind", default);
        var missing = await bq.Rest.GetTableAsync("freshet", "nope", default);
        var duplicate = await Assert.ThrowsAsync<BigQueryException>(() => bq.Rest.CreateTableAsync("freshet", "every_kind", Columns(EveryKind), ["id"], null, default));

        Assert.Equal(Columns(EveryKind), read!.Columns);
        Assert.Equal(["id"], read.PrimaryKey);
        Assert.Equal("0-0 0 0:15:0", created.MaxStaleness);
        Assert.Null(missing);
        Assert.Equal(409, duplicate.HttpStatus);
        Assert.False(duplicate.IsRetryable);
    }

    [Fact]
    public async Task StorageWrite_CdcRows_OfEveryKind_LandAsTheSourceHadThem_AndReplaysAreHarmless()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        var columns = Columns(EveryKind);
        await bq.Rest.CreateTableAsync("freshet", "every_kind", columns, ["id"], null, default);
        var rows = new StorageWriteRows(columns, changeData: true);
        object?[] full =
        [
            1L, (short)-7, 12.34m, "123456789012345678901234567890.12345678901234567891", "-0.000000000000000000000000000000000001",
            2.5, "grüße \"quoted\"", true, new DateOnly(2024, 2, 29), new TimeOnly(23, 59, 58, 123, 456), new DateTime(2024, 2, 29, 10, 11, 12, 500),
            new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc).AddTicks(1234560), """{"a": [1, 2]}""", new byte[] { 0, 255 },
            Guid.Parse("7d444840-9dc0-11d1-b245-5ffdce74fad2"), new NpgsqlInterval(14, 3, 4_500_000), new[] { "x", null, "z" },
        ];
        object?[] nulls = [2L, .. Enumerable.Repeat<object?>(null, columns.Count - 1)];
        List<StorageWriteRow> batch =
        [
            new(full, ChangeType.Upsert, StorageWriteRows.SequenceNumber(100, 0)),
            new(nulls, ChangeType.Upsert, StorageWriteRows.SequenceNumber(100, 1)),
            new([3L, .. nulls[1..]], ChangeType.Upsert, StorageWriteRows.SequenceNumber(100, 2)),
            new([3L, .. nulls[1..]], ChangeType.Delete, StorageWriteRows.SequenceNumber(101, 0)),
        ];

        await bq.Writer.AppendAsync("freshet", "every_kind", rows, batch, default);
        // A replay of everything, then an older change of row 1 that arrives late: neither may change the table.
        await bq.Writer.AppendAsync("freshet", "every_kind", rows, batch, default);
        await bq.Writer.AppendAsync("freshet", "every_kind", rows, [new([1L, .. nulls[1..]], ChangeType.Upsert, StorageWriteRows.SequenceNumber(99, 5))], default);
        var result = await bq.Rest.QueryAsync($"SELECT * FROM `{bq.Options.ProjectId}.freshet.every_kind` ORDER BY id", null, default);

        Assert.Equal(2, result.Rows.Count);
        Assert.Equal<IEnumerable<string?>>(
            ["1", "-7", "12.34", "123456789012345678901234567890.12345678901234567891", "-0.000000000000000000000000000000000001",
             "2.5", "grüße \"quoted\"", "true", "2024-02-29", "23:59:58.123456", "2024-02-29T10:11:12.5", "1767323045123456", """{"a":[1,2]}""", "AP8=",
             "7d444840-9dc0-11d1-b245-5ffdce74fad2", "P14M3DT4.5S", """["x",null,"z"]"""],
            result.Rows[0]);
        Assert.Equal<IEnumerable<string?>>(["2", .. Enumerable.Repeat<string?>(null, columns.Count - 1)], result.Rows[1]);
    }

    [Fact]
    public async Task StorageWrite_CutsRequestsUnderTheLimit_AndWritesEveryRow()
    {
        await using var bq = await BigQueryTestProject.StartAsync(o => o with { MaxAppendRequestBytes = 64 * 1024 + 20_000 });
        BigQueryColumn[] columns = [new("id", "INT64", null, null, true, ProtoEncoding.Int64), new("body", "STRING", null, null, false, ProtoEncoding.String)];
        await bq.Rest.CreateTableAsync("freshet", "t", columns, ["id"], null, default);
        var rows = new StorageWriteRows(columns, changeData: true);
        var batch = Enumerable.Range(0, 100).Select(i => new StorageWriteRow([(long)i, new string('x', 1000)], ChangeType.Upsert, StorageWriteRows.SequenceNumber(1, i))).ToList();

        await bq.Writer.AppendAsync("freshet", "t", rows, batch, default);
        var count = await bq.Rest.QueryAsync("SELECT COUNT(*), COUNT(DISTINCT id) FROM freshet.t", null, default);

        Assert.Equal<IEnumerable<string?>>(["100", "100"], count.Rows[0]);
        Assert.True(bq.Emulator.Storage.AppendedRequests >= 5, $"{bq.Emulator.Storage.AppendedRequests} requests for 100 KB under a 20 KB budget");
        Assert.Equal(1, bq.Emulator.Storage.Connections);
    }

    [Fact]
    public async Task StorageWrite_RetriesThrottlingAndUnavailability_AfterTheServersRetryInfo_OnNewConnections()
    {
        var clock = new RecordingTimeProvider();
        await using var bq = await BigQueryTestProject.StartAsync(time: clock);
        BigQueryColumn[] columns = [new("id", "INT64", null, null, true, ProtoEncoding.Int64)];
        await bq.Rest.CreateTableAsync("freshet", "t", columns, ["id"], null, default);
        bq.Emulator.InjectFaults(FaultTarget.Storage, FaultKind.Throttled, 1, TimeSpan.FromMilliseconds(321));
        bq.Emulator.InjectFaults(FaultTarget.Storage, FaultKind.Unavailable, 1, TimeSpan.FromMilliseconds(123));

        await bq.Writer.AppendAsync("freshet", "t", new StorageWriteRows(columns, changeData: false), [new([1L]), new([2L])], default);
        var rows = await bq.Rest.QueryAsync("SELECT id FROM freshet.t ORDER BY id", null, default);

        Assert.Equal([["1"], ["2"]], rows.Rows);
        Assert.Contains(TimeSpan.FromMilliseconds(321), clock.Delays);
        Assert.Contains(TimeSpan.FromMilliseconds(123), clock.Delays);
        Assert.Equal(3, bq.Writer.ConnectionsOpened);
    }

    [Fact]
    public async Task StorageWrite_ConnectionLostMidCall_ResumesAfterTheAcknowledgedRequests_WithoutDuplicates()
    {
        await using var bq = await BigQueryTestProject.StartAsync(o => o with { MaxAppendRequestBytes = 64 * 1024 + 20_000 });
        BigQueryColumn[] columns = [new("id", "INT64", null, null, true, ProtoEncoding.Int64), new("body", "STRING", null, null, false, ProtoEncoding.String)];
        await bq.Rest.CreateTableAsync("freshet", "log", columns, [], null, default);
        // Plain appends (no CDC): a request sent twice would show as duplicate rows.
        var batch = Enumerable.Range(0, 60).Select(i => new StorageWriteRow([(long)i, new string('x', 1000)])).ToList();
        bq.Emulator.InjectFaults(FaultTarget.Storage, FaultKind.Unavailable, 1, TimeSpan.FromMilliseconds(50), afterRequests: 2);

        await bq.Writer.AppendAsync("freshet", "log", new StorageWriteRows(columns, changeData: false), batch, default);
        var count = await bq.Rest.QueryAsync("SELECT COUNT(*), COUNT(DISTINCT id) FROM freshet.log", null, default);

        Assert.Equal<IEnumerable<string?>>(["60", "60"], count.Rows[0]);
        Assert.Equal(2, bq.Writer.ConnectionsOpened);
    }

    [Fact]
    public async Task StorageWrite_RowsThatDoNotFit_AreReportedByTheirPositionInTheCallersList()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        BigQueryColumn[] columns = [new("id", "INT64", null, null, true, ProtoEncoding.Int64), new("doc", "JSON", null, null, false, ProtoEncoding.String)];
        await bq.Rest.CreateTableAsync("freshet", "t", columns, ["id"], null, default);

        var failure = await Assert.ThrowsAsync<BigQueryRowErrorsException>(() => bq.Writer.AppendAsync("freshet", "t", new StorageWriteRows(columns, changeData: true),
            [new([1L, "{}"], ChangeType.Upsert, "1"), new([2L, "{broken"], ChangeType.Upsert, "2"), new([3L, "[]"], ChangeType.Upsert, "3")], default));

        Assert.Equal([1], failure.Rows.Select(r => r.Row));
        Assert.Contains("JSON", failure.Rows[0].Message, StringComparison.Ordinal);
        Assert.False(failure.IsRetryable);
        Assert.Empty(await bq.Emulator.QueryAsync("SELECT * FROM freshet.t"));
    }

    [Fact]
    public async Task StorageWrite_TableWithoutPrimaryKey_RefusesCdc_WithAClearMessage()
    {
        await using var bq = await BigQueryTestProject.StartAsync();
        BigQueryColumn[] columns = [new("id", "INT64", null, null, true, ProtoEncoding.Int64)];
        await bq.Rest.CreateTableAsync("freshet", "t", columns, [], null, default);

        var failure = await Assert.ThrowsAsync<BigQueryException>(() =>
            bq.Writer.AppendAsync("freshet", "t", new StorageWriteRows(columns, changeData: true), [new([1L], ChangeType.Upsert, "1")], default));

        Assert.Equal(400, failure.HttpStatus);
        Assert.Contains("primary key", failure.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rest_RetriesAfterRetryAfter_AndFollowsIncompleteQueriesAndPages()
    {
        var clock = new RecordingTimeProvider();
        // Two rows per page: the three rows come in two pages.
        await using var bq = await BigQueryTestProject.StartAsync(time: clock, emulatorOptions: new BigQueryEmulatorOptions { PageRowLimit = 2 });
        await bq.Tokens.GetTokenAsync(renew: false, default);
        bq.Emulator.InjectFaults(FaultTarget.Rest, FaultKind.Throttled, 1, TimeSpan.FromSeconds(1));
        bq.Emulator.AnswerQueriesIncomplete(1);

        var result = await bq.Rest.QueryAsync("SELECT x, @label AS label FROM range(3) t(x) ORDER BY x", [BigQueryParameter.String("label", "it's")], default);

        Assert.Equal([["0", "it's"], ["1", "it's"], ["2", "it's"]], result.Rows);
        Assert.Contains(TimeSpan.FromSeconds(1), clock.Delays);
        Assert.Equal(1, bq.Emulator.ExecutedQueries);
    }

    [Fact]
    public async Task Rest_ServiceThatKeepsFailing_OpensTheBreaker()
    {
        await using var bq = await BigQueryTestProject.StartAsync(o => o with { MaxRetryAttempts = 0, CircuitBreakerMinimumThroughput = 2 });
        await bq.Tokens.GetTokenAsync(renew: false, default);
        bq.Emulator.InjectFaults(FaultTarget.Rest, FaultKind.Unavailable, 10);

        var first = await Assert.ThrowsAsync<BigQueryException>(() => bq.Rest.DatasetExistsAsync("freshet", default));
        await Assert.ThrowsAsync<BigQueryException>(() => bq.Rest.DatasetExistsAsync("freshet", default));
        await Assert.ThrowsAsync<BrokenCircuitException>(() => bq.Rest.DatasetExistsAsync("freshet", default));

        Assert.Equal(503, first.HttpStatus);
        Assert.True(first.IsRetryable);
    }
}
