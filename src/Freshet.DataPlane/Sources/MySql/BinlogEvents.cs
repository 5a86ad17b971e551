namespace Freshet.DataPlane.Sources.MySql;

/// <summary>Binlog event type codes (MySQL <c>Log_event_type</c>, MariaDB's additions from 160).</summary>
internal enum BinlogEventType : byte
{
    Unknown = 0,
    Query = 2,
    Stop = 3,
    Rotate = 4,
    IntVar = 5,
    Rand = 13,
    UserVar = 14,
    FormatDescription = 15,
    Xid = 16,
    TableMap = 19,
    WriteRowsV1 = 23,
    UpdateRowsV1 = 24,
    DeleteRowsV1 = 25,
    Heartbeat = 27,
    RowsQuery = 29,
    WriteRowsV2 = 30,
    UpdateRowsV2 = 31,
    DeleteRowsV2 = 32,
    MySqlGtid = 33,
    MySqlAnonymousGtid = 34,
    MySqlPreviousGtids = 35,
    PartialUpdateRows = 39,
    TransactionPayload = 40,
    HeartbeatV2 = 41,
    AnnotateRows = 160,
    BinlogCheckpoint = 161,
    MariaDbGtid = 162,
    MariaDbGtidList = 163,
    StartEncryption = 164,
    QueryCompressed = 165,
    WriteRowsCompressedV1 = 166,
    UpdateRowsCompressedV1 = 167,
    DeleteRowsCompressedV1 = 168,
    WriteRowsCompressed = 169,
    UpdateRowsCompressed = 170,
    DeleteRowsCompressed = 171,
}

/// <summary>
/// The v4 event header (19 bytes): timestamp(4), type(1), server_id(4), event_size(4), log_pos(4) — the position of
/// the next event in the file — and flags(2).
/// </summary>
internal readonly record struct BinlogEventHeader(uint Timestamp, BinlogEventType Type, uint ServerId, uint EventSize, uint NextPosition, ushort Flags)
{
    public const int Size = 19;

    /// <summary>LOG_EVENT_ARTIFICIAL_F: made up by the dump thread (the ROTATE that opens a dump), not in the file.</summary>
    public bool IsArtificial => (Flags & 0x20) != 0;

    public DateTimeOffset When => DateTimeOffset.FromUnixTimeSeconds(Timestamp);
}

/// <summary>A decoded binlog event; values are copied out of the packet buffer.</summary>
internal abstract record BinlogEvent(BinlogEventHeader Header);

/// <summary>Opens every binlog file (and every dump): the server version, the header layout and the checksum algorithm.</summary>
internal sealed record FormatDescriptionEvent(BinlogEventHeader Header, ushort BinlogVersion, string ServerVersion, bool HasCrc32) : BinlogEvent(Header);

/// <summary>The log continues in <paramref name="NextFile"/> at <paramref name="Position"/>.</summary>
internal sealed record RotateEvent(BinlogEventHeader Header, string NextFile, ulong Position) : BinlogEvent(Header);

/// <summary>MariaDB's start of an event group (a transaction, or one standalone statement such as DDL).</summary>
internal sealed record MariaDbGtidEvent(BinlogEventHeader Header, MariaDbGtid Gtid, byte GtidFlags) : BinlogEvent(Header)
{
    /// <summary>FL_STANDALONE: no XID or COMMIT follows; the group is the next event alone (DDL).</summary>
    public bool IsStandalone => (GtidFlags & 0x01) != 0;

    /// <summary>FL_DDL.</summary>
    public bool IsDdl => (GtidFlags & 0x20) != 0;
}

/// <summary>MariaDB: the last GTID of every replication domain before this point of the log.</summary>
internal sealed record MariaDbGtidListEvent(BinlogEventHeader Header, IReadOnlyList<MariaDbGtid> Gtids) : BinlogEvent(Header);

/// <summary>MySQL: the GTID (source UUID, transaction number) of the transaction that follows.</summary>
internal sealed record MySqlGtidEvent(BinlogEventHeader Header, Guid SourceId, long TransactionNumber) : BinlogEvent(Header);

