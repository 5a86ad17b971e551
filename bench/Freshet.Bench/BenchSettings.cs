using System.Globalization;
using Npgsql;

namespace Freshet.Bench;

/// <summary>
/// Where the benchmark runs, from the environment that bench/lib/dataplane.sh sets: the cluster (the libpq variables
/// PGHOST, PGPORT, PGUSER, PGPASSWORD, which psql, pgbench and pg_recvlogical read too), its tools (BENCH_PG_BIN), the
/// worker build (BENCH_WORKER_DLL) and a scratch folder (BENCH_WORK_DIR).
/// </summary>
internal sealed record BenchSettings(string Host, int Port, string User, string Password, string PgBin, string WorkerDll, string WorkDir)
{
    public static BenchSettings FromEnvironment()
    {
        var settings = new BenchSettings(
            Required("PGHOST"),
            int.Parse(Required("PGPORT"), CultureInfo.InvariantCulture),
            Required("PGUSER"),
            Required("PGPASSWORD"),
            Required("BENCH_PG_BIN"),
            Required("BENCH_WORKER_DLL"),
            Required("BENCH_WORK_DIR"));
        if (!File.Exists(settings.WorkerDll))
        {
            throw new BenchException($"the worker build {settings.WorkerDll} does not exist (build src/Freshet.DataPlane.Worker in Release)");
        }

        Directory.CreateDirectory(settings.WorkDir);
        return settings;
    }

    /// <summary>
    /// For the benchmarks that start their own source (mysql-stream starts MariaDB in process): only the worker build
    /// (BENCH_WORKER_DLL) and the scratch folder (BENCH_WORK_DIR) come from the environment; the PostgreSQL fields are empty.
    /// </summary>
    public static BenchSettings WorkerOnlyFromEnvironment()
    {
        var settings = new BenchSettings("", 0, "", "", "", Required("BENCH_WORKER_DLL"), Required("BENCH_WORK_DIR"));
        if (!File.Exists(settings.WorkerDll))
        {
            throw new BenchException($"the worker build {settings.WorkerDll} does not exist (build src/Freshet.DataPlane.Worker in Release)");
        }

        Directory.CreateDirectory(settings.WorkDir);
        return settings;
    }

    /// <summary>An optional numeric tunable from the environment.</summary>
    public static int Number(string name, int fallback) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;

    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = Host,
        Port = Port,
        Database = database,
        Username = User,
        Password = Password,
        ApplicationName = "freshet-bench",
        // Pooled: the benchmarks poll the cluster many times a second while they measure (pg_stat_activity, slots), and
        // an unpooled poll forks a backend and runs a SCRAM exchange each time, CPU taken from what is measured. Every
        // database is dropped WITH (FORCE), so idle pooled connections never hold a drop up.
        Pooling = true,
        CommandTimeout = 0,
    }.ConnectionString;

    /// <summary>A libpq connection string without the password (the tools take it from PGPASSWORD).</summary>
    public string LibpqConnection(string database, bool replication = false) =>
        $"host={Host} port={Port} user={User} dbname={database}" + (replication ? " replication=database" : "");

    public string Tool(string name) => Path.Combine(PgBin, name);

    private static string Required(string name) =>
        Environment.GetEnvironmentVariable(name) is { Length: > 0 } value
            ? value
            : throw new BenchException($"{name} is not set; run the benchmark through bench/run");
}
