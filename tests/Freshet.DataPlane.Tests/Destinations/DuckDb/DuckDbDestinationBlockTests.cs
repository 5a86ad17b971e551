using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using static Freshet.DataPlane.Tests.Destinations.DuckDb.Make;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

/// <summary>
/// Batches of <see cref="InsertBlock"/>s against the same batches as their materialized changes: the block path (new
/// ascending keys, appended column by column), its fallbacks (a key already in the target; another change of the table
/// in the batch; keys out of order) and the row path must leave identical tables.
/// </summary>
public sealed class DuckDbDestinationBlockTests
{
    private static readonly TableSchema Wide = Table(
        "wide",
        Key("id", ValueKind.Int64),
        Column("small", ValueKind.Int16),
        Column("medium", ValueKind.Int32),
        Column("amount", ValueKind.Decimal, precision: 12, scale: 2),
        Column("ratio", ValueKind.Float32),
        Column("score", ValueKind.Float64),
        Column("name", ValueKind.Text),
        Column("born", ValueKind.Date),
        Column("seen", ValueKind.Timestamp),
        Column("at", ValueKind.TimestampTz),
        Column("gone", ValueKind.Text));

    private static readonly BlockValueKind[] WideKinds =
    [
        BlockValueKind.Int64, BlockValueKind.Int16, BlockValueKind.Int32, BlockValueKind.Decimal, BlockValueKind.Float32, BlockValueKind.Float64,
        BlockValueKind.Text, BlockValueKind.Date, BlockValueKind.DateTime, BlockValueKind.DateTimeUtc, BlockValueKind.Missing,
    ];

    /// <summary>The kinds a MySQL binlog adds: bytes (BLOB), BIT(1) (BOOLEAN), TIME (INTERVAL), ENUM and JSON (text).</summary>
    private static readonly TableSchema Varied = Table(
        "varied",
        Key("id", ValueKind.Int32),
        Column("bin", ValueKind.Bytes),
        Column("flag", ValueKind.Boolean),
        Column("span", ValueKind.Interval),
        Column("mood", ValueKind.Enum),
        Column("doc", ValueKind.Json));

    private static readonly BlockValueKind[] VariedKinds =
    [
        BlockValueKind.Int32, BlockValueKind.Bytes, BlockValueKind.Boolean, BlockValueKind.Microseconds, BlockValueKind.Text, BlockValueKind.Text,
    ];

    /// <summary>Blobs and intervals as text, so that rows compare by value.</summary>
    private const string VariedQuery = "SELECT * REPLACE (hex(bin) AS bin, CAST(span AS VARCHAR) AS span) FROM main.varied ORDER BY id";

    [Theory]
    [InlineData(DeleteMode.Hard)]
    [InlineData(DeleteMode.Soft)]
    public async Task ApplyAsync_BlocksOfBytesBooleansIntervalsAndText_SameTableAsTheirChanges(DeleteMode deleteMode)
    {
        var batch = BlockBatch(VariedBlock(10, 1, [1, 2, 3, 4]), VariedBlock(11, 1, [5, 6, 7]));

        var (blocks, changes) = await ApplyBothWaysAsync(deleteMode, [], batch, Varied, VariedQuery);

        Assert.Equal(7, blocks.Count);
        Assert.Equal(changes, blocks);
        Assert.Equal(["", null, "00FF", "00FF0000"], blocks.Take(4).Select(r => r[1]));
        Assert.Equal(["-838:59:59", null, "00:00:00.000001", "838:59:59.999999"], blocks.Take(4).Select(r => r[3]));
    }

    [Fact]
    public async Task ApplyAsync_BlocksOfBytesBooleansIntervalsAndText_WithAKeyAlreadyInTheTarget_FallBackAndMatchTheRowPath()
    {
        var earlier = BlockBatch(VariedBlock(5, 1, [2, 30]));
        var batch = BlockBatch(VariedBlock(10, 1, [1, 2, 3]), VariedBlock(10, 4, [4]));

        var (blocks, changes) = await ApplyBothWaysAsync(DeleteMode.Hard, [earlier], batch, Varied, VariedQuery);

        Assert.Equal(5, blocks.Count);
        Assert.Equal(changes, blocks);
    }

