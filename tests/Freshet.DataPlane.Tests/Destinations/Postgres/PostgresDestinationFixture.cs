using Freshet.Contracts;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.Postgres;
using Freshet.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Npgsql;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

/// <summary>A database of its own per test class; each test works in a schema of its own, for a pipeline of its own.</summary>
public sealed class PostgresDestinationFixture : IAsyncLifetime
{
    public PostgresServer Server { get; private set; } = null!;

    public string Database { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await PostgresServer.SharedAsync();
        Database = await Server.CreateDatabaseAsync("pgdest");
    }

    public Task DisposeAsync() => Task.CompletedTask;

    /// <summary>A fresh pipeline writing to a fresh schema.</summary>
    internal DestinationScope NewScope() => new(this, Guid.NewGuid(), $"s_{Guid.NewGuid():N}"[..14]);

    internal async Task<NpgsqlConnection> OpenAsync()
    {
        var connection = new NpgsqlConnection(Server.ConnectionString(Database));
        await connection.OpenAsync();
        return connection;
    }
}

internal sealed class DestinationScope(PostgresDestinationFixture fixture, Guid pipelineId, string schema)
{
    public static readonly DateTimeOffset Now = new(2025, 3, 4, 5, 6, 7, 123, TimeSpan.Zero);

    public Guid PipelineId { get; } = pipelineId;

    public string Schema { get; } = schema;

    public FakeTimeProvider Time { get; } = new(Now);

    public PostgresDestination Create(long epoch = 1, DeleteMode deleteMode = DeleteMode.Hard)
    {
        var endpoint = new EndpointSpec(
            ConnectionType.Postgres,
            new Dictionary<string, string>
            {
                ["host"] = "127.0.0.1",
                ["port"] = fixture.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["database"] = fixture.Database,
                ["username"] = "postgres",
                ["ssl_mode"] = "disable",
                ["schema"] = Schema,
            },
            new Dictionary<string, string>());
        return new PostgresDestination(new DestinationContext(PipelineId, epoch, deleteMode, endpoint, Time), NullLoggerFactory.Instance);
    }

    /// <summary>A destination that has claimed the pipeline.</summary>
    public async Task<PostgresDestination> ClaimedAsync(long epoch = 1, DeleteMode deleteMode = DeleteMode.Hard)
    {
        var destination = Create(epoch, deleteMode);
        await destination.ClaimAsync(CancellationToken.None);
        return destination;
    }

    /// <summary>The stored checkpoint, read by claiming again with <paramref name="epoch"/> from a second instance.</summary>
    public async Task<DestinationCheckpoint> CheckpointAsync(long epoch = 1)
    {
        await using var destination = Create(epoch);
        return await destination.ClaimAsync(CancellationToken.None);
    }

    public string Qualified(string table) => $"\"{Schema}\".\"{table}\"";

    public async Task<List<object?[]>> QueryAsync(string sql)
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    public async Task<object?> ScalarAsync(string sql)
    {
        var rows = await QueryAsync(sql);
        return rows.Count == 0 ? null : rows[0][0];
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = await fixture.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>The target's columns as format_type spells them, metadata columns included.</summary>
    public async Task<Dictionary<string, string>> ColumnsAsync(string table) =>
        (await QueryAsync($"SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = '{Qualified(table)}'::regclass AND attnum > 0 AND NOT attisdropped"))
        .ToDictionary(r => (string)r[0]!, r => (string)r[1]!);
}
