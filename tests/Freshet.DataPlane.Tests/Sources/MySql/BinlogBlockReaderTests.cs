using System.Globalization;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;
using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// The columnar reading of inserts (<see cref="BinlogBlockReader"/> into <see cref="InsertBlock"/>) against the object
/// reader (<see cref="RowsEvent.Rows"/>), on real MariaDB binlog events: every value a block materializes must be the
/// object reader's, same .NET type and same value.
/// </summary>
public sealed class BinlogBlockReaderTests
{
    private const string BlockTypesTable = """
        CREATE TABLE block_types (
            id BIGINT PRIMARY KEY,
            ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
            i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
            d DECIMAL(12,2), dfrac DECIMAL(7,7), d28 DECIMAL(28,10), f FLOAT, db DOUBLE,
            c CHAR(10), vc VARCHAR(20), vclong VARCHAR(300), vc3 VARCHAR(10) CHARACTER SET utf8mb3, tx TEXT, ttx TINYTEXT,
            mtx MEDIUMTEXT, y YEAR, dt DATE, dt0 DATETIME, dt2 DATETIME(2), dt6 DATETIME(6), ts0 TIMESTAMP NULL, ts3 TIMESTAMP(3) NULL,
            ts6 TIMESTAMP(6) NULL
        )
        """;

    private const string MoreTypesTable = """
        CREATE TABLE block_more (
            id INT PRIMARY KEY,
            bin BINARY(4), bin255 BINARY(255), vb VARBINARY(300), vb255 VARBINARY(255), bl BLOB, tbl TINYBLOB, mbl MEDIUMBLOB,
            lbl LONGBLOB, g GEOMETRY,
            e ENUM('new','paid','shipped','été'), s SET('a','b','c','ü'),
            t TIME, t3 TIME(3), t6 TIME(6), t1 TIME(1),
            b1 BIT(1), b8 BIT(8), b64 BIT(64),
            l1 VARCHAR(300) CHARACTER SET latin1, lc CHAR(5) CHARACTER SET latin1, lt TEXT CHARACTER SET latin1,
            a VARCHAR(10) CHARACTER SET ascii, u16 VARCHAR(10) CHARACTER SET utf16, u32 VARCHAR(10) CHARACTER SET utf32,
            j JSON
        )
        """;

    private const string Emoji = "😀";

    [Fact]
    public async Task ReadRow_EverySupportedType_MaterializesExactlyWhatTheObjectReaderGives()
    {
        var source = await MariaDbSource.CreateAsync("blocks");
        await source.ExecuteAsync(BlockTypesTable);
        var head = await source.HeadAsync();
        await source.ExecuteAsync(
            "SET SESSION sql_mode = ''",
            "SET SESSION time_zone = '+00:00'",
            "START TRANSACTION",
            "INSERT INTO block_types VALUES (1, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, "
                + "18446744073709551615, 9999999999.99, 0.9999999, 999999999999999999.9999999999, 3.4028235e38, 1.7976931348623157e308, "
                + $"'abc', 'héllo', '{new string('x', 299)}{Emoji}', 'ü€', 'text ✓ {Emoji}', 'tiny', 'medium', 2155, '9999-12-31', "
                + "'9999-12-31 23:59:59', '2026-11-24 10:11:12.12', '9999-12-31 23:59:59.999999', '2038-01-19 03:14:07', "
                + "'2038-01-19 03:14:07.999', '2038-01-19 03:14:07.999999')",
            "INSERT INTO block_types VALUES (-9223372036854775808, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, "
                + "-9999999999.99, -0.0000001, -999999999999999999.9999999999, -1.175494e-38, -2.2250738585072014e-308, "
                + "'', '', '', '', '', '', '', 1901, '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.01', "
                + "'1999-12-31 23:59:59.000001', '1970-01-01 00:00:01', '1970-01-01 00:00:01.001', '1970-01-01 00:00:01.000001')",
            // Zero dates (no value: NULL for both readers), zero YEAR, and MySQL's zero timestamp.
            "INSERT INTO block_types (id, y, dt, dt0, dt6, ts0, ts6, d, f, db) VALUES (2, 0, '0000-00-00', '0000-00-00 00:00:00', "
                + "'2000-00-10 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', 0, 0, -0.0)",
            "INSERT INTO block_types (id) VALUES (3)",
            "INSERT INTO block_types (id, c, vc, tx, d, dfrac) VALUES (4, ' lead', 'trail  ', 'a\\0b', -0.5, 0.0000001)",
            "COMMIT");

        var block = await ReadOwnInsertsBothWaysAsync(source, head, expectedRows: 5);

        // The key column ran 1, then the least BIGINT: not ascending, so a destination must not take the block as new keys in order.
        Assert.False(block.StrictlyAscending(0));
    }