    [Theory]
    [InlineData(DeleteMode.Hard)]
    [InlineData(DeleteMode.Soft)]
    public async Task ApplyAsync_BlocksOfNewAscendingKeys_SameTableAsTheirChanges(DeleteMode deleteMode)
    {
        var batch = BlockBatch(Block(10, 1, [1, 2, 3]), Block(10, 4, [7, 8]), Block(11, 1, [20]));

        var (blocks, changes) = await ApplyBothWaysAsync(deleteMode, [], batch);

        Assert.Equal(6, blocks.Count);
        Assert.Equal(changes, blocks);
    }

    [Fact]
    public async Task ApplyAsync_BlockWithAKeyAlreadyInTheTarget_FallsBackAndMatchesTheRowPath()
    {
        var earlier = BlockBatch(Block(5, 1, [2, 30]));
        var batch = BlockBatch(Block(10, 1, [1, 2, 3]), Block(10, 4, [4]));

        var (blocks, changes) = await ApplyBothWaysAsync(DeleteMode.Hard, [earlier], batch);

        Assert.Equal(5, blocks.Count);
        Assert.Equal(changes, blocks);
    }

    [Fact]
    public async Task ApplyAsync_BlocksWhoseKeysDoNotRise_MatchTheRowPath()
    {
        var within = BlockBatch(Block(10, 1, [5, 4]), Block(10, 3, [6]));
        var across = BlockBatch(Block(11, 1, [1, 9]), Block(11, 3, [7]));

        var (blocks, changes) = await ApplyBothWaysAsync(DeleteMode.Hard, [within], across);

        Assert.Equal(6, blocks.Count);
        Assert.Equal(changes, blocks);
    }

    [Fact]
    public async Task ApplyAsync_BlocksBesideAnUpdateOfTheirTable_OrKeysOutOfOrder_MatchTheRowPath()
    {
        var update = Update(Wide, 12, 1, 2L, (short)-1, -1, -1.5m, 0.5f, -0.25, "changed", new DateOnly(2000, 1, 1),
            new DateTime(2001, 1, 1), new DateTime(2002, 1, 1, 0, 0, 0, DateTimeKind.Utc), null);
        var mixed = new ChangeBatch
        {
            Items = [BatchItem.Of(Block(11, 1, [1, 2, 3])), BatchItem.Of(update), BatchItem.Of(Block(13, 1, [5, 4]))],
            ResumePosition = "resume-13",
            AppliedThrough = (13, 2),
        };

        var (blocks, changes) = await ApplyBothWaysAsync(DeleteMode.Hard, [], mixed);

        Assert.Equal(5, blocks.Count);
        Assert.Equal(changes, blocks);
        Assert.Equal("changed", blocks.Single(r => (long)r[0]! == 2)[6]);
    }

    /// <summary>Applies the batches as blocks to one file and as their materialized changes to another; both tables' rows.</summary>
    private static async Task<(List<object?[]> Blocks, List<object?[]> Changes)> ApplyBothWaysAsync(
        DeleteMode deleteMode, ChangeBatch[] before, ChangeBatch batch, TableSchema? table = null, string query = "SELECT * FROM main.wide ORDER BY id")
    {
        table ??= Wide;
        using var blockFile = new TempDuckDbFile();
        using var changeFile = new TempDuckDbFile();
        await using (var destination = await blockFile.ReadyAsync(deleteMode, table))
        {
            foreach (var earlier in before.Append(batch))
            {
                await destination.ApplyAsync(earlier, CancellationToken.None);
            }
        }

        await using (var destination = await changeFile.ReadyAsync(deleteMode, table))
        {
            foreach (var earlier in before.Append(batch))
            {
                await destination.ApplyAsync(AsChanges(earlier), CancellationToken.None);
            }
        }

        return (await blockFile.QueryAsync(query), await changeFile.QueryAsync(query));
    }

