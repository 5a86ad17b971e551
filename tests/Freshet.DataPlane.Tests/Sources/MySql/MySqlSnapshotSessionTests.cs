using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Sources.MySql;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// The snapshot (MySqlConnector reading the table) and the binlog (our decoder) must hand over the same column types and
/// the same values, or a row copied by the snapshot would differ from the same row replayed by the stream.
/// </summary>
public sealed class MySqlSnapshotSessionTests
{
    [Fact]
    public async Task Snapshot_EveryColumnType_SameTypesAndValuesAsTheBinlog()
    {
        var source = await MariaDbSource.CreateAsync("snaptypes");
        await source.ExecuteAsync("""
            CREATE TABLE t (
                id INT PRIMARY KEY, ti TINYINT, tiu TINYINT UNSIGNED, t1 TINYINT(1), si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT UNSIGNED,
                i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED, d DECIMAL(12,2), dwide DECIMAL(40,10), f FLOAT, db DOUBLE,
                c CHAR(10), vc VARCHAR(300), bin BINARY(16), vbin VARBINARY(10), bl BLOB, tx TEXT,
                e ENUM('small','large'), s SET('a','b','c'), b1 BIT(1), b10 BIT(10), y YEAR, dt DATE,
                tm TIME(3), dtm DATETIME(6), ts TIMESTAMP(6) NULL, j JSON)
            """);
        var head = await source.HeadAsync();
        await source.ExecuteAsync(
            "SET time_zone = '+00:00'",
            "INSERT INTO t VALUES (1, -128, 255, 1, -32768, 65535, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615, "
                + "-1234567890.99, 123456789012345678901234567890.1234567890, 1.5, -1e-300, 'abc', 'héllo 😀', 0x0102030405060708090A0B0C0D0E0F10, 0x00FF, 0xDEAD, 'text ✓', "
                + "'large', 'c,a', b'1', b'1000000001', 2155, '9999-12-31', '-838:59:58.5', '2026-11-24 10:11:12.123456', '2038-01-19 03:14:07.999999', '{\"a\": [1]}')",
            "INSERT INTO t (id) VALUES (2)");
        var binlogRows = source.OwnRows(await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position)))
            .SelectMany(e => e.Rows.Select(r => (e.Table, Row: r.After!))).ToList();

        var spec = new PipelineSpec(Guid.NewGuid(), Guid.NewGuid(), "snapshot types", 1, 1,
            new EndpointSpec(ConnectionType.Mysql, new Dictionary<string, string>
            {
                ["host"] = "127.0.0.1",
                ["port"] = source.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["database"] = source.Database,
                ["username"] = source.Endpoint.User,
                ["ssl_mode"] = "disabled",
            }, new Dictionary<string, string> { ["password"] = source.Endpoint.Password }),
            new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string> { ["path"] = "unused.duckdb" }, new Dictionary<string, string>()),
            [new TableSpec(source.Database, "t")], DeleteMode.Hard, SchemaChangePolicy.Propagate, new DeliverySpec());
        await using var mySql = new MySqlSource(spec, new MySqlSourceOptions(TimeSpan.FromSeconds(5), 1), TimeProvider.System, NullLoggerFactory.Instance);
        var schema = (await mySql.PrepareAsync(CancellationToken.None)).Single().Schema!;
        await using var session = await mySql.OpenSnapshotAsync([schema], null, CancellationToken.None);
        var snapshotRows = new List<object?[]>();
        for (var chunk = 0; chunk < session.ChunkCounts[schema.Source]; chunk++)
        {
            await foreach (var row in session.ReadChunkAsync(schema, chunk, CancellationToken.None))
            {
                snapshotRows.Add(row);
            }
        }

        Assert.Equal(2, binlogRows.Count);
        Assert.Equal(2, session.ChunkCounts[schema.Source]);
        var binlogTable = binlogRows[0].Table;
        var typeDifferences = schema.Columns.Select((c, i) => (c, b: binlogTable.Columns[i].ToColumnType()))
            .Where(x => !x.c.Type.SameValuesAs(x.b)).Select(x => $"{x.c.Name}: catalog {x.c.Type} ({x.c.Type.Kind}), binlog {x.b} ({x.b.Kind})");
        Assert.Empty(typeDifferences);
        var valueDifferences = new List<string>();
        for (var r = 0; r < 2; r++)
        {
            for (var i = 0; i < schema.Columns.Count; i++)
            {
                var (snapshot, binlog) = (snapshotRows[r][i], binlogRows[r].Row[i]);
                if (!ValueEquality.Equal(snapshot, binlog) || snapshot?.GetType() != binlog?.GetType())
                {
                    valueDifferences.Add($"row {r + 1} {schema.Columns[i].Name}: snapshot {snapshot} ({snapshot?.GetType().Name}), binlog {binlog} ({binlog?.GetType().Name})");
                }
            }
        }

        Assert.Empty(valueDifferences);
        var position = BinlogPosition.Parse(session.ResumePosition);
        Assert.Equal(position.Numeric, session.Position);
        Assert.Matches(@"^\d+-\d+-\d+", position.GtidState);
    }

    /// <summary>
    /// The snapshot's position must be exactly its instant: every commit is either in the snapshot or in the binlog read
    /// from the position (by file and offset, and by GTID), never both, never neither — while a writer commits without
    /// pause. MariaDB's snapshot status is one way; the global read lock, the only way on MySQL, is run here on MariaDB.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task SnapshotPosition_UnderConcurrentCommits_SnapshotAndLaterBinlogMeetExactly(bool lockForPosition)
    {
        var source = await MariaDbSource.CreateAsync(lockForPosition ? "snaplock" : "snapstatus");
        await source.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY)");
        var connectionString = source.Server.ConnectionString(source.Database);
        using var stop = new CancellationTokenSource();
        var written = 0;
        var writer = Task.Run(async () =>
        {
            await using var connection = new MySqlConnector.MySqlConnection(connectionString);
            await connection.OpenAsync();
            while (!stop.IsCancellationRequested)
            {
                await using var insert = new MySqlConnector.MySqlCommand($"INSERT INTO t VALUES ({written + 1})", connection);
                await insert.ExecuteNonQueryAsync();
                Interlocked.Increment(ref written);
            }
        });
        while (Volatile.Read(ref written) < 200)
        {
            await Task.Delay(10);
        }

        var table = new Freshet.DataPlane.Schema.TableSchema(
            new Freshet.DataPlane.Schema.TableId(source.Database, "t"), "t",
            [new Freshet.DataPlane.Schema.ColumnSchema("id", new Freshet.DataPlane.Schema.ColumnType(Freshet.DataPlane.Schema.ValueKind.Int32, false, "int"), true)]);
        var snapshot = new List<long>();
        string resumePosition;
        await using (var session = await MySqlSnapshotSession.StartAsync(connectionString, [table], 500, null, TimeProvider.System, CancellationToken.None, lockForPosition))
        {
            resumePosition = session.ResumePosition;
            for (var chunk = 0; chunk < session.ChunkCounts[table.Source]; chunk++)
            {
                await foreach (var row in session.ReadChunkAsync(table, chunk, CancellationToken.None))
                {
                    snapshot.Add(Convert.ToInt64(row[0], System.Globalization.CultureInfo.InvariantCulture));
                }
            }
        }

        var before = Volatile.Read(ref written);
        while (Volatile.Read(ref written) < before + 200)
        {
            await Task.Delay(10);
        }

        await stop.CancelAsync();
        await writer;

        var position = BinlogPosition.Parse(resumePosition);
        Assert.Matches(@"^\d+-\d+-\d+", position.GtidState);
        var byOffset = Inserted(source, await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: position.File, Position: position.Offset)));
        var byGtid = Inserted(source, await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), GtidState: position.GtidState)));

        Assert.Equal(byOffset, byGtid);
        Assert.Empty(snapshot.Intersect(byOffset));
        Assert.Equal(Enumerable.Range(1, written).Select(i => (long)i), snapshot.Concat(byOffset).Order());
        Assert.NotEmpty(snapshot);
        Assert.NotEmpty(byOffset);
    }

    private static List<long> Inserted(MariaDbSource source, List<BinlogEvent> events) =>
        [.. source.OwnRows(events).SelectMany(e => e.Rows).Select(r => Convert.ToInt64(r.After![0], System.Globalization.CultureInfo.InvariantCulture))];
}
