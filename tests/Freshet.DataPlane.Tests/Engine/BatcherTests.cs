using System.Collections.Concurrent;
using System.Threading.Channels;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Engine;
using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources;
using Microsoft.Extensions.Time.Testing;

namespace Freshet.DataPlane.Tests.Engine;

public sealed class BatcherTests
{
    private static readonly TableSchema Table = new(new TableId("public", "t"), "t",
        [new ColumnSchema("id", new ColumnType(ValueKind.Int32, false, "integer"), true)]);

    [Fact]
    public async Task Run_TransactionsUnderTheLimits_OneBatchPerLatencyTargetEndingOnACommit()
    {
        var (input, output, time, run) = Start(new DeliverySpec(MaxBatchRows: 1000, MaxBatchDelayMilliseconds: 200));
        await WriteTransactionAsync(input, position: 100, rows: 3);
        await WriteTransactionAsync(input, position: 200, rows: 2);
        await input.Writer.WriteAsync(Change(300, 1));

        await WaitUntilIdleAsync(input);
        Assert.False(output.TryRead(out _));
        time.Advance(TimeSpan.FromMilliseconds(250));

        var batch = await NextBatchAsync(output);
        Assert.Equal(5, batch.Changes.Count);
        Assert.Equal("end-200", batch.ResumePosition);
        Assert.Equal((200L, long.MaxValue), batch.AppliedThrough);
        Assert.Equal(200UL, batch.AcknowledgePosition);
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_WriterBusyWhenDue_BatchKeepsGrowingAndGoesOutWhenTheWriterIsFree()
    {
        var busy = true;
        var (input, output, time, run) = Start(new DeliverySpec(MaxBatchRows: 1000, MaxBatchDelayMilliseconds: 200), writerBusy: () => busy);
        await WriteTransactionAsync(input, position: 100, rows: 3);
        await WaitUntilIdleAsync(input);
        time.Advance(TimeSpan.FromMilliseconds(250));
        await WriteTransactionAsync(input, position: 200, rows: 2);
        await WaitUntilIdleAsync(input);
        Assert.False(output.TryRead(out _));

        busy = false;
        var batch = await NextBatchAsync(output);
        Assert.Equal(5, batch.Changes.Count);
        Assert.Equal("end-200", batch.ResumePosition);
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_WriterBusyAtTheRowLimit_BatchGrowsToTwiceTheLimitEndingOnACommit_AndIsCutAtTheLimitOnceTheWriterIsFree()
    {
        var busy = true;
        var (input, output, _, run) = Start(new DeliverySpec(MaxBatchRows: 10, MaxBatchDelayMilliseconds: 60_000), writerBusy: () => busy);
        for (var position = 100; position <= 600; position += 100)
        {
            await WriteTransactionAsync(input, position, rows: 4);
        }

        // The 20th change reaches twice the limit: the batch ends at the commit before it (16 changes, 4 transactions).
        var grown = await NextBatchAsync(output);
        Assert.Equal(16, grown.Changes.Count);
        Assert.Equal("end-400", grown.ResumePosition);
        Assert.Equal((400L, long.MaxValue), grown.AppliedThrough);
        await WaitUntilIdleAsync(input);
        Assert.False(output.TryRead(out _));

        // Writer free: the next change that reaches the limit cuts at the last commit, as a caught-up pipeline does.
        busy = false;
        await WriteTransactionAsync(input, position: 700, rows: 4);
        var normal = await NextBatchAsync(output);
        Assert.Equal(8, normal.Changes.Count);
        Assert.Equal("end-600", normal.ResumePosition);
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_TransactionLargerThanABatch_DeliveredInPartsThatKeepTheLastResumePosition()
    {
        var (input, output, _, run) = Start(new DeliverySpec(MaxBatchRows: 4, MaxBatchDelayMilliseconds: 200));
        await WriteTransactionAsync(input, position: 100, rows: 1);
        for (var sequence = 1; sequence <= 9; sequence++)
        {
            await input.Writer.WriteAsync(Change(500, sequence));
        }

        var first = await NextBatchAsync(output);
        Assert.Single(first.Changes);
        Assert.Equal("end-100", first.ResumePosition);
        var part = await NextBatchAsync(output);
        Assert.Equal(4, part.Changes.Count);
        Assert.Equal("end-100", part.ResumePosition);
        Assert.Equal((500L, 4L), part.AppliedThrough);
        Assert.Null(part.AcknowledgePosition);
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_ReplayAfterRestart_ChangesAtOrBeforeTheAppliedPointAreDropped()
    {
        var (input, output, time, run) = Start(new DeliverySpec(MaxBatchRows: 1000, MaxBatchDelayMilliseconds: 100), applied: (500, 4));
        for (var sequence = 1; sequence <= 6; sequence++)
        {
            await input.Writer.WriteAsync(Change(500, sequence));
        }

        await input.Writer.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(500, "end-500", 500, DateTimeOffset.UnixEpoch)));
        await WaitUntilIdleAsync(input);
        time.Advance(TimeSpan.FromMilliseconds(150));

        var batch = await NextBatchAsync(output);
        Assert.Equal([5L, 6L], batch.Changes.Select(c => c.Sequence));
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_SchemaChangeMidTransaction_EarlierChangesGoFirstThenTheNewShape()
    {
        var (input, output, _, run) = Start(new DeliverySpec(MaxBatchRows: 1000, MaxBatchDelayMilliseconds: 200));
        await input.Writer.WriteAsync(Change(100, 1));
        await input.Writer.WriteAsync(SourceEvent.ForSchema(Table));
        await input.Writer.WriteAsync(Change(100, 2));

        var before = await NextBatchAsync(output);
        Assert.Single(before.Changes);
        Assert.IsType<ApplySchema>(await output.ReadAsync());
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_ChangesTakenIn_CountAsReadRateBeforeAnyIsDelivered_ReplaysDoNot()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var progress = new PipelineProgress(Guid.NewGuid(), 1, time);
        var (input, output, _, run) = Start(new DeliverySpec(MaxBatchRows: 1000, MaxBatchDelayMilliseconds: 60_000), applied: (100, long.MaxValue), time: time, progress: progress);
        Assert.Equal(0, progress.Report().ReadRowsPerSecond);

        await WriteTransactionAsync(input, position: 100, rows: 5); // a replay: at the applied point
        await WriteTransactionAsync(input, position: 200, rows: 8);
        await WaitUntilIdleAsync(input);
        time.Advance(TimeSpan.FromSeconds(2));

        var report = progress.Report();
        Assert.Equal(4, report.ReadRowsPerSecond);
        Assert.True(report.ReadBytesPerSecond > 0);
        Assert.Equal(0, report.RowsPerSecond);
        Assert.False(output.TryRead(out _));
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_BlockStraddlingTheAppliedPoint_OnlyItsRowsAfterThePointGoOut()
    {
        var (input, output, time, run) = Start(new DeliverySpec(MaxBatchRows: 1000, MaxBatchDelayMilliseconds: 100), applied: (500, 4));
        await input.Writer.WriteAsync(SourceEvent.ForInserts(Block(500, firstSequence: 1, keys: [10, 11, 12])));
        await input.Writer.WriteAsync(SourceEvent.ForInserts(Block(500, firstSequence: 4, keys: [13, 14, 15, 16])));
        await input.Writer.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(500, "end-500", 500, DateTimeOffset.UnixEpoch)));
        await WaitUntilIdleAsync(input);
        time.Advance(TimeSpan.FromMilliseconds(150));

        var batch = await NextBatchAsync(output);
        var block = Assert.Single(batch.Items!).Block!;
        Assert.Equal((3, 5L, 7L), (block.Count, block.FirstSequence, block.LastSequence));
        Assert.Equal(3, batch.RowCount);
        Assert.Equal([(14, 5L), (15, 6L), (16, 7L)], batch.Changes.Select(c => ((int)c.Values[0]!, c.Sequence)));
        input.Writer.Complete();
        await run;
    }

    [Fact]
    public async Task Run_BlocksWithinBytesOnly_WriterBusy_RowLimitDoesNotCutThem_ButTheByteLimitDoes()
    {
        var (input, output, _, run) = Start(
            new DeliverySpec(MaxBatchRows: 4, MaxBatchBytes: 1_000_000, MaxBatchDelayMilliseconds: 60_000), writerBusy: () => true, blocksWithinBytesOnly: true);
        for (var position = 100; position <= 300; position += 100)
        {
            await input.Writer.WriteAsync(SourceEvent.ForInserts(Block(position, firstSequence: 1, keys: [.. Enumerable.Range(position, 10)])));
            await input.Writer.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(position, $"end-{position}", (ulong)position, DateTimeOffset.UnixEpoch)));
        }

        await WaitUntilIdleAsync(input);
        Assert.False(output.TryRead(out _));

        // A block whose bytes reach the limit cuts the batch at the last commit before it.
        var big = Block(400, firstSequence: 1, keys: [.. Enumerable.Range(0, 150_000)]);
        Assert.True(big.ApproximateBytes >= 1_000_000);
        await input.Writer.WriteAsync(SourceEvent.ForInserts(big));
        var batch = await NextBatchAsync(output);
        Assert.Equal(30, batch.RowCount);
        Assert.Equal("end-300", batch.ResumePosition);
        input.Writer.Complete();
        await run;
    }

