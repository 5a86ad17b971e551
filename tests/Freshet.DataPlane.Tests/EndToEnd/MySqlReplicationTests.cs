using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Tests.Support;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// A MariaDB source end to end with a real worker process: a snapshot while the source is written, then the
/// binlog streamed (inserts, updates, key changes, deletes, rollbacks, two tables, one with a composite key); at the
/// end the destination (DuckDB or PostgreSQL) equals the source value by value. Restarts — SIGKILLs while
/// snapshotting and streaming — resume from the destination's checkpoint without losing or repeating a change.
/// </summary>
public sealed class MySqlReplicationTests
{
    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task MariaDb_RandomWorkload_SnapshotDuringWritesThenStream_DestinationEqualsSource(Target target)
    {
        await using var shop = await MariaDbShop.CreateAsync("e2e_my", target: target);
        await shop.LoadAsync(items: 3000, lines: 2000, seed: 42);
        var spec = await shop.WriteSpecAsync(shop.Spec(new DeliverySpec(MaxBatchDelayMilliseconds: 100, SnapshotChunkRows: 400)));

        // Writes run from before the worker starts until it streams, then go on for a while.
        using var stop = new CancellationTokenSource();
        var workload = Task.Run(() => shop.RunUntilAsync(seed: 43, stop.Token));
        await using var worker = WorkerProcess.Start(spec);
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        await Task.Delay(3000);
        await stop.CancelAsync();
        var committed = await workload;
        var differences = await shop.WaitForEqualAsync(TimeSpan.FromSeconds(90));

        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(10));
        var items = report.Tables[$"{shop.Source.Database}.items"];
        Assert.True(items.SnapshotChunksTotal > 1 && items.SnapshotChunksDone == items.SnapshotChunksTotal, $"items: {items.SnapshotChunksDone}/{items.SnapshotChunksTotal} chunks");
        Assert.True(committed > 300, $"only {committed} transactions committed");
        Assert.True(items.Inserted + items.Updated + items.Deleted > 0, "no change was streamed, so the binlog path went untested");
    }

    /// <summary>
    /// The same pipeline against a MariaDB whose connection or binlog differs from the shared server's:
    /// <c>tls</c> requires TLS, and the source verifies it (verify_identity with the server's CA), so the snapshot
    /// (MySqlConnector) and the binlog (our client) both connect through TLS or the server refuses them; <c>compressed</c>
    /// compresses its binlog events (log_bin_compress=ON).
    /// </summary>
    [Theory]
    [InlineData("tls")]
    [InlineData("compressed")]
    public async Task MariaDb_ServerVariant_SnapshotThenStream_DestinationEqualsSource(string variant)
    {
        var options = variant == "tls" ? new Freshet.Testing.MariaDbServerOptions(RequireTls: true) : new Freshet.Testing.MariaDbServerOptions(CompressBinlog: true);
        await using var shop = await MariaDbShop.CreateAsync("e2e_" + variant, options);
        await shop.LoadAsync(items: 500, lines: 300, seed: 7);
        var spec = shop.Spec();
        Assert.Equal(options.RequireTls ? "verify_identity" : "disabled", spec.Source.Settings["ssl_mode"]);
        var specFile = await shop.WriteSpecAsync(spec);

        await using var worker = WorkerProcess.Start(specFile);
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
        var committed = await shop.RunUntilAsync(seed: 8, CancellationToken.None, transactions: 150);
        var differences = await shop.WaitForEqualAsync(TimeSpan.FromSeconds(90));

        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
        // Reports come every few seconds: the one that counts the streamed rows may follow the equality check.
        var table = $"{shop.Source.Database}.items";
        static long Streamed(PipelineProgressReport r, string table) => r.Tables.TryGetValue(table, out var c) ? c.Inserted + c.Updated + c.Deleted : 0;
        var report = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming && Streamed(r, table) > 0, TimeSpan.FromSeconds(30));
        Assert.True(committed > 100 && Streamed(report, table) > 0, $"{committed} transactions, none streamed: the {variant} binlog path went untested");
    }

    /// <summary>
    /// The crash loop of <see cref="CrashSafetyTests"/> at its scale, for this source: SIGKILL twelve times, four of them
    /// while snapshotting, while the random workload runs; DuckDB at its smallest memory limit, as there.
    /// </summary>
    [Theory]
    [InlineData(Target.DuckDb)]
    [InlineData(Target.Postgres)]
    public async Task MariaDb_KilledRepeatedlyDuringSnapshotAndStreaming_DestinationEqualsSource(Target target)
    {
        await using var shop = await MariaDbShop.CreateAsync("crash_my", target: target);
        await shop.LoadAsync(items: 12_000, lines: 3000, seed: 7);
        // Smaller chunks than the PostgreSQL test's: MariaDB serves a 12,000-row snapshot in well under a second on a quiet
        // machine, so with 600-row chunks the snapshot could end before the first kill landed in it.
        var spec = await shop.WriteSpecAsync(shop.Spec(new DeliverySpec(MaxBatchDelayMilliseconds: 50, SnapshotChunkRows: 150)));
        IReadOnlyDictionary<string, string>? settings = target == Target.DuckDb
            ? new Dictionary<string, string> { ["Freshet__Worker__DuckDbMemoryLimitMb"] = "16" }
            : null;

        using var stop = new CancellationTokenSource();
        var workload = Task.Run(() => shop.RunUntilAsync(seed: 8, stop.Token));
        var random = new Random(1234);
        var killedDuring = new List<PipelineRunState>();
        var outputs = new List<string>();
        for (var kill = 0; kill < 12; kill++)
        {
            var worker = WorkerProcess.Start(spec, settings);
            // Most kills wait for the run to reach a phase first; some land while it is still starting.
            var phase = kill < 4 ? PipelineRunState.Snapshotting : PipelineRunState.Streaming;
            try
            {
                await worker.WaitForReportAsync(r => r.State == phase || r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
            }
            catch (TimeoutException)
            {
            }

            await Task.Delay(random.Next(0, kill < 4 ? 100 : 1500));
            var last = worker.Reports().FirstOrDefault();
            await worker.KillAsync();
            killedDuring.Add(last?.State ?? PipelineRunState.Starting);
            outputs.Add($"=== kill {kill} during {killedDuring[^1]}\n" + worker.Output);
            await worker.DisposeAsync();
        }

        await stop.CancelAsync();
        var committed = await workload;
        await using var final = WorkerProcess.Start(spec, settings);
        string differences;
        try
        {
            differences = await shop.WaitForEqualAsync(TimeSpan.FromSeconds(120));
        }
        catch (InvalidOperationException e)
        {
            // A key held twice in the destination: which writes left each copy says which path wrote it twice.
            var copies = target == Target.DuckDb ? await DuplicateCopiesAsync(shop.DuckDbPath) : "";
            throw new InvalidOperationException($"{e.Message}\n{copies}\n{string.Join("\n", outputs)}\n=== final\n{final.Output}", e);
        }

        Assert.True(differences.Length == 0, $"kills during: {string.Join(", ", killedDuring)}\n{differences}\n{string.Join("\n", outputs)}\n=== final\n{final.Output}");
        Assert.Contains(PipelineRunState.Snapshotting, killedDuring);
        Assert.Contains(PipelineRunState.Streaming, killedDuring);
        Assert.True(committed > 300, $"only {committed} transactions committed during the kills");
    }

    [Fact]
    public async Task MariaDb_RenameOfOneSelectedTable_QuarantinesOnlyThatTable()
    {
        await using var shop = await MariaDbShop.CreateAsync("ddl_my");
        await shop.LoadAsync(items: 50, lines: 50, seed: 3);
        await using var worker = WorkerProcess.Start(await shop.WriteSpecAsync(shop.Spec()));
        await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));

        // Swapped for another table under the same name: the rows that follow are not the replicated table's.
        await shop.Source.ExecuteAsync(
            "CREATE TABLE order_lines_new LIKE order_lines",
            "RENAME TABLE order_lines TO order_lines_old, order_lines_new TO order_lines");
        var report = await worker.WaitForReportAsync(
            r => r.Tables.TryGetValue($"{shop.Source.Database}.order_lines", out var t) && t.QuarantineReason is not null, TimeSpan.FromSeconds(60));
        await shop.RunUntilAsync(seed: 4, CancellationToken.None, transactions: 30);

        Assert.Contains("was renamed (RENAME TABLE order_lines TO order_lines_old", report.Tables[$"{shop.Source.Database}.order_lines"].QuarantineReason);
        var items = await TableContents.FromMariaDbAsync(shop.ConnectionString, "items", MariaDbShop.ItemColumns, ["id"]);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var differences = "";
        do
        {
            await Task.Delay(300);
            differences = (await TableContents.FromDuckDbAsync(shop.DuckDbPath, "items", MariaDbShop.ItemColumns, ["id"])).DifferencesFrom(items);
        }
        while (differences.Length > 0 && DateTime.UtcNow < deadline);

        Assert.True(differences.Length == 0, differences + "\nWorker output:\n" + worker.Output);
    }

    /// <summary>Every copy of a key the DuckDB destination holds more than once, with the metadata of the write that left it.</summary>
    private static async Task<string> DuplicateCopiesAsync(string path)
    {
        await using var connection = await Freshet.DataPlane.Destinations.DuckDb.DuckDbFile.OpenReadOnlyAsync(path, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT id, rowid, {MetadataColumns.Position}, {MetadataColumns.Sequence}, {MetadataColumns.CommittedAt}, {MetadataColumns.SyncedAt}
            FROM items WHERE id IN (SELECT id FROM items GROUP BY id HAVING count(*) > 1) ORDER BY id, rowid LIMIT 20
            """;
        await using var reader = await command.ExecuteReaderAsync();
        var lines = new System.Text.StringBuilder("copies (id, rowid, position, sequence, committed at, synced at):\n");
        while (await reader.ReadAsync())
        {
            lines.AppendLine(string.Join(" | ", Enumerable.Range(0, reader.FieldCount).Select(i => Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture))));
        }

        return lines.ToString();
    }
}