    [Fact]
    public async Task ReadRow_BinaryEnumSetTimeBitOtherCharsetsAndJson_MaterializesExactlyWhatTheObjectReaderGives()
    {
        var source = await MariaDbSource.CreateAsync("blockmore");
        await source.ExecuteAsync(MoreTypesTable);
        var head = await source.HeadAsync();
        var bytes255 = Hex(Enumerable.Range(0, 255).Select(i => (byte)i));
        var bytes256 = Hex(Enumerable.Range(0, 256).Select(i => (byte)(255 - i)));
        var latin256 = new string('é', 128) + new string('x', 127) + "ÿ";
        await source.ExecuteAsync(
            "SET SESSION sql_mode = ''",
            "START TRANSACTION",
            // Lengths at the edges of the one-byte length prefix, multi-byte characters, trailing zeros of BINARY(n).
            $"INSERT INTO block_more VALUES (1, 0x0102, 0x{bytes255}, 0x{bytes256}, 0x{bytes255}, 0x00FF00, 0x{bytes255}, 0x{bytes256}, 0x01, "
                + "ST_GeomFromText('POINT(1 2)'), 'été', 'a,c,ü', '838:59:59', '12:34:56.789', '-00:00:00.000001', '00:00:00.5', "
                + $"b'1', b'10100101', 0xFFFFFFFFFFFFFFFF, '{latin256}', 'ÀÿÞ', 'Grüße € œ', 'plain', '{Emoji} ü', 'ü€', "
                + $"'{{\"a\": [1, \"{Emoji}\"]}}')",
            // Empty values, an ENUM value that matches no label (stored as index 0, the empty string), a SET of no member,
            // negative TIMEs with fractions (the borrow), BIT zero.
            "INSERT INTO block_more VALUES (2, '', '', '', '', '', '', '', '', NULL, 'bogus', '', '-838:59:59', '-00:00:01.5', "
                + "'-12:34:56.000007', '-00:00:00.1', b'0', b'0', 0, '', '', '', '', '', '', '[]')",
            $"INSERT INTO block_more VALUES (3, 0x01020304, 0x00, 0x{bytes255}, '', 0x{bytes256}, '', 0x{bytes256}, 0x{bytes256}, "
                + "ST_GeomFromText('LINESTRING(0 0, 1 1, 2 3)'), 'new', 'a,b,c,ü', '00:00:00', '-838:59:58.999', '00:00:00', '-838:59:59.0', "
                + $"NULL, b'11111111', 0x8000000000000001, 'x', 'a', '{latin256}', '~', 'x', '{Emoji}', '\"text\"')",
            "INSERT INTO block_more (id) VALUES (4)",
            "COMMIT");

        var block = await ReadOwnInsertsBothWaysAsync(source, head, expectedRows: 4);

        Assert.Equal(
            [BlockValueKind.Int32, BlockValueKind.Bytes, BlockValueKind.Bytes, BlockValueKind.Bytes, BlockValueKind.Bytes, BlockValueKind.Bytes,
             BlockValueKind.Bytes, BlockValueKind.Bytes, BlockValueKind.Bytes, BlockValueKind.Bytes, BlockValueKind.Text, BlockValueKind.Text,
             BlockValueKind.Microseconds, BlockValueKind.Microseconds, BlockValueKind.Microseconds, BlockValueKind.Microseconds,
             BlockValueKind.Boolean, BlockValueKind.Bytes, BlockValueKind.Bytes, BlockValueKind.Text, BlockValueKind.Text, BlockValueKind.Text,
             BlockValueKind.Text, BlockValueKind.Text, BlockValueKind.Text, BlockValueKind.Text],
            Enumerable.Range(0, 26).Select(block.KindOf));
        // A few values spelled out, so that a reader that agreed with the other on a wrong value would still fail.
        Assert.Equal(new byte[] { 1, 2, 0, 0 }, (byte[])block.GetValue(1, 0)!);
        Assert.Equal("été", block.GetValue(10, 0));
        Assert.Equal("", block.GetValue(10, 1));
        Assert.Equal("a,c,ü", block.GetValue(11, 0));
        Assert.Equal("", block.GetValue(11, 1));
        Assert.Equal(new NpgsqlTypes.NpgsqlInterval(0, 0, -1_500_000), block.GetValue(13, 1));
        Assert.True((bool)block.GetValue(16, 0)!);
        Assert.Equal(latin256, block.GetValue(19, 0));
        Assert.Equal($"{Emoji} ü", block.GetValue(23, 0));
    }