    [Theory]
    [InlineData(false)] // a destination that materializes blocks: their rows count as changes
    [InlineData(true)] // one that writes them whole, with its writer idle
    public async Task Run_Blocks_RowLimitCutsAsForChanges_UnlessWithinBytesOnlyAndTheWriterIsBusy(bool blocksWithinBytesOnly)
    {
        var (input, output, _, run) = Start(
            new DeliverySpec(MaxBatchRows: 15, MaxBatchBytes: 1_000_000, MaxBatchDelayMilliseconds: 60_000), writerBusy: () => false, blocksWithinBytesOnly: blocksWithinBytesOnly);
        await input.Writer.WriteAsync(SourceEvent.ForInserts(Block(100, firstSequence: 1, keys: [.. Enumerable.Range(0, 10)])));
        await input.Writer.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(100, "end-100", 100, DateTimeOffset.UnixEpoch)));
        await input.Writer.WriteAsync(SourceEvent.ForInserts(Block(200, firstSequence: 1, keys: [.. Enumerable.Range(10, 10)])));

        var batch = await NextBatchAsync(output);
        Assert.Equal(10, batch.RowCount);
        Assert.Equal("end-100", batch.ResumePosition);
        input.Writer.Complete();
        await run;
    }

    private static InsertBlock Block(long position, long firstSequence, int[] keys)
    {
        var block = new InsertBlock(Table, [BlockValueKind.Int32], position, firstSequence, DateTimeOffset.UnixEpoch, capacity: keys.Length);
        foreach (var key in keys)
        {
            block.SetInteger(0, key);
            block.AddRow();
        }

        return block;
    }

    private static (Channel<SourceEvent> Input, ChannelReader<WriterItem> Output, FakeTimeProvider Time, Task Run) Start(
        DeliverySpec delivery, (long, long) applied = default, Func<bool>? writerBusy = null, FakeTimeProvider? time = null, PipelineProgress? progress = null,
        bool blocksWithinBytesOnly = false)
    {
        time ??= new FakeTimeProvider(DateTimeOffset.UnixEpoch);
        var input = Channel.CreateUnbounded<SourceEvent>();
        var output = Channel.CreateUnbounded<WriterItem>();
        var batcher = new Batcher(delivery, applied, "start", new ConcurrentDictionary<TableId, string>(), progress ?? new PipelineProgress(Guid.NewGuid(), 1, time), time, writerBusy, blocksWithinBytesOnly);
        var run = Task.Run(() => batcher.RunAsync(input.Reader, output.Writer, CancellationToken.None));
        return (input, output.Reader, time, run);
    }

    private static async Task WriteTransactionAsync(Channel<SourceEvent> channel, long position, int rows)
    {
        for (var sequence = 1; sequence <= rows; sequence++)
        {
            await channel.Writer.WriteAsync(Change(position, sequence));
        }

        await channel.Writer.WriteAsync(SourceEvent.ForCommit(new TransactionCommit(position, $"end-{position}", (ulong)position, DateTimeOffset.UnixEpoch)));
    }

    private static SourceEvent Change(long position, long sequence) => SourceEvent.ForChange(new RowChange
    {
        Table = Table,
        Kind = ChangeKind.Insert,
        Values = [(int)sequence],
        Position = position,
        Sequence = sequence,
        CommittedAt = DateTimeOffset.UnixEpoch,
        ApproximateBytes = 10,
    });

    private static async Task<ChangeBatch> NextBatchAsync(ChannelReader<WriterItem> output)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        return Assert.IsType<ApplyBatch>(await output.ReadAsync(timeout.Token)).Batch;
    }

    /// <summary>
    /// Lets the batcher take in everything written before the fake clock moves: it stamps a batch's start with the clock
    /// when it reads the first change, so a change read after the clock moved would make the batch due later than the
    /// test means. A fixed pause was not always enough on a loaded machine.
    /// </summary>
    private static async Task WaitUntilIdleAsync(Channel<SourceEvent> input)
    {
        while (input.Reader.Count > 0)
        {
            await Task.Delay(5);
        }

        // The last event read is handled right after it leaves the channel, without waiting on anything.
        await Task.Delay(50);
    }
}
