using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Tests.Changes;

/// <summary>
/// The size batches are cut by against what the changes really take: a batch's changes are built on this thread and the
/// bytes it allocated (all of them still held by the batch) are compared with the estimates.
/// </summary>
public sealed class ChangeSizeTests
{
    private const int Changes = 5_000;

    private static readonly TableSchema Table = new(new TableId("public", "t"), "t",
        [new ColumnSchema("id", new ColumnType(ValueKind.Int64, false, "bigint"), IsKey: true)]);

    public static TheoryData<string> Shapes => ["bench row", "narrow ints", "wide text", "bytes and stamps"];

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Of_ABatchOfChanges_IsWithinATenthOfTheHeapTheyTake(string shape)
    {
        var estimated = 0L;
        var before = GC.GetAllocatedBytesForCurrentThread();
        var batch = new List<RowChange>(Changes);
        for (var i = 0; i < Changes; i++)
        {
            var values = Values(shape, i);
            var change = new RowChange
            {
                Table = Table,
                Kind = ChangeKind.Insert,
                Values = values,
                Position = i,
                Sequence = i,
                CommittedAt = DateTimeOffset.UnixEpoch,
                ApproximateBytes = ChangeSize.Of(values),
            };
            batch.Add(change);
            estimated += change.ApproximateBytes;
        }

        var real = GC.GetAllocatedBytesForCurrentThread() - before;
        GC.KeepAlive(batch);

        Assert.True(estimated >= real * 0.9 && estimated <= real * 1.1,
            $"{shape}: estimated {estimated / (double)Changes:0} bytes a change, allocated {real / (double)Changes:0}");
    }

    private static object?[] Values(string shape, int i) => shape switch
    {
        // What bench/run pg-stream and warehouses stream: bigint, integer, md5 text, numeric(12,2), timestamptz.
        "bench row" => [(long)i, i % 100_000, new string('a', 32), i / 100m, DateTime.UnixEpoch.AddSeconds(i)],
        "narrow ints" => NarrowInts(i),
        "wide text" => [(long)i, new string('x', 2_000), new string('y', 500)],
        "bytes and stamps" => [Guid.Empty, new byte[100], DateTimeOffset.UnixEpoch, DateOnly.MinValue, true, 1.5],
        _ => throw new ArgumentOutOfRangeException(nameof(shape), shape, null),
    };

    // Thirty integer columns, a third of them NULL (a loop: LINQ would allocate beside the values).
    private static object?[] NarrowInts(int i)
    {
        var values = new object?[30];
        for (var c = 0; c < values.Length; c++)
        {
            values[c] = c % 3 == 0 ? null : c + i;
        }

        return values;
    }
}