    [Fact]
    public void ReadRow_MySqlBinaryJson_MaterializesWhatTheObjectReaderGives()
    {
        // MySQL's binary JSON (no MySQL server runs here; MariaDB logs JSON as LONGTEXT): a row image built by hand,
        // {"k": "ü😀"} as a small object, and a bare string with an escaped control character.
        var table = new BinlogTable(1, "db", "docs", [
            new BinlogColumn(0, "id", MySqlColumnType.Long, 4, 0, 0, false, false, null, null, true),
            new BinlogColumn(1, "doc", MySqlColumnType.Json, 4, 0, 0, true, false, null, null, false)]);
        var value = "ü😀"u8.ToArray();
        byte[] document = [0x00, 0x01, 0x00, (byte)(11 + 1 + 1 + value.Length), 0x00, 0x0B, 0x00, 0x01, 0x00, 0x0C, 0x0C, 0x00, (byte)'k', (byte)value.Length, .. value];
        byte[] bare = [0x0C, 0x03, (byte)'a', 0x01, (byte)'b'];
        var images = new List<byte>();
        foreach (var (id, doc) in new (int, byte[]?)[] { (1, document), (2, bare), (3, null) })
        {
            images.Add(doc is null ? (byte)0b10 : (byte)0);
            images.AddRange(BitConverter.GetBytes(id));
            if (doc is not null)
            {
                images.AddRange(BitConverter.GetBytes(doc.Length));
                images.AddRange(doc);
            }
        }

        var schema = SchemaOf(table);
        var reader = BinlogBlockReader.TryCreate(table, schema, [0, 1]);
        Assert.NotNull(reader);
        var block = new InsertBlock(schema, reader.Kinds, position: 1, firstSequence: 1, DateTimeOffset.UnixEpoch, capacity: 1);
        ReadAll(reader, [.. images], block);

        var objects = new PayloadReader([.. images]);
        for (var r = 0; r < 3; r++)
        {
            var expected = BinlogValueReader.ReadImage(ref objects, table, [0b11]);
            for (var c = 0; c < 2; c++)
            {
                AssertSame(expected[c], block.GetValue(c, r), $"row {r}, column {c}");
            }
        }

        Assert.Equal("{\"k\": \"ü😀\"}", block.GetValue(1, 0));
        Assert.Equal("\"a\\u0001b\"", block.GetValue(1, 1));
    }