    private static ChangeBatch AsChanges(ChangeBatch batch) => new()
    {
        Changes = [.. batch.Changes],
        ResumePosition = batch.ResumePosition,
        AppliedThrough = batch.AppliedThrough,
    };

    private static ChangeBatch BlockBatch(params InsertBlock[] blocks) => new()
    {
        Items = [.. blocks.Select(BatchItem.Of)],
        ResumePosition = $"resume-{blocks[^1].Position}",
        AppliedThrough = (blocks[^1].Position, blocks[^1].LastSequence),
    };

    /// <summary>A block of rows with the given keys, every kind of value, a NULL in every column of every third row.</summary>
    private static InsertBlock Block(long position, long firstSequence, long[] keys)
    {
        var block = new InsertBlock(Wide, WideKinds, position, firstSequence, CommittedAt(position), capacity: 2);
        foreach (var key in keys)
        {
            block.SetInteger(0, key);
            if (key % 3 == 0)
            {
                for (var c = 1; c < WideKinds.Length - 1; c++)
                {
                    block.SetNull(c);
                }
            }
            else
            {
                block.SetInteger(1, key % 2 == 0 ? short.MinValue : short.MaxValue);
                block.SetInteger(2, -key * 1000);
                block.SetDecimal(3, key % 2 == 0 ? -9999999999.99m : key + 0.5m);
                block.SetFloat(4, 1.5f * key);
                block.SetFloat(5, key % 2 == 0 ? double.MaxValue : -1e-300);
                block.SetUtf8(6, key % 2 == 0 ? ""u8 : "héllo 😀"u8);
                block.SetInteger(7, new DateOnly(1000 + (int)key, 12, 31).DayNumber);
                block.SetInteger(8, new DateTime(1969, 12, 31, 23, 59, 59).AddTicks(10 * key).Ticks);
                block.SetInteger(9, new DateTime(2038, 1, 19, 3, 14, 7, DateTimeKind.Utc).AddTicks(9_999_990).Ticks);
            }

            block.AddRow();
        }

        return block;
    }

    /// <summary>
    /// A block of <see cref="Varied"/> rows, by key mod 4: empty values and TIME's least; NULLs; small values; the
    /// greatest (TIME's greatest with a fraction, padded bytes, text longer than 255 bytes).
    /// </summary>
    private static InsertBlock VariedBlock(long position, long firstSequence, long[] keys)
    {
        var block = new InsertBlock(Varied, VariedKinds, position, firstSequence, CommittedAt(position), capacity: 2);
        foreach (var key in keys)
        {
            block.SetInteger(0, key);
            switch (key % 4)
            {
                case 1:
                    block.SetBytes(1, []);
                    block.SetInteger(2, 0);
                    block.SetInteger(3, -((838L * 3600) + (59 * 60) + 59) * 1_000_000);
                    block.SetUtf8(4, ""u8);
                    block.SetUtf8(5, "[]"u8);
                    break;
                case 2:
                    for (var c = 1; c < VariedKinds.Length; c++)
                    {
                        block.SetNull(c);
                    }

                    break;
                case 3:
                    block.SetBytes(1, [0x00, 0xFF]);
                    block.SetInteger(2, 1);
                    block.SetInteger(3, 1);
                    block.SetUtf8(4, "paid"u8);
                    block.SetUtf8(5, "{\"a\": \"ü\"}"u8);
                    break;
                default:
                    // A BINARY(4) value stored as 00 FF: padded with zeros.
                    block.SetBytes(1, [0x00, 0xFF], zeros: 2);
                    block.SetInteger(2, 1);
                    block.SetInteger(3, (((838L * 3600) + (59 * 60) + 59) * 1_000_000) + 999_999);
                    block.SetUtf8(4, "été"u8);
                    block.SetUtf8(5, System.Text.Encoding.UTF8.GetBytes($"[\"{new string('x', 300)}\"]"));
                    break;
            }

            block.AddRow();
        }

        return block;
    }
}
