using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Decodes binlog events one at a time, in stream order, keeping what later events depend on: the format description
/// (header layout, checksum algorithm) and the table maps. Every event's CRC32 is verified when the stream carries
/// checksums. One decoder per stream; not thread-safe.
/// </summary>
internal sealed class BinlogEventDecoder(bool checksumsBeforeFormatDescription)
{
    private const int ChecksumSize = 4;
    private const int FormatDescriptionFixedSize = 2 + 50 + 4 + 1;

    // STMT_END_F of a rows event: the statement's last rows event.
    private const ushort RowsEndOfStatement = 0x0001;

    private const ulong TransactionPayloadZstd = 0;
    private const ulong TransactionPayloadNone = 255;

    private readonly Dictionary<ulong, BinlogTable> _tables = [];
    private bool _checksums = checksumsBeforeFormatDescription;
    private byte[] _postHeaderLengths = [];

    /// <summary>Whether events currently end with a CRC32 (from the last FORMAT_DESCRIPTION).</summary>
    public bool ChecksumsEnabled => _checksums;

    public BinlogEvent Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length < BinlogEventHeader.Size)
        {
            throw new MySqlProtocolException($"A binlog event of {bytes.Length} bytes is shorter than its header.");
        }

        var header = ReadHeader(bytes);
        if (header.EventSize != bytes.Length)
        {
            throw new MySqlProtocolException($"A {header.Type} event says it has {header.EventSize} bytes but {bytes.Length} arrived.");
        }

        if (header.Type == BinlogEventType.FormatDescription)
        {
            return DecodeFormatDescription(header, bytes);
        }

        if (_checksums)
        {
            Verify(header, bytes);
        }

        return DecodeBody(header, bytes[BinlogEventHeader.Size..(_checksums ? bytes.Length - ChecksumSize : bytes.Length)]);
    }

    private BinlogEvent DecodeBody(BinlogEventHeader header, ReadOnlySpan<byte> body)
    {
        return header.Type switch
        {
            BinlogEventType.Rotate => DecodeRotate(header, body),
            BinlogEventType.MariaDbGtid => DecodeMariaDbGtid(header, body),
            BinlogEventType.MariaDbGtidList => DecodeGtidList(header, body),
            BinlogEventType.MySqlGtid or BinlogEventType.MySqlAnonymousGtid => DecodeMySqlGtid(header, body),
            BinlogEventType.Query => DecodeQuery(header, body, compressed: false),
            BinlogEventType.QueryCompressed => DecodeQuery(header, body, compressed: true),
            BinlogEventType.TableMap => DecodeTableMap(header, body),
            BinlogEventType.WriteRowsV1 or BinlogEventType.WriteRowsV2
                or BinlogEventType.WriteRowsCompressedV1 or BinlogEventType.WriteRowsCompressed => DecodeRows(header, body, RowsEventKind.Write),
            BinlogEventType.UpdateRowsV1 or BinlogEventType.UpdateRowsV2
                or BinlogEventType.UpdateRowsCompressedV1 or BinlogEventType.UpdateRowsCompressed => DecodeRows(header, body, RowsEventKind.Update),
            BinlogEventType.DeleteRowsV1 or BinlogEventType.DeleteRowsV2
                or BinlogEventType.DeleteRowsCompressedV1 or BinlogEventType.DeleteRowsCompressed => DecodeRows(header, body, RowsEventKind.Delete),
            BinlogEventType.Xid => new XidEvent(header, BinaryPrimitives.ReadUInt64LittleEndian(body)),
            BinlogEventType.Heartbeat => new HeartbeatEvent(header, Encoding.UTF8.GetString(body)),
            BinlogEventType.TransactionPayload => DecodeTransactionPayload(header, body),
            BinlogEventType.PartialUpdateRows => throw new BinlogUnsupportedException(
                "The server writes partial JSON updates (MySQL binlog_row_value_options=PARTIAL_JSON); set it to '' so that rows arrive whole."),
            _ => new SkippedEvent(header),
        };
    }

    /// <summary>
    /// MySQL TRANSACTION_PAYLOAD (binlog_transaction_compression=ON): header fields, each a type, a length and a value
    /// (all length-encoded integers) — payload size (1), compression type (2: 0 zstd, 255 none), uncompressed size (3)
    /// — up to an end mark (0); then the payload: the transaction's events back to back, each with its own v4 header
    /// and without a checksum (the payload event's own CRC32 covers them). Checked only against payloads built in the
    /// test from real MariaDB events per this format: no MySQL server runs here.
    /// </summary>
    private TransactionPayloadEvent DecodeTransactionPayload(BinlogEventHeader header, ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        ulong? payloadSize = null, uncompressedSize = null;
        ulong compression = TransactionPayloadNone;
        while (true)
        {
            var field = reader.ReadLengthEncoded();
            if (field == 0)
            {
                break;
            }

            var fieldLength = checked((int)reader.ReadLengthEncoded());
            var value = new PayloadReader(reader.ReadBytes(fieldLength));
            switch (field)
            {
                case 1:
                    payloadSize = value.ReadLengthEncoded();
                    break;
                case 2:
                    compression = value.ReadLengthEncoded();
                    break;
                case 3:
                    uncompressedSize = value.ReadLengthEncoded();
                    break;
                default:
                    // A field this reader does not know; its length lets it be skipped, as MySQL's own reader does.
                    break;
            }
        }

        var payload = reader.Rest;
        if (payloadSize is { } size && size != (ulong)payload.Length)
        {
            throw new MySqlProtocolException($"A TRANSACTION_PAYLOAD event ending at binlog position {header.NextPosition} says its payload has {size} bytes; {payload.Length} are there.");
        }

        byte[] events = compression switch
        {
            TransactionPayloadZstd => DecompressZstd(payload, uncompressedSize, header),
            TransactionPayloadNone => payload.ToArray(),
            _ => throw new BinlogUnsupportedException($"A TRANSACTION_PAYLOAD event uses compression type {compression}; only zstd (0) and none (255) exist."),
        };

        var inner = new List<BinlogEvent>();
        var at = 0;
        while (at < events.Length)
        {
            if (events.Length - at < BinlogEventHeader.Size)
            {
                throw new MySqlProtocolException($"A TRANSACTION_PAYLOAD event's payload ends with {events.Length - at} bytes, less than an event header.");
            }

            var innerHeader = ReadHeader(events.AsSpan(at));
            if (innerHeader.EventSize < BinlogEventHeader.Size || innerHeader.EventSize > events.Length - at)
            {
                throw new MySqlProtocolException($"A {innerHeader.Type} event inside a TRANSACTION_PAYLOAD says it has {innerHeader.EventSize} bytes; {events.Length - at} remain.");
            }

            // Inner events sit, for positions, where the payload event sits: a commit inside resumes after the whole
            // payload, and a group begun inside starts at it. Their own log positions are not positions in the file.
            var placed = innerHeader with { NextPosition = header.NextPosition, EventSize = header.EventSize };
            inner.Add(DecodeBody(placed, events.AsSpan(at + BinlogEventHeader.Size, (int)innerHeader.EventSize - BinlogEventHeader.Size)));
            at += (int)innerHeader.EventSize;
        }

        return new TransactionPayloadEvent(header, inner);
    }

    private static byte[] DecompressZstd(ReadOnlySpan<byte> payload, ulong? uncompressedSize, BinlogEventHeader header)
    {
        using var decompressor = new ZstdSharp.Decompressor();
        try
        {
            var events = decompressor.Unwrap(payload).ToArray();
            if (uncompressedSize is { } expected && expected != (ulong)events.Length)
            {
                throw new MySqlProtocolException($"A TRANSACTION_PAYLOAD event ending at binlog position {header.NextPosition} promises {expected} uncompressed bytes; zstd gave {events.Length}.");
            }

            return events;
        }
        catch (ZstdSharp.ZstdException e)
        {
            throw new MySqlProtocolException($"A TRANSACTION_PAYLOAD event ending at binlog position {header.NextPosition} is not valid zstd: {e.Message}", e);
        }
    }

    /// <summary>The table a TABLE_MAP event mapped to this id, if any.</summary>
    public BinlogTable? TableById(ulong tableId) => _tables.GetValueOrDefault(tableId);

    private static BinlogEventHeader ReadHeader(ReadOnlySpan<byte> bytes)
    {
        var reader = new PayloadReader(bytes);
        return new BinlogEventHeader(reader.ReadUInt32(), (BinlogEventType)reader.ReadByte(), reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt16());
    }

    private static void Verify(BinlogEventHeader header, ReadOnlySpan<byte> bytes)
    {
        var expected = BinaryPrimitives.ReadUInt32LittleEndian(bytes[^ChecksumSize..]);
        var actual = Crc32.HashToUInt32(bytes[..^ChecksumSize]);
        if (expected != actual)
        {
            throw new BinlogChecksumException(
                $"The {header.Type} event ending at binlog position {header.NextPosition} fails its CRC32 check (stored 0x{expected:X8}, computed 0x{actual:X8}): the stream is corrupt and was not applied.");
        }
    }

    /// <summary>
    /// FORMAT_DESCRIPTION: binlog version(2), server version(50, NUL-padded), create timestamp(4), header length(1),
    /// post-header length per event type, then (servers that know checksums) the checksum algorithm(1) and a CRC32(4)
    /// — at a fixed place from the end, so that a reader can find the algorithm before it knows anything else.
    /// </summary>
    private FormatDescriptionEvent DecodeFormatDescription(BinlogEventHeader header, ReadOnlySpan<byte> bytes)
    {
        var body = bytes[BinlogEventHeader.Size..];
        var reader = new PayloadReader(body);
        var binlogVersion = reader.ReadUInt16();
        var serverVersion = Encoding.ASCII.GetString(reader.ReadBytes(50)).TrimEnd('\0');
        reader.Skip(4);
        var headerLength = reader.ReadByte();
        if (headerLength != BinlogEventHeader.Size)
        {
            throw new MySqlProtocolException($"The binlog's event header is {headerLength} bytes; only the v4 header of 19 bytes is supported.");
        }

        var algorithm = body[^(ChecksumSize + 1)];
        var hasCrc32 = algorithm == 1;
        if (algorithm is not (0 or 1))
        {
            throw new BinlogUnsupportedException($"The binlog uses checksum algorithm {algorithm}; only NONE and CRC32 exist.");
        }

        if (hasCrc32)
        {
            Verify(header, bytes);
        }

        _postHeaderLengths = body[FormatDescriptionFixedSize..^(ChecksumSize + 1)].ToArray();
        _checksums = hasCrc32;
        // A new FORMAT_DESCRIPTION starts a new file: its table ids mean new things.
        _tables.Clear();
        return new FormatDescriptionEvent(header, binlogVersion, serverVersion, hasCrc32);
    }

    private static RotateEvent DecodeRotate(BinlogEventHeader header, ReadOnlySpan<byte> body) =>
        new(header, Encoding.UTF8.GetString(body[8..]), BinaryPrimitives.ReadUInt64LittleEndian(body));

    /// <summary>MariaDB GTID_EVENT: sequence number(8), domain id(4), flags(1), then optional parts by flag; the server id is the header's.</summary>
    private static MariaDbGtidEvent DecodeMariaDbGtid(BinlogEventHeader header, ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        var sequence = reader.ReadUInt64();
        var domain = reader.ReadUInt32();
        var flags = reader.ReadByte();
        return new MariaDbGtidEvent(header, new MariaDbGtid(domain, header.ServerId, sequence), flags);
    }

    /// <summary>MariaDB GTID_LIST_EVENT: count(4; the top 4 bits are flags), then per GTID domain(4), server(4), sequence(8).</summary>
    private static MariaDbGtidListEvent DecodeGtidList(BinlogEventHeader header, ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        var count = reader.ReadUInt32() & 0x0FFFFFFF;
        var gtids = new List<MariaDbGtid>((int)count);
        for (var i = 0; i < count; i++)
        {
            gtids.Add(new MariaDbGtid(reader.ReadUInt32(), reader.ReadUInt32(), reader.ReadUInt64()));
        }

        return new MariaDbGtidListEvent(header, gtids);
    }

    /// <summary>MySQL GTID_LOG_EVENT: flags(1), source UUID(16, big-endian as written), transaction number(8).</summary>
    private static MySqlGtidEvent DecodeMySqlGtid(BinlogEventHeader header, ReadOnlySpan<byte> body) =>
        new(header, new Guid(body.Slice(1, 16), bigEndian: true), BinaryPrimitives.ReadInt64LittleEndian(body[17..]));

    /// <summary>
    /// QUERY_EVENT post-header: thread id(4), execution time(4), database name length(1), error code(2), status
    /// variables length(2); body: status variables, database name NUL, statement text.
    /// </summary>
    /// <remarks>QUERY_COMPRESSED (MariaDB log_bin_compress): the same, with the statement text compressed (<see cref="MariaDbCompressedPart"/>).</remarks>
    private QueryEvent DecodeQuery(BinlogEventHeader header, ReadOnlySpan<byte> body, bool compressed)
    {
        var reader = new PayloadReader(body);
        reader.Skip(8);
        var databaseLength = reader.ReadByte();
        var errorCode = reader.ReadUInt16();
        var statusLength = reader.ReadUInt16();
        reader.Position = PostHeaderLength(BinlogEventType.Query, 13) + statusLength;
        var database = reader.ReadFixedString(databaseLength);
        reader.Skip(1);
        var statement = compressed ? MariaDbCompressedPart.Decompress(reader.Rest, header) : reader.Rest;
        return new QueryEvent(header, database, Encoding.UTF8.GetString(statement), errorCode);
    }

    private int PostHeaderLength(BinlogEventType type, int fallback) =>
        (int)type - 1 < _postHeaderLengths.Length ? _postHeaderLengths[(int)type - 1] : fallback;

    /// <summary>Table ids are 6 bytes, or 4 when the format description says the post-header is 6 bytes long (old servers).</summary>
    private ulong ReadTableId(ref PayloadReader reader, BinlogEventType type) =>
        PostHeaderLength(type, 8) == 6 ? reader.ReadUInt32() : reader.ReadUInt48();

    private TableMapEvent DecodeTableMap(BinlogEventHeader header, ReadOnlySpan<byte> body)
    {
        var reader = new PayloadReader(body);
        var tableId = ReadTableId(ref reader, BinlogEventType.TableMap);
        reader.Skip(2);
        var table = TableMapDecoder.Decode(tableId, ref reader);
        _tables[tableId] = table;
        return new TableMapEvent(header, table);
    }

    /// <summary>
    /// Rows events v1 (23–25) and v2 (30–32): table id, flags(2), v2 only: extra data length(2, counting itself) and
    /// the extra data; then column count (length-encoded), the columns-present bitmap (UPDATE: one for the before and
    /// one for the after image), then row images to the end of the event — compressed in MariaDB's *_ROWS_COMPRESSED
    /// events (log_bin_compress=ON).
    /// </summary>
    private RowsEvent DecodeRows(BinlogEventHeader header, ReadOnlySpan<byte> body, RowsEventKind kind)
    {
        var reader = new PayloadReader(body);
        var tableId = ReadTableId(ref reader, header.Type);
        var flags = reader.ReadUInt16();
        if (header.Type is BinlogEventType.WriteRowsV2 or BinlogEventType.UpdateRowsV2 or BinlogEventType.DeleteRowsV2
            or BinlogEventType.WriteRowsCompressed or BinlogEventType.UpdateRowsCompressed or BinlogEventType.DeleteRowsCompressed)
        {
            var extraLength = reader.ReadUInt16();
            reader.Skip(extraLength - 2);
        }

        if (!_tables.TryGetValue(tableId, out var table))
        {
            throw new MySqlProtocolException($"A {header.Type} event refers to table id {tableId}, which no TABLE_MAP event mapped.");
        }

        var columnCount = (int)reader.ReadLengthEncoded();
        if (columnCount != table.Columns.Count)
        {
            throw new MySqlProtocolException($"A {header.Type} event for {table} has {columnCount} columns; its table map has {table.Columns.Count}.");
        }

        var bitmapSize = (columnCount + 7) / 8;
        var beforePresent = reader.ReadBytes(bitmapSize);
        var afterPresent = kind == RowsEventKind.Update ? reader.ReadBytes(bitmapSize) : beforePresent;
        // MariaDB compresses only the row images; the column count and bitmaps before them are plain.
        var images = header.Type is >= BinlogEventType.WriteRowsCompressedV1 and <= BinlogEventType.DeleteRowsCompressed
            ? MariaDbCompressedPart.Decompress(reader.Rest, header)
            : reader.Rest.ToArray();
        return new RowsEvent(header, kind, table, images, beforePresent.ToArray(), afterPresent.ToArray(), (flags & RowsEndOfStatement) != 0);
    }
}
