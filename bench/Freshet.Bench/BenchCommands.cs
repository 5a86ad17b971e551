namespace Freshet.Bench;

/// <summary>
/// The data-plane benchmarks, one verb each. Each is started by its bench/NAME/run.sh, which provides a PostgreSQL
/// cluster and the worker build through the environment (see <see cref="BenchSettings"/>); the verb prints its figures
/// and, last, one line <c>BENCH NAME key=value …</c>.
/// </summary>
internal static class BenchCommands
{
    public static async Task<int> RunAsync(string[] args)
    {
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };

        var verb = args.FirstOrDefault();
        if (verb == "placement")
        {
            // In process, from nothing: no cluster, no worker.
            await PlacementBench.RunAsync(stop.Token);
            return 0;
        }

        if (verb == "failover")
        {
            // Starts its own installation (PoolCluster): PostgreSQL, RabbitMQ, control plane and workers.
            try
            {
                await FailoverBench.RunAsync(stop.Token);
                return 0;
            }
            catch (BenchException e)
            {
                await Console.Error.WriteLineAsync($"{verb}: {e.Message}");
                return 1;
            }
        }

        if (verb == "mysql-stream")
        {
            // Starts its own MariaDB (in process, tests/Freshet.Testing MariaDbServer); no PostgreSQL.
            try
            {
                await MySqlStreamBench.RunAsync(BenchSettings.WorkerOnlyFromEnvironment(), stop.Token);
                return 0;
            }
            catch (BenchException e)
            {
                await Console.Error.WriteLineAsync($"{verb}: {e.Message}");
                return 1;
            }
        }

        Func<BenchSettings, CancellationToken, Task>? bench = verb switch
        {
            "pg-stream" => PgStreamBench.RunAsync,
            "pg-latency" => PgLatencyBench.RunAsync,
            "pg-snapshot" => PgSnapshotBench.RunAsync,
            "status-ingest" => StatusIngestBench.RunAsync,
            "warehouses" => WarehousesBench.RunAsync,
            _ => null,
        };
        if (bench is null)
        {
            await Console.Error.WriteLineAsync("usage: Freshet.Bench pg-stream|pg-latency|pg-snapshot|mysql-stream|warehouses|status-ingest|placement|failover  (run through bench/run NAME)");
            return 2;
        }

        try
        {
            await bench(BenchSettings.FromEnvironment(), stop.Token);
            return 0;
        }
        catch (BenchException e)
        {
            await Console.Error.WriteLineAsync($"{verb}: {e.Message}");
            return 1;
        }
    }
}

/// <summary>A benchmark that could not measure what it set out to (the message says why); no summary line is printed.</summary>
internal sealed class BenchException(string message) : Exception(message);
