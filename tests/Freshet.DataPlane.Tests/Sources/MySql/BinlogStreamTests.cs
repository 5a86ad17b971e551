using System.Globalization;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources.MySql;
using MySqlConnector;
using NpgsqlTypes;

namespace Freshet.DataPlane.Tests.Sources.MySql;

public sealed class BinlogStreamTests
{
    private const string EveryTypeTable = """
        CREATE TABLE every_type (
            id INT PRIMARY KEY,
            ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
            i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
            d DECIMAL(12,2), dfrac DECIMAL(7,7), dwide DECIMAL(40,10), f FLOAT, db DOUBLE,
            c CHAR(10), vc VARCHAR(20), vclong VARCHAR(300), vclatin VARCHAR(10) CHARACTER SET latin1,
            bin BINARY(4), vbin VARBINARY(10), bl BLOB, tx TEXT, mtx MEDIUMTEXT, lbl LONGBLOB,
            e ENUM('small','medium','large'), s SET('a','b','c','d'), b1 BIT(1), b10 BIT(10), y YEAR, dt DATE,
            t TIME, t2 TIME(2), t3 TIME(3), t6 TIME(6), dt0 DATETIME, dt2 DATETIME(2), dt6 DATETIME(6),
            ts0 TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL, j JSON
        )
        """;

    private static readonly string Emoji = "😀";

    /// <summary>Expected values per column, in table order, for the rows the test inserts.</summary>
    private static readonly Dictionary<int, object?[]> Expected = new()
    {
        [1] =
        [
            1, (short)127, (short)255, (short)32767, 65535, 8388607, 16777215, 2147483647, 4294967295L, long.MaxValue, 18446744073709551615m,
            9999999999.99m, 0.9999999m, "123456789012345678901234567890.1234567890", 1.5f, 3.141592653589793,
            "abc", "héllo", new string('x', 299) + Emoji, "café",
            new byte[] { 1, 2, 0, 0 }, new byte[] { 0, 255 }, new byte[] { 0xDE, 0xAD, 0xBE, 0xEF }, "text ✓", "medium", new byte[] { 0 },
            "large", "a,c", true, new byte[] { 0x02, 0x01 }, (short)2155, new DateOnly(9999, 12, 31),
            Micros(838, 59, 59, 0), Micros(0, 0, 1, 250_000), Micros(12, 34, 56, 789_000), Micros(0, 0, 0, 1),
            new DateTime(1000, 1, 1, 0, 0, 0, DateTimeKind.Unspecified), new DateTime(2026, 11, 24, 10, 11, 12, DateTimeKind.Unspecified).AddTicks(1_200_000),
            new DateTime(9999, 12, 31, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(9_999_990),
            new DateTime(1970, 1, 1, 0, 0, 1, DateTimeKind.Utc), new DateTime(2038, 1, 19, 3, 14, 7, DateTimeKind.Utc).AddTicks(9_999_990),
            "{\"a\": [1, \"" + Emoji + "\"]}",
        ],
        [2] =
        [
            2, (short)-128, (short)0, (short)-32768, 0, -8388608, 0, int.MinValue, 0L, long.MinValue, 0m,
            -1234567890.99m, -0.0000001m, "-0.0000000001", -0.25f, -1e-300,
            "", "", string.Concat(Enumerable.Repeat("ü", 300)), "",
            new byte[] { 0, 0, 0, 0 }, Array.Empty<byte>(), Array.Empty<byte>(), "", "", Array.Empty<byte>(),
            "small", "", false, new byte[] { 0, 0 }, (short)1901, new DateOnly(1000, 1, 1),
            MinusMicros(838, 59, 59, 0), MinusMicros(0, 0, 1, 250_000), MinusMicros(12, 34, 56, 789_000), MinusMicros(1, 0, 0, 500_000),
            new DateTime(2000, 2, 29, 23, 59, 59, DateTimeKind.Unspecified), new DateTime(1999, 12, 31, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(1_000_000),
            new DateTime(1999, 12, 31, 23, 59, 59, DateTimeKind.Unspecified).AddTicks(10),
            new DateTime(2001, 9, 9, 1, 46, 40, DateTimeKind.Utc), new DateTime(1970, 1, 1, 0, 0, 1, DateTimeKind.Utc).AddTicks(10),
            "[]",
        ],
    };

    [Fact]
    public async Task Stream_TransactionWithEveryColumnType_DecodesEachValueExactly()
    {
        var source = await MariaDbSource.CreateAsync("types");
        await source.ExecuteAsync(EveryTypeTable);
        var head = await source.HeadAsync();
        await source.ExecuteAsync(
            "START TRANSACTION",
            "INSERT INTO every_type VALUES (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, "
                + "9999999999.99, 0.9999999, 123456789012345678901234567890.1234567890, 1.5, 3.141592653589793, "
                + $"'abc', 'héllo', '{new string('x', 299)}{Emoji}', 'café', "
                + "0x0102, 0x00FF, 0xDEADBEEF, 'text ✓', 'medium', 0x00, "
                + "'large', 'c,a', b'1', b'1000000001', 2155, '9999-12-31', "
                + "'838:59:59', '00:00:01.25', '12:34:56.789', '00:00:00.000001', '1000-01-01 00:00:00', '2026-11-24 10:11:12.12', "
                + "'9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', '2038-01-19 03:14:07.999999', "
                + $"'{{\"a\": [1, \"{Emoji}\"]}}')",
            "INSERT INTO every_type VALUES (2, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, "
                + "-1234567890.99, -0.0000001, -0.0000000001, -0.25, -1e-300, "
                + $"'', '', '{string.Concat(Enumerable.Repeat("ü", 300))}', '', "
                + "0x00000000, '', '', '', '', '', "
                + "'small', '', b'0', b'0', 1901, '1000-01-01', "
                + "'-838:59:59', '-00:00:01.25', '-12:34:56.789', '-01:00:00.5', '2000-02-29 23:59:59', '1999-12-31 23:59:59.1', "
                + "'1999-12-31 23:59:59.000001', '2001-09-09 01:46:40', '1970-01-01 00:00:01.000001', '[]')",
            "INSERT INTO every_type (id) VALUES (3)",
            "COMMIT");

        var events = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position));

        var map = events.OfType<TableMapEvent>().First(e => e.Table.Database == source.Database).Table;
        AssertTableShape(map);
        var rows = source.OwnRows(events).ToList();
        Assert.All(rows, r => Assert.Equal(RowsEventKind.Write, r.Kind));
        var images = rows.SelectMany(r => r.Rows).Select(r => r.After!).ToList();
        Assert.Equal(3, images.Count);
        AssertRow(map, Expected[1], images[0]);
        AssertRow(map, Expected[2], images[1]);
        AssertRow(map, [3, .. Enumerable.Repeat<object?>(null, map.Columns.Count - 1)], images[2]);
        // One transaction: GTID, the rows, XID; the XID follows the last rows event.
        var lastRows = events.IndexOf(rows[^1]);
        Assert.IsType<XidEvent>(events[lastRows + 1]);
        Assert.IsType<MariaDbGtidEvent>(events.Take(events.IndexOf(rows[0])).Last(e => e is MariaDbGtidEvent or XidEvent));
    }

