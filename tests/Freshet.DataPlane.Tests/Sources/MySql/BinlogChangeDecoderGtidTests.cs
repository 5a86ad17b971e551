using System.Threading.Channels;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;
using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// The resume position the decoder hands on with each commit carries the GTIDs the server will resume after. MySQL's
/// GTID events are checked here from decoded events only: no MySQL server runs on these machines (MariaDB's are end to end).
/// </summary>
public sealed class BinlogChangeDecoderGtidTests
{
    private static readonly Guid Source = Guid.Parse("3e11fa47-71ca-11e1-9e33-c80aa9429562");
    private static readonly Guid Other = Guid.Parse("4f22ab58-82db-22f2-af44-d91bb0530673");

    [Fact]
    public async Task MySqlGtidSet_GrowsWithEachCommittedTransaction_AndAnonymousGroupsLeaveItAlone()
    {
        var binlog = new Binlog($"gtid={Source}:1-7;file=binlog.000002;pos=400", 400);

        await binlog.GroupAsync(BinlogEventType.MySqlGtid, Source, 8);
        await binlog.GroupAsync(BinlogEventType.MySqlGtid, Other, 3);
        await binlog.GroupAsync(BinlogEventType.MySqlAnonymousGtid, Guid.Empty, 0);

        var positions = binlog.Commits().Select(c => BinlogPosition.Parse(c.ResumePosition)).ToList();
        Assert.Equal(
            [$"{Source}:1-8", $"{Source}:1-8,{Other}:3", $"{Source}:1-8,{Other}:3"],
            positions.Select(p => p.GtidState));
        Assert.All(positions, p => Assert.Equal("binlog.000002", p.File));
        Assert.Equal(binlog.Offset, positions[^1].Offset);
        Assert.Equal(binlog.Decoder.Position, positions[^1]);
    }

    [Fact]
    public async Task EmptyStart_OnMySql_KeepsTheFileAndOffsetOnly()
    {
        // A set built from the GTIDs seen since an empty start would lack the server's history: the server would send it again.
        var binlog = new Binlog("gtid=;file=binlog.000001;pos=4", 4);

        await binlog.GroupAsync(BinlogEventType.MySqlGtid, Source, 42);

        var position = BinlogPosition.Parse(Assert.Single(binlog.Commits()).ResumePosition);
        Assert.Equal(("", "binlog.000001", binlog.Offset), (position.GtidState, position.File, position.Offset));
    }

    /// <summary>A decoder fed transactions as MySQL writes them: a GTID event, BEGIN, then XID (no rows of a selected table).</summary>
    private sealed class Binlog(string start, uint offset)
    {
        private readonly Channel<SourceEvent> _output = Channel.CreateUnbounded<SourceEvent>();
        private BinlogChangeDecoder? _decoder;

        public BinlogChangeDecoder Decoder => _decoder ??= new BinlogChangeDecoder(
            new Dictionary<TableId, TableSchema>(), [], BinlogPosition.Parse(start), _output.Writer);

        /// <summary>Where the last event ended.</summary>
        public uint Offset { get; private set; } = offset;

        public async Task GroupAsync(BinlogEventType gtidType, Guid source, long number)
        {
            await Decoder.HandleAsync(new MySqlGtidEvent(Next(gtidType), source, number), CancellationToken.None);
            await Decoder.HandleAsync(new QueryEvent(Next(BinlogEventType.Query), "shop", "BEGIN", 0), CancellationToken.None);
            await Decoder.HandleAsync(new XidEvent(Next(BinlogEventType.Xid), 1), CancellationToken.None);
        }

        public List<TransactionCommit> Commits()
        {
            var commits = new List<TransactionCommit>();
            while (_output.Reader.TryRead(out var item))
            {
                if (item.Commit is { } commit)
                {
                    commits.Add(commit);
                }
            }

            return commits;
        }

        private BinlogEventHeader Next(BinlogEventType type)
        {
            const uint size = 50;
            Offset += size;
            return new BinlogEventHeader(1_700_000_000, type, 1, size, Offset, 0);
        }
    }
}