    [Fact]
    public async Task TryCreate_TableWithAColumnItDoesNotRead_LeavesTheTableToTheObjectReader()
    {
        var source = await MariaDbSource.CreateAsync("blockless");
        await source.ExecuteAsync(
            "CREATE TABLE with_wide_decimal (id INT PRIMARY KEY, d DECIMAL(30,2))",
            "CREATE TABLE with_big5 (id INT PRIMARY KEY, t VARCHAR(5) CHARACTER SET big5)");
        var head = await source.HeadAsync();
        await source.ExecuteAsync(
            "INSERT INTO with_wide_decimal VALUES (1, 1.5)",
            "INSERT INTO with_big5 VALUES (1, 'x')");

        var events = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position));
        var tables = source.OwnRows(events).Select(r => r.Table).ToList();
        Assert.Equal(2, tables.Count);
        Assert.All(tables, table => Assert.Null(BinlogBlockReader.TryCreate(table, SchemaOf(table), [.. Enumerable.Range(0, table.Columns.Count)])));
    }

    [Fact]
    public async Task Decoder_InsertsThenAnUpdateInOneTransaction_BlockOfTheInsertsGoesOutFirstWithContiguousSequences()
    {
        var source = await MariaDbSource.CreateAsync("blockorder");
        await source.ExecuteAsync("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20))");
        var head = await source.HeadAsync();
        await source.ExecuteAsync(
            "START TRANSACTION",
            "INSERT INTO items VALUES (1, 'a'), (2, 'b'), (3, 'c')",
            "INSERT INTO items VALUES (4, 'd')",
            "UPDATE items SET name = 'bb' WHERE id = 2",
            "INSERT INTO items VALUES (5, NULL)",
            "COMMIT");
        var events = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position));

        var table = source.OwnRows(events).First().Table;
        var id = new TableId(source.Database, "items");
        var schema = new TableSchema(id, "items", [.. SchemaOf(table).Columns]);
        var output = Channel.CreateUnbounded<SourceEvent>();
        var decoder = new BinlogChangeDecoder(
            new Dictionary<TableId, TableSchema> { [id] = schema },
            [new TableSpec(source.Database, "items")],
            new BinlogPosition("", head.File, head.Position),
            output.Writer);
        foreach (var binlogEvent in events)
        {
            await decoder.HandleAsync(binlogEvent, CancellationToken.None);
        }

        var all = new List<SourceEvent>();
        while (output.Reader.TryRead(out var item))
        {
            all.Add(item);
        }

        // Other tests share the server: their transactions around ours reach the decoder as commits without rows of ours.
        var start = all.FindIndex(e => e.Kind != SourceEventKind.Commit);
        var emitted = all[start..Math.Min(start + 4, all.Count)];
        Assert.Equal(
            [SourceEventKind.Inserts, SourceEventKind.Change, SourceEventKind.Inserts, SourceEventKind.Commit],
            emitted.Select(e => e.Kind));
        Assert.All(all[(start + 4)..], e => Assert.Equal(SourceEventKind.Commit, e.Kind));
        var first = emitted[0].Block!;
        Assert.Equal((4, 1L, 4L), (first.Count, first.FirstSequence, first.LastSequence));
        Assert.Equal([1, 2, 3, 4], first.Materialize().Select(c => (int)c.Values[0]!));
        Assert.Equal((ChangeKind.Update, 5L), (emitted[1].Change!.Kind, emitted[1].Change!.Sequence));
        var last = emitted[2].Block!;
        Assert.Equal((1, 6L), (last.Count, last.FirstSequence));
        Assert.Equal([5, null], last.Materialize()[0].Values);
        Assert.All([first.Position, emitted[1].Change!.Position, last.Position], p => Assert.Equal(emitted[3].Commit!.Position, p));
    }

    /// <summary>
    /// Reads the source's inserts since <paramref name="head"/> both ways (all of one table, every column present) and
    /// checks every materialized value against the object reader's; the block.
    /// </summary>
    private static async Task<InsertBlock> ReadOwnInsertsBothWaysAsync(MariaDbSource source, (string File, uint Position) head, int expectedRows)
    {
        var events = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: head.File, Position: head.Position));
        var rowsEvents = source.OwnRows(events).ToList();
        var table = rowsEvents[0].Table;
        var schema = SchemaOf(table);
        var reader = BinlogBlockReader.TryCreate(table, schema, [.. Enumerable.Range(0, table.Columns.Count)]);
        Assert.NotNull(reader);

        var expected = rowsEvents.SelectMany(r => r.Rows).Select(r => r.After!).ToList();
        var block = new InsertBlock(schema, reader.Kinds, position: 7, firstSequence: 1, DateTimeOffset.UnixEpoch, capacity: 1);
        foreach (var rowsEvent in rowsEvents)
        {
            Assert.True(reader.AllPresent(rowsEvent.AfterPresent));
            ReadAll(reader, rowsEvent.Images, block);
        }

        Assert.Equal(expectedRows, expected.Count);
        var materialized = block.Materialize();
        Assert.Equal(expected.Count, materialized.Count);
        for (var r = 0; r < expected.Count; r++)
        {
            Assert.Equal(ChangeKind.Insert, materialized[r].Kind);
            Assert.Equal((7L, r + 1L), (materialized[r].Position, materialized[r].Sequence));
            for (var c = 0; c < schema.Columns.Count; c++)
            {
                AssertSame(expected[r][c], materialized[r].Values[c], $"row {r}, column {schema.Columns[c].Name}");
                AssertSame(expected[r][c], block.GetValue(c, r), $"row {r}, column {schema.Columns[c].Name} (GetValue)");
            }
        }

        return block;
    }

    private static string Hex(IEnumerable<byte> bytes) => Convert.ToHexString([.. bytes]);

    private static void ReadAll(BinlogBlockReader reader, byte[] images, InsertBlock block)
    {
        var payload = new PayloadReader(images);
        while (payload.Remaining > 0)
        {
            reader.ReadRow(ref payload, block);
        }
    }

    private static TableSchema SchemaOf(BinlogTable table) =>
        new(new TableId(table.Database, table.Name), table.Name, [.. table.Columns.Select(c => new ColumnSchema(c.Name!, c.ToColumnType(), c.Index == 0))]);

    /// <summary>The same .NET type and value (a decimal's scale and a DateTime's kind included).</summary>
    private static void AssertSame(object? expected, object? actual, string where)
    {
        Assert.True(expected?.GetType() == actual?.GetType(), $"{where}: {expected?.GetType()} expected, {actual?.GetType()} given");
        switch (expected)
        {
            case decimal number:
                Assert.True(number.ToString(CultureInfo.InvariantCulture) == ((decimal)actual!).ToString(CultureInfo.InvariantCulture), $"{where}: {number} vs {actual}");
                break;
            case DateTime time:
                Assert.True(time.Ticks == ((DateTime)actual!).Ticks && time.Kind == ((DateTime)actual!).Kind, $"{where}: {time:O} vs {actual:O}");
                break;
            case byte[] bytes:
                Assert.True(bytes.AsSpan().SequenceEqual((byte[])actual!), $"{where}: {Convert.ToHexString(bytes)} vs {Convert.ToHexString((byte[])actual!)}");
                break;
            case double number:
                Assert.True(BitConverter.DoubleToInt64Bits(number) == BitConverter.DoubleToInt64Bits((double)actual!), $"{where}: {number:R} vs {actual:R}");
                break;
            default:
                Assert.True(Equals(expected, actual), $"{where}: {expected} vs {actual}");
                break;
        }
    }
}