    [Fact]
    public async Task Stream_UpdateAndDelete_CarryBeforeAndAfterImages()
    {
        var source = await MariaDbSource.CreateAsync("upd");
        await source.ExecuteAsync("CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(64), amount DECIMAL(12,2))", "INSERT INTO t VALUES (1, 'alice', 10.50), (2, 'bob', -3.25)");
        var head = await source.HeadAsync();
        await source.ExecuteAsync("UPDATE t SET name = 'ALICE', amount = amount + 1 WHERE id = 1", "DELETE FROM t WHERE id = 2");

        var rows = source.OwnRows(await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position))).ToList();

        Assert.Equal([RowsEventKind.Update, RowsEventKind.Delete], rows.Select(r => r.Kind));
        var update = Assert.Single(rows[0].Rows);
        Assert.Equal(new object?[] { 1L, "alice", 10.50m }, update.Before);
        Assert.Equal(new object?[] { 1L, "ALICE", 11.50m }, update.After);
        var delete = Assert.Single(rows[1].Rows);
        Assert.Equal(new object?[] { 2L, "bob", -3.25m }, delete.Before);
        Assert.Null(delete.After);
    }

    [Fact]
    public async Task Stream_ResumedFromGtid_ContinuesAfterThatTransactionWithoutDuplicates()
    {
        var source = await MariaDbSource.CreateAsync("gtid");
        await source.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY)", "INSERT INTO t VALUES (1)");
        var afterFirst = await source.Server.ScalarAsync("SELECT @@gtid_binlog_pos");
        await source.ExecuteAsync("INSERT INTO t VALUES (2)", "INSERT INTO t VALUES (3), (4)");

        var resumed = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), GtidState: afterFirst));

        Assert.Equal([2, 3, 4], Ids(source.OwnRows(resumed)));
        // Resume again after the transaction that inserted 2, as a pipeline would after committing it.
        var secondGtid = GtidOf(resumed, source.OwnRows(resumed).First());
        var again = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), GtidState: secondGtid.ToString()));
        Assert.Equal([3, 4], Ids(source.OwnRows(again)));
        Assert.True(GtidOf(again, source.OwnRows(again).First()).Sequence > secondGtid.Sequence);
    }

    [Fact]
    public async Task Stream_GtidNotInTheBinlog_FailsWithTheServersReason()
    {
        var source = await MariaDbSource.CreateAsync("gtid");
        var current = MariaDbGtid.Parse((await source.Server.ScalarAsync("SELECT @@gtid_binlog_pos"))!.Split(',')[0]);
        var future = current with { Sequence = current.Sequence + 1_000_000 };

        var error = await Assert.ThrowsAsync<MySqlServerException>(() => source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), GtidState: future.ToString())));

        Assert.Equal(MySqlServerException.FatalErrorReadingBinlog, error.ErrorCode);
    }

    [Fact]
    public async Task Stream_IdleServer_SendsHeartbeatsAtTheHeadPosition()
    {
        var source = await MariaDbSource.CreateAsync("beat");
        var head = await source.HeadAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var options = new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position, HeartbeatPeriod: TimeSpan.FromMilliseconds(200));
        await using var stream = await BinlogStream.OpenAsync(source.Endpoint, options, timeout.Token);

        HeartbeatEvent? heartbeat = null;
        while (heartbeat is null)
        {
            heartbeat = await stream.ReadAsync(timeout.Token) as HeartbeatEvent;
        }

        Assert.Equal(head.File, heartbeat.LogFile);
        Assert.True(heartbeat.Header.NextPosition >= head.Position);
    }

    [Fact]
    public async Task Stream_RowEventLargerThan16MiB_IsReassembledAndDecoded()
    {
        var source = await MariaDbSource.CreateAsync("big");
        await source.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY, payload LONGBLOB)");
        var payload = new byte[17 * 1024 * 1024 + 123];
        Random.Shared.NextBytes(payload);
        var head = await source.HeadAsync();
        await using (var connection = new MySqlConnection(source.Server.ConnectionString(source.Database)))
        {
            await connection.OpenAsync();
            await using var insert = new MySqlCommand("INSERT INTO t VALUES (1, @payload)", connection);
            insert.Parameters.AddWithValue("@payload", payload);
            await insert.ExecuteNonQueryAsync();
        }

        var rows = source.OwnRows(await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position))).ToList();

        var row = Assert.Single(Assert.Single(rows).Rows).After!;
        Assert.True(rows[0].Header.EventSize > MySqlPacketStream.MaxChunk);
        Assert.Equal(1, row[0]);
        Assert.True(payload.AsSpan().SequenceEqual((byte[])row[1]!));
    }

    [Fact]
    public async Task Decode_CapturedEventWithOneByteFlipped_IsRefusedByItsChecksum()
    {
        var source = await MariaDbSource.CreateAsync("crc");
        await source.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20))");
        var head = await source.HeadAsync();
        await source.ExecuteAsync("INSERT INTO t VALUES (1, 'intact')");
        var captured = new List<byte[]>();
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            var options = new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position, NonBlocking: true);
            await using var stream = await BinlogStream.OpenAsync(source.Endpoint, options, timeout.Token);
            while (await stream.ReadRawAsync(timeout.Token) is { IsEmpty: false } raw)
            {
                captured.Add(raw.ToArray());
            }
        }

        // Intact, the capture decodes, checksums included.
        var decoder = new BinlogEventDecoder(checksumsBeforeFormatDescription: true);
        var decoded = captured.Select(e => decoder.Decode(e)).ToList();
        Assert.True(decoder.ChecksumsEnabled);
        var rowsIndex = decoded.FindIndex(e => e is RowsEvent r && r.Table.Database == source.Database);
        Assert.Equal("intact", ((RowsEvent)decoded[rowsIndex]).Rows[0].After![1]);

        // The same bytes with 'intact' changed to 'intast' in the row image.
        var corrupt = captured.Select(e => (byte[])e.Clone()).ToList();
        var rowsEvent = corrupt[rowsIndex];
        var at = rowsEvent.AsSpan().IndexOf("intact"u8) + 4;
        rowsEvent[at] = (byte)'s';
        var fresh = new BinlogEventDecoder(checksumsBeforeFormatDescription: true);
        for (var i = 0; i < rowsIndex; i++)
        {
            fresh.Decode(corrupt[i]);
        }

        var error = Assert.Throws<BinlogChecksumException>(() => fresh.Decode(rowsEvent));
        Assert.Contains("WriteRowsV1", error.Message, StringComparison.Ordinal);
    }

    private static NpgsqlInterval Micros(long hours, long minutes, long seconds, long microseconds) =>
        new(0, 0, ((hours * 60 + minutes) * 60 + seconds) * 1_000_000 + microseconds);

    private static NpgsqlInterval MinusMicros(long hours, long minutes, long seconds, long microseconds) =>
        new(0, 0, -Micros(hours, minutes, seconds, microseconds).Time);

    private static void AssertTableShape(BinlogTable map)
    {
        Assert.Equal("every_type", map.Name);
        Assert.Equal(["id", "ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "d", "dfrac", "dwide", "f", "db", "c", "vc", "vclong", "vclatin",
            "bin", "vbin", "bl", "tx", "mtx", "lbl", "e", "s", "b1", "b10", "y", "dt", "t", "t2", "t3", "t6", "dt0", "dt2", "dt6", "ts0", "ts6", "j"],
            map.Columns.Select(c => c.Name));
        Assert.Equal(["id"], map.Columns.Where(c => c.IsKey).Select(c => c.Name));
        var kinds = map.Columns.ToDictionary(c => c.Name!, c => c.ToColumnType().Kind);
        Assert.Equal(ValueKind.Int16, kinds["tiu"]);
        Assert.Equal(ValueKind.Int32, kinds["siu"]);
        Assert.Equal(ValueKind.Int64, kinds["iu"]);
        Assert.Equal(ValueKind.Decimal, kinds["biu"]);
        Assert.Equal(ValueKind.NumericText, kinds["dwide"]);
        Assert.Equal(ValueKind.Text, kinds["vclong"]);
        Assert.Equal(ValueKind.Bytes, kinds["bin"]);
        Assert.Equal(ValueKind.Bytes, kinds["bl"]);
        Assert.Equal(ValueKind.Text, kinds["tx"]);
        Assert.Equal(ValueKind.Enum, kinds["e"]);
        Assert.Equal(ValueKind.Boolean, kinds["b1"]);
        Assert.Equal(ValueKind.Interval, kinds["t6"]);
        Assert.Equal(ValueKind.Timestamp, kinds["dt6"]);
        Assert.Equal(ValueKind.TimestampTz, kinds["ts6"]);
        var decimalType = map.Columns.Single(c => c.Name == "d").ToColumnType();
        Assert.Equal((12, 2), (decimalType.Precision, decimalType.Scale));
        // VARCHAR(300) in utf8mb4 may hold 1200 bytes: its values carry a 2-byte length.
        Assert.Equal(1200, map.Columns.Single(c => c.Name == "vclong").Length);
        Assert.Equal(80, map.Columns.Single(c => c.Name == "vc").Length);
        Assert.Equal(["small", "medium", "large"], map.Columns.Single(c => c.Name == "e").Labels!);
    }

    private static void AssertRow(BinlogTable map, object?[] expected, object?[] actual)
    {
        Assert.Equal(map.Columns.Count, expected.Length);
        Assert.Equal(expected.Length, actual.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            var same = ValueEquality.Equal(expected[i], actual[i]) && expected[i]?.GetType() == actual[i]?.GetType()
                && (expected[i] is not DateTime e || e.Kind == ((DateTime)actual[i]!).Kind);
            Assert.True(same, $"row {expected[0]}, column {map.Columns[i].Name}: expected {Show(expected[i])}, got {Show(actual[i])}");
        }
    }

    private static string Show(object? value) => value switch
    {
        null => "NULL",
        byte[] bytes => "0x" + Convert.ToHexString(bytes),
        DateTime time => $"{time:O} ({time.Kind})",
        _ => $"{Convert.ToString(value, CultureInfo.InvariantCulture)} ({value.GetType().Name})",
    };

    private static List<int> Ids(IEnumerable<RowsEvent> rows) => [.. rows.SelectMany(r => r.Rows).Select(r => (int)r.After![0]!)];

    private static MariaDbGtid GtidOf(List<BinlogEvent> events, RowsEvent rows) =>
        events.Take(events.IndexOf(rows)).OfType<MariaDbGtidEvent>().Last().Gtid;
}
