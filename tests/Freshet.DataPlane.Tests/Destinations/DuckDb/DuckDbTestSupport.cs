using System.Data.Common;
using Freshet.Contracts;
using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.DuckDb;
using Freshet.DataPlane.Schema;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Freshet.DataPlane.Tests.Destinations.DuckDb;

/// <summary>A DuckDB file under the temp folder, deleted (with its WAL and marker) afterwards.</summary>
internal sealed class TempDuckDbFile : IDisposable
{
    public TempDuckDbFile()
    {
        Directory.CreateDirectory(Folder);
        Path = System.IO.Path.Combine(Folder, $"duckdb-{Guid.NewGuid():N}.duckdb");
    }

    public static string Folder { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "freshet-tests");

    public string Path { get; }

    public Guid PipelineId { get; } = Guid.NewGuid();

    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));

    public DuckDbDestination Destination(long epoch = 1, DeleteMode deleteMode = DeleteMode.Hard, DuckDbResources? resources = null) =>
        new(
            new DestinationContext(
                PipelineId,
                epoch,
                deleteMode,
                new EndpointSpec(ConnectionType.Duckdb, new Dictionary<string, string> { ["path"] = Path }, new Dictionary<string, string>()),
                Time),
            NullLoggerFactory.Instance,
            resources);

    /// <summary>A destination that has claimed the pipeline and set up <paramref name="tables"/>.</summary>
    public async Task<DuckDbDestination> ReadyAsync(DeleteMode deleteMode, params TableSchema[] tables)
    {
        var destination = Destination(deleteMode: deleteMode);
        await destination.ClaimAsync(CancellationToken.None);
        foreach (var table in tables)
        {
            await destination.EnsureTableAsync(table, SchemaChangePolicy.Propagate, CancellationToken.None);
        }

        return destination;
    }

    /// <summary>Runs a query the way another reader would (read-only, waiting politely), rows as DuckDB.NET reads them.</summary>
    public async Task<List<object?[]>> QueryAsync(string sql)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(Path, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
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

    public async Task<T> ReadAsync<T>(string sql, Func<DbDataReader, T> read)
    {
        await using var connection = await DuckDbFile.OpenReadOnlyAsync(Path, TimeSpan.FromSeconds(30), CancellationToken.None);
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        return read(reader);
    }

    public void Dispose()
    {
        foreach (var file in new[] { Path, Path + ".wal", Path + DuckDbFile.ReadRequestSuffix })
        {
            File.Delete(file);
        }
    }
}

/// <summary>Hand-made schemas and changes.</summary>
internal static class Make
{
    public static readonly DateTimeOffset Epoch = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static ColumnSchema Key(string name, ValueKind kind = ValueKind.Int32) => new(name, new ColumnType(kind, false, kind.ToString()), true);

    public static ColumnSchema Column(string name, ValueKind kind, bool array = false, int? precision = null, int? scale = null) =>
        new(name, new ColumnType(kind, array, kind + (array ? "[]" : string.Empty), precision, scale), false);

    public static TableSchema Table(string name, params ColumnSchema[] columns) => new(new TableId("public", name), name, columns);

    /// <summary>The usual test table: id INTEGER key, name VARCHAR, note VARCHAR.</summary>
    public static TableSchema People(string name = "people") =>
        Table(name, Key("id"), Column("name", ValueKind.Text), Column("note", ValueKind.Text));

    public static DateTimeOffset CommittedAt(long position) => Epoch.AddSeconds(position);

    public static RowChange Insert(TableSchema table, long position, long sequence, params object?[] values) =>
        Change(table, ChangeKind.Insert, position, sequence, values);

    public static RowChange Update(TableSchema table, long position, long sequence, params object?[] values) =>
        Change(table, ChangeKind.Update, position, sequence, values);

    public static RowChange KeyChange(TableSchema table, long position, long sequence, object?[] oldKey, params object?[] values) =>
        new()
        {
            Table = table,
            Kind = ChangeKind.Update,
            Values = values,
            OldKey = oldKey,
            Position = position,
            Sequence = sequence,
            CommittedAt = CommittedAt(position),
        };

    public static RowChange Delete(TableSchema table, long position, long sequence, params object?[] key)
    {
        var values = new object?[table.Columns.Count];
        for (var k = 0; k < table.KeyIndexes.Count; k++)
        {
            values[table.KeyIndexes[k]] = key[k];
        }

        return Change(table, ChangeKind.Delete, position, sequence, values);
    }

    public static RowChange Truncate(TableSchema table, long position, long sequence) => Change(table, ChangeKind.Truncate, position, sequence, []);

    public static ChangeBatch Batch(params RowChange[] changes)
    {
        var last = changes[^1];
        return new ChangeBatch
        {
            Changes = changes,
            ResumePosition = $"resume-{last.Position}",
            AppliedThrough = (last.Position, last.Sequence),
        };
    }

    public static async IAsyncEnumerable<object?[]> Rows(IEnumerable<object?[]> rows)
    {
        foreach (var row in rows)
        {
            await Task.Yield();
            yield return row;
        }
    }

    private static RowChange Change(TableSchema table, ChangeKind kind, long position, long sequence, object?[] values) =>
        new()
        {
            Table = table,
            Kind = kind,
            Values = values,
            Position = position,
            Sequence = sequence,
            CommittedAt = CommittedAt(position),
        };
}
