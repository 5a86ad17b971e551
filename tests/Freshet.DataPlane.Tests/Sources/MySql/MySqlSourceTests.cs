using Freshet.Contracts;
using Freshet.DataPlane.Sources;
using Freshet.DataPlane.Sources.MySql;
using Microsoft.Extensions.Logging.Abstractions;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>What <see cref="MySqlSource.PrepareAsync"/> tells a user whose server or login is not ready, on a real MariaDB.</summary>
public sealed class MySqlSourceTests
{
    [Fact]
    public async Task Prepare_LoginWithoutReplicationGrants_ListsEachMissingGrant()
    {
        var source = await MariaDbSource.CreateAsync("grants");
        await source.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY)");
        var user = "plain_" + Guid.NewGuid().ToString("N")[..12];
        await source.Server.ExecuteAsync(
            $"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY 'pw'",
            $"GRANT SELECT ON `{source.Database}`.* TO '{user}'@'127.0.0.1'");
        await using var mySql = new MySqlSource(Spec(source, user, "pw", "t"), new MySqlSourceOptions(TimeSpan.FromSeconds(5), 1000), TimeProvider.System, NullLoggerFactory.Instance);

        var error = await Assert.ThrowsAsync<SourcePrerequisiteException>(() => mySql.PrepareAsync(CancellationToken.None));

        Assert.Equal(2, error.Problems.Count);
        Assert.Contains(error.Problems, p => p.Contains("lacks REPLICATION SLAVE", StringComparison.Ordinal) && p.Contains("GRANT REPLICATION SLAVE", StringComparison.Ordinal));
        Assert.Contains(error.Problems, p => p.Contains("lacks REPLICATION CLIENT", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Prepare_ReadyServer_DescribesTablesAndRefusesOneWithoutPrimaryKey()
    {
        var source = await MariaDbSource.CreateAsync("describe");
        await source.ExecuteAsync(
            "CREATE TABLE keyed (id BIGINT UNSIGNED, code CHAR(3), amount DECIMAL(40,10), at TIMESTAMP(3) NULL, PRIMARY KEY (id, code))",
            "CREATE TABLE heap (v INT)");
        await using var mySql = new MySqlSource(Spec(source, source.Endpoint.User, source.Endpoint.Password, "keyed", "heap"),
            new MySqlSourceOptions(TimeSpan.FromSeconds(5), 1000), TimeProvider.System, NullLoggerFactory.Instance);

        var tables = await mySql.PrepareAsync(CancellationToken.None);

        var keyed = tables.Single(t => t.Id.Name == "keyed").Schema!;
        Assert.Equal(["id", "code"], keyed.KeyIndexes.Select(k => keyed.Columns[k].Name));
        Assert.Equal(["bigint unsigned", "char(3)", "decimal(40,10)", "timestamp(3)"], keyed.Columns.Select(c => c.Type.SourceTypeName));
        Assert.Equal([Schema.ValueKind.Decimal, Schema.ValueKind.Text, Schema.ValueKind.NumericText, Schema.ValueKind.TimestampTz], keyed.Columns.Select(c => c.Type.Kind));
        Assert.Contains("has no primary key", tables.Single(t => t.Id.Name == "heap").Error);
    }

    [Fact]
    public void Problems_StatementFormatAndShortRetention_EachNamed()
    {
        var variables = new Dictionary<string, string>
        {
            ["log_bin"] = "ON",
            ["binlog_format"] = "STATEMENT",
            ["binlog_row_image"] = "FULL",
            ["binlog_row_metadata"] = "MINIMAL",
            ["binlog_checksum"] = "CRC32",
            ["binlog_expire_logs_seconds"] = "3600",
        };

        var problems = MySqlPrerequisites.Problems(variables, new HashSet<string> { "REPLICATION SLAVE", "BINLOG MONITOR" }, "'cdc'@'%'");

        Assert.Equal(3, problems.Count);
        Assert.Contains(problems, p => p.StartsWith("binlog_format is STATEMENT but must be ROW", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("binlog_row_metadata is MINIMAL but must be FULL", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("binlogs are kept only 1 h", StringComparison.Ordinal));
    }

    [Fact]
    public void Prerequisites_OnMySql_AlsoAskForReload_WhichMariaDbDoesNotNeed()
    {
        var variables = new Dictionary<string, string>
        {
            ["log_bin"] = "ON",
            ["server_id"] = "1",
            ["binlog_format"] = "ROW",
            ["binlog_row_image"] = "FULL",
            ["binlog_row_metadata"] = "FULL",
            ["binlog_checksum"] = "CRC32",
            ["binlog_expire_logs_seconds"] = "604800",
        };
        var replication = new HashSet<string> { "REPLICATION SLAVE", "REPLICATION CLIENT" };

        var mySql = MySqlPrerequisites.Problems(variables, replication, "'cdc'@'%'", "8.0.36");

        Assert.Equal("the login 'cdc'@'%' lacks RELOAD (on MySQL a snapshot reads its binlog position under FLUSH TABLES WITH READ LOCK, held for milliseconds): GRANT RELOAD ON *.* TO 'cdc'@'%'.", Assert.Single(mySql));
        Assert.Empty(MySqlPrerequisites.Problems(variables, new HashSet<string>(replication) { "RELOAD" }, "'cdc'@'%'", "8.0.36"));
        Assert.Empty(MySqlPrerequisites.Problems(variables, replication, "'cdc'@'%'", "5.5.5-10.11.6-MariaDB-0+deb12u1-log"));
    }

    [Fact]
    public void Position_RoundTripsAndOrdersByFileThenOffset()
    {
        var position = BinlogPosition.Parse("gtid=0-1-7,1-2-40;file=binlog.000003;pos=1234");

        Assert.Equal("gtid=0-1-7,1-2-40;file=binlog.000003;pos=1234", position.ToString());
        Assert.Equal((3L << 32) | 1234, position.Numeric);
        Assert.True(BinlogPosition.ToNumeric("binlog.000004", 4) > BinlogPosition.ToNumeric("binlog.000003", uint.MaxValue));
    }

    private static PipelineSpec Spec(MariaDbSource source, string user, string password, params string[] tables) =>
        new(Guid.NewGuid(), Guid.NewGuid(), "prepare test", 1, 1,
            new EndpointSpec(ConnectionType.Mysql, new Dictionary<string, string>
            {
                ["host"] = "127.0.0.1",
                ["port"] = source.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["database"] = source.Database,
                ["username"] = user,
                ["ssl_mode"] = "disabled",
            }, new Dictionary<string, string> { ["password"] = password }),
            new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string> { ["path"] = "unused.duckdb" }, new Dictionary<string, string>()),
            [.. tables.Select(t => new TableSpec(source.Database, t))],
            DeleteMode.Hard, SchemaChangePolicy.Propagate, new DeliverySpec());
}
