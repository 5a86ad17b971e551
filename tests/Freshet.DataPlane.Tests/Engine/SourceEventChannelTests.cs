using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;

namespace Freshet.DataPlane.Tests.Engine;

public sealed class SourceEventChannelTests
{
    private static readonly TableSchema Table = new(new TableId("public", "t"), "t",
        [new ColumnSchema("id", new ColumnType(ValueKind.Int64, false, "bigint"), true)]);

    [Fact]
    public async Task WriteAsync_BlocksOverTheByteBudget_WaitUntilTheReaderTakesThem()
    {
        var first = Block(1000);
        var channel = new SourceEventChannel(capacity: 100, blockBytes: first.ApproximateBytes + 10);
        await channel.Writer.WriteAsync(SourceEvent.ForInserts(first));

        // A commit is no block: it passes; a second block would take the queue over its budget: it waits.
        await channel.Writer.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(1, "r", 1, DateTimeOffset.UnixEpoch)));
        var second = channel.Writer.WriteAsync(SourceEvent.ForInserts(Block(1000))).AsTask();
        await Task.Delay(200);
        Assert.False(second.IsCompleted);

        Assert.True(channel.Reader.TryRead(out var read));
        Assert.Same(first, read.Block);
        await second.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.Equal(2, channel.Reader.Count);
    }

    [Fact]
    public async Task WriteAsync_OneBlockLargerThanTheBudget_PassesWhenNoOtherIsQueued()
    {
        var channel = new SourceEventChannel(capacity: 100, blockBytes: 100);
        await channel.Writer.WriteAsync(SourceEvent.ForInserts(Block(1000))).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(channel.Writer.TryWrite(SourceEvent.ForInserts(Block(10))));
        Assert.True(channel.Reader.TryRead(out _));
        Assert.True(channel.Writer.TryWrite(SourceEvent.ForInserts(Block(10))));
    }

    private static InsertBlock Block(int rows)
    {
        var block = new InsertBlock(Table, [BlockValueKind.Int64], 1, 1, DateTimeOffset.UnixEpoch, rows);
        for (var i = 0; i < rows; i++)
        {
            block.SetInteger(0, i);
            block.AddRow();
        }

        return block;
    }
}
