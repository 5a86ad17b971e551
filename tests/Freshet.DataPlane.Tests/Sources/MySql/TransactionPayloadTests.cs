using System.Buffers.Binary;
using System.IO.Hashing;
using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// MySQL's TRANSACTION_PAYLOAD (binlog_transaction_compression=ON) and rows v2 events with extra data. No MySQL server
/// runs here, so both are checked ONLY this way: real events captured from MariaDB (TABLE_MAP, WRITE_ROWS, XID), the
/// rows event rewritten as v2 with an extra-data block, packed without their checksums into a payload compressed with
/// zstd, and wrapped in a TRANSACTION_PAYLOAD event built per the documented format (header fields: payload size,
/// compression type, uncompressed size, end mark; then the payload).
/// </summary>
public sealed class TransactionPayloadTests
{
    private const uint PayloadNextPosition = 123_456;

    [Fact]
    public async Task Decode_ZstdPayloadOfCapturedEvents_YieldsTheSameEventsAsPlain()
    {
        var (formatDescription, transaction) = await CaptureInsertAsync();
        var plain = new BinlogEventDecoder(checksumsBeforeFormatDescription: true);
        plain.Decode(formatDescription);
        var expected = transaction.Select(e => plain.Decode(e)).ToList();

        var inner = transaction.Select(e => WithoutChecksum(e[4] == (byte)BinlogEventType.WriteRowsV1 ? AsRowsV2WithExtraData(e) : e)).ToList();
        var events = inner.SelectMany(e => e).ToArray();
        using var compressor = new ZstdSharp.Compressor();
        var payloadEvent = PayloadEvent(compressor.Wrap(events).ToArray(), compression: 0, uncompressedSize: events.Length);
        var decoder = new BinlogEventDecoder(checksumsBeforeFormatDescription: true);
        decoder.Decode(formatDescription);

        var decoded = Assert.IsType<TransactionPayloadEvent>(decoder.Decode(payloadEvent));

        Assert.Equal([typeof(TableMapEvent), typeof(RowsEvent), typeof(XidEvent)], decoded.Events.Select(e => e.GetType()));
        Assert.Equal(BinlogEventType.WriteRowsV2, decoded.Events[1].Header.Type);
        var rows = (RowsEvent)decoded.Events[1];
        var expectedRows = (RowsEvent)expected[1];
        Assert.Equal(expectedRows.Rows.Select(r => r.After), rows.Rows.Select(r => r.After));
        Assert.Equal([1, "zstd ✓", 2.5m], rows.Rows[0].After!);
        Assert.Equal(((XidEvent)expected[2]).Xid, ((XidEvent)decoded.Events[2]).Xid);
        // For positions the inner events stand where the payload event stands: the commit resumes after the payload.
        Assert.All(decoded.Events, e => Assert.Equal((PayloadNextPosition, (uint)payloadEvent.Length), (e.Header.NextPosition, e.Header.EventSize)));
    }

    [Fact]
    public async Task Decode_CorruptZstdOrWrongUncompressedSize_RefusedWithTheReason()
    {
        var (formatDescription, transaction) = await CaptureInsertAsync();
        var events = transaction.SelectMany(WithoutChecksum).ToArray();
        using var compressor = new ZstdSharp.Compressor();
        var compressed = compressor.Wrap(events).ToArray();
        var decoder = new BinlogEventDecoder(checksumsBeforeFormatDescription: true);
        decoder.Decode(formatDescription);

        var wrongSize = Assert.Throws<MySqlProtocolException>(() => decoder.Decode(PayloadEvent(compressed, 0, events.Length + 1)));
        compressed[^3] ^= 0xFF;
        var corrupt = Assert.Throws<MySqlProtocolException>(() => decoder.Decode(PayloadEvent(compressed, 0, events.Length)));

        Assert.Contains($"promises {events.Length + 1} uncompressed bytes", wrongSize.Message, StringComparison.Ordinal);
        Assert.Contains("is not valid zstd", corrupt.Message, StringComparison.Ordinal);
    }

