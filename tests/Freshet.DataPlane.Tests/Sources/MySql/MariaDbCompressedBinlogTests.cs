using Freshet.DataPlane.Sources.MySql;
using Freshet.Testing;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// A real MariaDB with log_bin_compress=ON (events of 10 bytes or more compressed): the server writes QUERY_COMPRESSED
/// and *_ROWS_COMPRESSED_V1 events, and the reader decodes them as their plain forms.
/// </summary>
public sealed class MariaDbCompressedBinlogTests
{
    private static readonly MariaDbServerOptions Compressed = new(CompressBinlog: true);

    [Fact]
    public async Task Stream_CompressedQueryAndRowsEvents_DecodedLikePlainOnes()
    {
        var source = await MariaDbSource.CreateAsync("zlib", Compressed);
        var (file, position) = await source.HeadAsync();
        var longText = string.Concat(Enumerable.Repeat("zlib compresses repeats well ✓ ", 400));
        await source.ExecuteAsync(
            "CREATE TABLE t (id INT PRIMARY KEY, note TEXT, amount DECIMAL(10,2), at DATETIME(3))",
            $"INSERT INTO t VALUES (1, '{longText}', 12.50, '2026-12-05 06:00:00.125'), (2, NULL, -1.00, NULL)",
            "UPDATE t SET note = 'short', amount = amount + 1 WHERE id = 1",
            "DELETE FROM t WHERE id = 2");

        // What the server really wrote: compressed types, not plain ones, for this database's events.
        var types = await RawEventTypesAsync(source, file, position);
        Assert.Contains(BinlogEventType.QueryCompressed, types);
        Assert.Contains(BinlogEventType.WriteRowsCompressedV1, types);
        Assert.Contains(BinlogEventType.UpdateRowsCompressedV1, types);
        Assert.Contains(BinlogEventType.DeleteRowsCompressedV1, types);
        Assert.DoesNotContain(BinlogEventType.WriteRowsV1, types);

        var events = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: file, Position: position));

        var create = events.OfType<QueryEvent>().Single(q => q.Database == source.Database && q.Sql.StartsWith("CREATE TABLE", StringComparison.Ordinal));
        Assert.Equal("CREATE TABLE t (id INT PRIMARY KEY, note TEXT, amount DECIMAL(10,2), at DATETIME(3))", create.Sql);
        // The long row makes the server split the INSERT into two rows events (binlog_row_event_max_size).
        var rowsEvents = source.OwnRows(events).ToList();
        Assert.Equal([RowsEventKind.Write, RowsEventKind.Update, RowsEventKind.Delete], rowsEvents.Select(r => r.Kind).Distinct());
        var inserted = rowsEvents.Where(e => e.Kind == RowsEventKind.Write).SelectMany(e => e.Rows).ToList();
        var updated = Assert.Single(rowsEvents.Where(e => e.Kind == RowsEventKind.Update).SelectMany(e => e.Rows));
        var deleted = Assert.Single(rowsEvents.Where(e => e.Kind == RowsEventKind.Delete).SelectMany(e => e.Rows));
        Assert.Equal([1, longText, 12.50m, new DateTime(2026, 12, 5, 6, 0, 0, 125, DateTimeKind.Unspecified)], inserted[0].After!);
        Assert.Equal([2, null, -1.00m, null], inserted[1].After!);
        Assert.Equal(longText, updated.Before![1]);
        Assert.Equal(["short", 13.50m], updated.After![1..3]);
        Assert.Equal(2, deleted.Before![0]);
    }

    private static async Task<List<BinlogEventType>> RawEventTypesAsync(MariaDbSource source, string file, uint position)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var options = new BinlogStreamOptions(MariaDbSource.NewServerId(), File: file, Position: position, NonBlocking: true);
        await using var stream = await BinlogStream.OpenAsync(source.Endpoint, options, timeout.Token);
        var types = new List<BinlogEventType>();
        while (await stream.ReadRawAsync(timeout.Token) is { IsEmpty: false } raw)
        {
            types.Add((BinlogEventType)raw.Span[4]);
        }

        return types;
    }
}
