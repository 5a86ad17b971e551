using Freshet.Contracts;
using Freshet.DataPlane.Tests.Support;
using Freshet.Testing;

namespace Freshet.DataPlane.Tests.EndToEnd;

/// <summary>
/// A MariaDB pipeline whose binlog position is lost while its worker is stopped — the binlog holding it purged, or the
/// server's binlog reset (RESET MASTER) — fails with a reason that says so and that a re-snapshot recovers, and never
/// streams on as if nothing happened; a re-snapshot of every table then makes the destination equal the source again,
/// and the pipeline streams from its new position. Each case has a MariaDB server of its own: purging or resetting the
/// shared one would break the other tests reading its binlog.
/// </summary>
public sealed class MySqlPositionLossTests
{
    [Theory]
    [InlineData("purge")]
    [InlineData("reset")]
    public async Task LostBinlogPosition_FailsWithTheReason_ThenAWholeResnapshotRecovers(string loss)
    {
        var server = await MariaDbServer.StartPrivateAsync();
        try
        {
            await using var shop = await MariaDbShop.CreateAsync("lost_" + loss, server);
            await shop.LoadAsync(items: 300, lines: 300, seed: 11);
            var first = shop.Spec(new DeliverySpec(MaxBatchDelayMilliseconds: 50, SnapshotChunkRows: 200));
            var specFile = await shop.WriteSpecAsync(first);

            await using (var worker = WorkerProcess.Start(specFile))
            {
                await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
                await shop.RunUntilAsync(seed: 12, CancellationToken.None, transactions: 50);
                var caughtUp = await shop.WaitForEqualAsync(TimeSpan.FromSeconds(60));
                Assert.True(caughtUp.Length == 0, caughtUp + "\nWorker output:\n" + worker.Output);
                await worker.StopAsync();
            }

            // Changes the stopped pipeline has not read, then the binlog holding them (and its position) goes away.
            await shop.RunUntilAsync(seed: 13, CancellationToken.None, transactions: 80);
            if (loss == "purge")
            {
                await server.ExecuteAsync("FLUSH BINARY LOGS", "FLUSH BINARY LOGS");
                await PurgeAllButTheNewestAsync(server);
            }
            else
            {
                await server.ExecuteAsync("RESET MASTER");
                // Enough new transactions that the renumbered first file is longer than the old position's offset.
                await shop.RunUntilAsync(seed: 14, CancellationToken.None, transactions: 150);
            }

            var expected = loss == "purge" ? "was purged" : "started over";
            await using (var failing = WorkerProcess.Start(specFile))
            {
                var failed = await failing.WaitForReportAsync(r => r.State == PipelineRunState.Failed, TimeSpan.FromSeconds(30));
                Assert.Contains(expected, failed.Reason);
                Assert.Contains("re-snapshot the pipeline", failed.Reason);
                // Never a silent success: it keeps failing, and the destination misses the changes it could not read.
                await Task.Delay(2500);
                Assert.DoesNotContain(failing.Reports(), r => r.State == PipelineRunState.Streaming);
                Assert.NotEqual("", await shop.DifferencesAsync());

                // The one-click re-snapshot: a request for every table, in a new generation the running worker picks up.
                var requests = first.Tables.Select(t => new SnapshotRequestSpec(Guid.NewGuid(), t.Schema, t.Name)).ToList();
                await shop.WriteSpecAsync(first with { Generation = 2, Resnapshots = requests });
                await failing.WaitForReportAsync(
                    r => r.State == PipelineRunState.Streaming && requests.All(q => r.HandledResnapshots?.Contains(q.Id) == true), TimeSpan.FromSeconds(90));
                var recovered = await shop.WaitForEqualAsync(TimeSpan.FromSeconds(60));
                Assert.True(recovered.Length == 0, recovered + "\nWorker output:\n" + failing.Output);

                // And it streams from the new position.
                await shop.RunUntilAsync(seed: 15, CancellationToken.None, transactions: 60);
                var streamed = await shop.WaitForEqualAsync(TimeSpan.FromSeconds(60));
                Assert.True(streamed.Length == 0, streamed + "\nWorker output:\n" + failing.Output);
            }
        }
        finally
        {
            server.Dispose();
        }
    }

    [Fact]
    public async Task ResetMasterWhileStreaming_FailsWithTheReason()
    {
        var server = await MariaDbServer.StartPrivateAsync();
        try
        {
            await using var shop = await MariaDbShop.CreateAsync("lost_live", server);
            await shop.LoadAsync(items: 100, lines: 100, seed: 21);
            await using var worker = WorkerProcess.Start(await shop.WriteSpecAsync(shop.Spec(new DeliverySpec(MaxBatchDelayMilliseconds: 50))));
            await worker.WaitForReportAsync(r => r.State == PipelineRunState.Streaming, TimeSpan.FromSeconds(60));
            await shop.RunUntilAsync(seed: 22, CancellationToken.None, transactions: 40);
            Assert.Equal("", await shop.WaitForEqualAsync(TimeSpan.FromSeconds(60)));

            // Under the connected reader: the server's binlog starts over at file 1 with new transactions.
            await server.ExecuteAsync("RESET MASTER");
            await shop.RunUntilAsync(seed: 23, CancellationToken.None, transactions: 100);
            var failed = await worker.WaitForReportAsync(r => r.State == PipelineRunState.Failed, TimeSpan.FromSeconds(60));
            Assert.Contains("started over", failed.Reason);
            Assert.Contains("re-snapshot the pipeline", failed.Reason);
        }
        finally
        {
            server.Dispose();
        }
    }

    /// <summary>
    /// Purges every binlog file but the newest. The server keeps a file while a reader still dumps it or until InnoDB has
    /// made its transactions durable (its binlog checkpoint), and says so only in a warning, so this tries again for a while.
    /// </summary>
    private static async Task PurgeAllButTheNewestAsync(MariaDbServer server)
    {
        await using var connection = new MySqlConnector.MySqlConnection(server.ConnectionString());
        await connection.OpenAsync();
        var newest = await FirstColumnAsync(connection, "SHOW MASTER STATUS");
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var said = "";
        while (true)
        {
            await using (var purge = new MySqlConnector.MySqlCommand($"PURGE BINARY LOGS TO '{newest}'", connection))
            {
                await purge.ExecuteNonQueryAsync();
            }

            var oldest = await FirstColumnAsync(connection, "SHOW BINARY LOGS");
            if (oldest == newest)
            {
                return;
            }

            said = await FirstColumnAsync(connection, "SHOW WARNINGS", column: 2);
            Assert.True(DateTime.UtcNow < deadline, $"{oldest} was not purged: {said}");
            await Task.Delay(500);
        }
    }

    private static async Task<string> FirstColumnAsync(MySqlConnector.MySqlConnection connection, string sql, int column = 0)
    {
        await using var command = new MySqlConnector.MySqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        return await reader.ReadAsync() ? System.Convert.ToString(reader.GetValue(column), System.Globalization.CultureInfo.InvariantCulture) ?? "" : "";
    }
}