    /// <summary>The dump's FORMAT_DESCRIPTION and the TABLE_MAP, WRITE_ROWS and XID of one insert, as the real server sent them.</summary>
    private static async Task<(byte[] FormatDescription, List<byte[]> Transaction)> CaptureInsertAsync()
    {
        var source = await MariaDbSource.CreateAsync("payload");
        await source.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(6,2))");
        var (file, position) = await source.HeadAsync();
        await source.ExecuteAsync("INSERT INTO t VALUES (1, 'zstd ✓', 2.5)");

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var options = new BinlogStreamOptions(MariaDbSource.NewServerId(), File: file, Position: position, NonBlocking: true);
        await using var stream = await BinlogStream.OpenAsync(source.Endpoint, options, timeout.Token);
        byte[]? formatDescription = null;
        var transaction = new List<byte[]>();
        // Other tests write to the same server; an event group is contiguous in the binlog, so this database's
        // TABLE_MAP and the two events after it are the insert's.
        var decoder = new BinlogEventDecoder(checksumsBeforeFormatDescription: true);
        while (await stream.ReadRawAsync(timeout.Token) is { IsEmpty: false } raw)
        {
            var type = (BinlogEventType)raw.Span[4];
            var decoded = decoder.Decode(raw.Span);
            if (type == BinlogEventType.FormatDescription)
            {
                formatDescription = raw.ToArray();
            }
            else if (transaction.Count is > 0 and < 3 || decoded is TableMapEvent map && map.Table.Database == source.Database && transaction.Count == 0)
            {
                transaction.Add(raw.ToArray());
            }
        }

        Assert.NotNull(formatDescription);
        Assert.Equal([BinlogEventType.TableMap, BinlogEventType.WriteRowsV1, BinlogEventType.Xid], transaction.Select(e => (BinlogEventType)e[4]));
        return (formatDescription, transaction);
    }

    /// <summary>
    /// A v1 rows event as v2: type 23 → 30 and, after the post-header (table id 6, flags 2), extra data whose 2-byte
    /// length counts itself — here an EXTRA_INFO item (tag 0, length, format, bytes) that the reader must skip.
    /// </summary>
    private static byte[] AsRowsV2WithExtraData(byte[] v1)
    {
        byte[] extra = [9, 0, 0x00, 5, 0x01, (byte)'n', (byte)'d', (byte)'b', (byte)'!'];
        var at = BinlogEventHeader.Size + 8;
        var v2 = v1[..at].Concat(extra).Concat(v1[at..]).ToArray();
        v2[4] = (byte)BinlogEventType.WriteRowsV2;
        BinaryPrimitives.WriteUInt32LittleEndian(v2.AsSpan(9), (uint)v2.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(v2.AsSpan(^4), Crc32.HashToUInt32(v2.AsSpan(..^4)));
        return v2;
    }

    /// <summary>Events inside a payload carry no CRC32: the last 4 bytes dropped and the size field shrunk.</summary>
    private static byte[] WithoutChecksum(byte[] e)
    {
        var inner = e[..^4];
        BinaryPrimitives.WriteUInt32LittleEndian(inner.AsSpan(9), (uint)inner.Length);
        return inner;
    }

    private static byte[] PayloadEvent(byte[] payload, byte compression, int uncompressedSize)
    {
        var body = new List<byte>();
        // Each header field: type, length of the value, the value — all length-encoded integers (here < 251 or 0xFC + 2 bytes).
        void Field(byte type, int value)
        {
            byte[] encoded = value < 251 ? [(byte)value] : [0xFC, (byte)value, (byte)(value >> 8)];
            body.Add(type);
            body.Add((byte)encoded.Length);
            body.AddRange(encoded);
        }

        Field(1, payload.Length);
        Field(2, compression);
        Field(3, uncompressedSize);
        body.Add(0);
        body.AddRange(payload);
        var bytes = new byte[BinlogEventHeader.Size + body.Count + 4];
        bytes[4] = (byte)BinlogEventType.TransactionPayload;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(5), 1);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(9), (uint)bytes.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(13), PayloadNextPosition);
        body.CopyTo(bytes, BinlogEventHeader.Size);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(^4), Crc32.HashToUInt32(bytes.AsSpan(..^4)));
        return bytes;
    }
}