/// <summary>A statement: DDL, or BEGIN/COMMIT around non-transactional changes.</summary>
internal sealed record QueryEvent(BinlogEventHeader Header, string Database, string Sql, ushort ErrorCode) : BinlogEvent(Header);

/// <summary>Maps a table id to a table's name and column layout for the rows events that follow.</summary>
internal sealed record TableMapEvent(BinlogEventHeader Header, BinlogTable Table) : BinlogEvent(Header);

internal enum RowsEventKind
{
    Write,
    Update,
    Delete,
}

/// <summary>One row of a rows event: Write has only <see cref="After"/>, Delete only <see cref="Before"/>, Update both.</summary>
/// <remarks>
/// Values are in the data plane's representations (see <see cref="BinlogColumn.ToColumnType"/>), one per table column;
/// a column the row image left out (binlog_row_image other than FULL) holds <see cref="Changes.UnchangedValue.Instance"/>.
/// A struct: one of these per row, and the stream path decodes hundreds of thousands a second.
/// </remarks>
internal readonly record struct RowImage(object?[]? Before, object?[]? After);

/// <summary>
/// A WRITE/UPDATE/DELETE rows event: its row images, kept as the event's bytes (<see cref="Images"/>, decompressed) and
/// decoded on first use of <see cref="Rows"/>, so that a reader can decode them another way instead (inserts straight
/// into an <see cref="Changes.InsertBlock"/>) or not at all (a table the pipeline does not replicate).
/// </summary>
/// <param name="Header">The event header.</param>
/// <param name="Kind">Insert, update or delete.</param>
/// <param name="Table">The table map the event refers to.</param>
/// <param name="Images">The row images, back to back.</param>
/// <param name="BeforePresent">The columns-present bitmap of the before image (and of a write's only image).</param>
/// <param name="AfterPresent">The after image's (an update's second bitmap; the same as the first otherwise).</param>
/// <param name="EndOfStatement">STMT_END_F.</param>
internal sealed record RowsEvent(
    BinlogEventHeader Header, RowsEventKind Kind, BinlogTable Table, byte[] Images, byte[] BeforePresent, byte[] AfterPresent, bool EndOfStatement)
    : BinlogEvent(Header)
{
    private IReadOnlyList<RowImage>? _rows;

    /// <summary>The row images as values (see <see cref="RowImage"/>), decoded on first use.</summary>
    public IReadOnlyList<RowImage> Rows => _rows ??= ReadImages();

    private List<RowImage> ReadImages()
    {
        var reader = new PayloadReader(Images);
        var rows = new List<RowImage>();
        while (reader.Remaining > 0)
        {
            rows.Add(Kind switch
            {
                RowsEventKind.Write => new RowImage(null, BinlogValueReader.ReadImage(ref reader, Table, AfterPresent)),
                RowsEventKind.Delete => new RowImage(BinlogValueReader.ReadImage(ref reader, Table, BeforePresent), null),
                _ => new RowImage(BinlogValueReader.ReadImage(ref reader, Table, BeforePresent), BinlogValueReader.ReadImage(ref reader, Table, AfterPresent)),
            });
        }

        return rows;
    }
}

/// <summary>MySQL's compressed transaction: its events (GTID excluded, it precedes the payload), decoded in order.</summary>
internal sealed record TransactionPayloadEvent(BinlogEventHeader Header, IReadOnlyList<BinlogEvent> Events) : BinlogEvent(Header);

/// <summary>Commit of a transactional event group.</summary>
internal sealed record XidEvent(BinlogEventHeader Header, ulong Xid) : BinlogEvent(Header);

/// <summary>The server is alive and idle; <see cref="BinlogEventHeader.NextPosition"/> is its position in <paramref name="LogFile"/>.</summary>
internal sealed record HeartbeatEvent(BinlogEventHeader Header, string LogFile) : BinlogEvent(Header);

/// <summary>An event this reader has no use for (INTVAR, ANNOTATE_ROWS, BINLOG_CHECKPOINT, …); its checksum was still verified.</summary>
internal sealed record SkippedEvent(BinlogEventHeader Header) : BinlogEvent(Header);
