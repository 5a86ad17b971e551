using System.Globalization;
using System.Text;
using Npgsql;
using NpgsqlTypes;

namespace Freshet.DataPlane.Tests.Support;

/// <summary>
/// A source schema that uses every supported type, a composite key and a non-integer key, and a randomised workload of
/// inserts, updates (TOAST-unchanged ones included), key changes, deletes, truncates, rolled-back work, aborted
/// subtransactions and transactions large enough to be streamed while in progress.
/// </summary>
internal sealed class TestShop(string connectionString, int seed)
{
    public const string Schema = """
        CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'ecstatic');
        CREATE TABLE items (
            id bigint PRIMARY KEY,
            small smallint, qty integer, price numeric(12,3), wide numeric, ratio real, score double precision,
            name text, code varchar(40), grade char(5), active boolean, day date, at_time time, at timestamp, at_tz timestamptz,
            span interval, ref uuid, doc json, docb jsonb, blob bytea, ints integer[], tags text[], mood mood, moods mood[],
            notes text);
        CREATE TABLE order_lines (order_id integer, line integer, qty integer NOT NULL, note text, PRIMARY KEY (order_id, line));
        CREATE TABLE events (id uuid PRIMARY KEY, kind text NOT NULL, payload jsonb, happened timestamptz);
        """;

    public static readonly string[] ItemColumns =
    [
        "id", "small", "qty", "price", "wide", "ratio", "score", "name", "code", "grade", "active", "day", "at_time", "at", "at_tz",
        "span", "ref", "doc", "docb", "blob", "ints", "tags", "mood", "moods", "notes",
    ];

    public static readonly string[] LineColumns = ["order_id", "line", "qty", "note"];

    public static readonly string[] EventColumns = ["id", "kind", "payload", "happened"];

    /// <summary>Columns compared as JSON content (jsonb normalises whitespace; json keeps the text).</summary>
    public static readonly IReadOnlySet<string> JsonColumns = new HashSet<string> { "docb", "payload" };

    /// <summary>Columns read from PostgreSQL as text: numerics wider than System.Decimal and enums.</summary>
    public static readonly IReadOnlySet<string> TextColumns = new HashSet<string> { "wide", "mood" };

    private readonly Random _random = new(seed);
    private long _nextItem = 1;
    private readonly List<long> _items = [];
    private readonly List<(int Order, int Line)> _lines = [];
    private readonly List<Guid> _events = [];

    public long Statements { get; private set; }

    public static async Task CreateAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(Schema, connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Fills the tables in large transactions (what the snapshot copies).</summary>
    public async Task LoadAsync(int items, int lines, int events)
    {
        await using var connection = await OpenAsync();
        for (var done = 0; done < items; done += 1000)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            for (var i = 0; i < Math.Min(1000, items - done); i++)
            {
                await InsertItemAsync(connection);
            }

            for (var i = 0; i < lines * Math.Min(1000, items - done) / Math.Max(1, items); i++)
            {
                await InsertLineAsync(connection);
            }

            for (var i = 0; i < events * Math.Min(1000, items - done) / Math.Max(1, items); i++)
            {
                await InsertEventAsync(connection);
            }

            await transaction.CommitAsync();
        }
    }

    /// <summary>Runs <paramref name="transactions"/> random transactions.</summary>
    public async Task RunAsync(int transactions, bool allowTruncate = true, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenAsync();
        for (var t = 0; t < transactions && !cancellationToken.IsCancellationRequested; t++)
        {
            await OneTransactionAsync(connection, allowTruncate);
        }
    }

    /// <summary>Runs random transactions until cancelled (for crash tests), pausing a little between them.</summary>
    public async Task RunUntilAsync(CancellationToken cancellationToken, int pauseMilliseconds = 5)
    {
        await using var connection = await OpenAsync();
        while (!cancellationToken.IsCancellationRequested)
        {
            await OneTransactionAsync(connection, allowTruncate: false);
            try
            {
                await Task.Delay(pauseMilliseconds, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private async Task OneTransactionAsync(NpgsqlConnection connection, bool allowTruncate)
    {
        var roll = _random.Next(100);
        await using var transaction = await connection.BeginTransactionAsync();
        if (roll < 3)
        {
            // Large enough to exceed logical_decoding_work_mem (64kB in the test database): the server streams it
            // in progress; a rolled-back savepoint inside must vanish.
            for (var i = 0; i < 1500; i++)
            {
                await InsertItemAsync(connection);
            }

            await transaction.SaveAsync("part");
            var before = _items.Count;
            for (var i = 0; i < 300; i++)
            {
                await InsertItemAsync(connection);
            }

            await transaction.RollbackAsync("part");
            _items.RemoveRange(before, _items.Count - before);
            for (var i = 0; i < 200; i++)
            {
                await UpdateItemAsync(connection);
            }

            await transaction.CommitAsync();
            return;
        }

        if (roll < 5)
        {
            // Rolled back: none of it may reach the destination.
            var before = (_items.Count, _nextItem);
            for (var i = 0; i < 5; i++)
            {
                await InsertItemAsync(connection);
                await DeleteItemAsync(connection);
            }

            await transaction.RollbackAsync();
            _items.RemoveRange(before.Count, _items.Count - before.Count);
            await RefreshItemsAsync(connection);
            return;
        }

        if (roll < 6 && allowTruncate)
        {
            await ExecuteAsync(connection, "TRUNCATE order_lines");
            _lines.Clear();
            for (var i = 0; i < 5; i++)
            {
                await InsertLineAsync(connection);
            }

            await transaction.CommitAsync();
            return;
        }

        var operations = 1 + _random.Next(12);
        for (var i = 0; i < operations; i++)
        {
            switch (_random.Next(12))
            {
                case 0 or 1 or 2:
                    await InsertItemAsync(connection);
                    break;
                case 3 or 4:
                    await UpdateItemAsync(connection);
                    break;
                case 5:
                    await UpdateItemNotesAsync(connection);
                    break;
                case 6:
                    await DeleteItemAsync(connection);
                    break;
                case 7:
                    await ChangeItemKeyAsync(connection);
                    break;
                case 8:
                    await InsertLineAsync(connection);
                    break;
                case 9:
                    await ChangeLineAsync(connection);
                    break;
                case 10:
                    await InsertEventAsync(connection);
                    break;
                default:
                    await ChangeEventAsync(connection);
                    break;
            }
        }

        await transaction.CommitAsync();
    }

    private async Task<NpgsqlConnection> OpenAsync()
    {
        // A TRUNCATE waits for the snapshot's transactions (they hold ACCESS SHARE on the tables until the last chunk
        // is copied), which on a loaded machine can take longer than Npgsql's default 30 s.
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(connectionString) { CommandTimeout = 300 }.ConnectionString);
        await connection.OpenAsync();
        await RefreshItemsAsync(connection);
        return connection;
    }

    /// <summary>Re-reads existing keys, so a workload can continue where an earlier one (or a rollback) left the tables.</summary>
    private async Task RefreshItemsAsync(NpgsqlConnection connection)
    {
        _items.Clear();
        _lines.Clear();
        _events.Clear();
        await using (var command = new NpgsqlCommand("SELECT id FROM items", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                _items.Add(reader.GetInt64(0));
            }
        }

        await using (var command = new NpgsqlCommand("SELECT order_id, line FROM order_lines", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                _lines.Add((reader.GetInt32(0), reader.GetInt32(1)));
            }
        }

        await using (var command = new NpgsqlCommand("SELECT id FROM events", connection))
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                _events.Add(reader.GetGuid(0));
            }
        }

        _nextItem = Math.Max(_nextItem, _items.Count == 0 ? 1 : _items.Max() + 1);
    }

    private async Task InsertItemAsync(NpgsqlConnection connection)
    {
        var id = _nextItem++;
        await using var command = new NpgsqlCommand("""
            INSERT INTO items VALUES ($1, $2, $3, $4, $5::numeric, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18::json, $19::jsonb, $20, $21, $22, $23::mood, $24::mood[], $25)
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = id, NpgsqlDbType = NpgsqlDbType.Bigint });
        AddItemValues(command);
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => RandomText(_random.Next(3) == 0 ? 4000 : 40)));
        await command.ExecuteNonQueryAsync();
        Statements++;
        _items.Add(id);
    }

    private async Task UpdateItemAsync(NpgsqlConnection connection)
    {
        if (_items.Count == 0)
        {
            return;
        }

        // Leaves "notes" alone: when it is TOASTed the stream says "unchanged" and the destination must keep it.
        await using var command = new NpgsqlCommand("""
            UPDATE items SET small = $2, qty = $3, price = $4, wide = $5::numeric, ratio = $6, score = $7, name = $8, code = $9, grade = $10,
                active = $11, day = $12, at_time = $13, at = $14, at_tz = $15, span = $16, ref = $17, doc = $18::json, docb = $19::jsonb,
                blob = $20, ints = $21, tags = $22, mood = $23::mood, moods = $24::mood[]
            WHERE id = $1
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Pick(_items), NpgsqlDbType = NpgsqlDbType.Bigint });
        AddItemValues(command);
        await command.ExecuteNonQueryAsync();
        Statements++;
    }

    private async Task UpdateItemNotesAsync(NpgsqlConnection connection)
    {
        if (_items.Count == 0)
        {
            return;
        }

        await using var command = new NpgsqlCommand("UPDATE items SET notes = $2 WHERE id = $1", connection);
        command.Parameters.Add(new NpgsqlParameter { Value = Pick(_items), NpgsqlDbType = NpgsqlDbType.Bigint });
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => RandomText(_random.Next(2) == 0 ? 6000 : 20)));
        await command.ExecuteNonQueryAsync();
        Statements++;
    }

    private async Task DeleteItemAsync(NpgsqlConnection connection)
    {
        if (_items.Count == 0)
        {
            return;
        }

        var id = Pick(_items);
        await ExecuteAsync(connection, $"DELETE FROM items WHERE id = {id}");
        _items.Remove(id);
    }

    private async Task ChangeItemKeyAsync(NpgsqlConnection connection)
    {
        if (_items.Count == 0)
        {
            return;
        }

        var id = Pick(_items);
        var moved = _nextItem++;
        await ExecuteAsync(connection, $"UPDATE items SET id = {moved}, qty = coalesce(qty, 0) + 1 WHERE id = {id}");
        _items.Remove(id);
        _items.Add(moved);
    }

    private async Task InsertLineAsync(NpgsqlConnection connection)
    {
        var order = _random.Next(1, 500);
        var line = _random.Next(1, 1_000_000);
        if (_lines.Contains((order, line)))
        {
            return;
        }

        await using var command = new NpgsqlCommand("INSERT INTO order_lines VALUES ($1, $2, $3, $4)", connection);
        command.Parameters.AddWithValue(order);
        command.Parameters.AddWithValue(line);
        command.Parameters.AddWithValue(_random.Next(1, 50));
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => RandomText(12)));
        await command.ExecuteNonQueryAsync();
        Statements++;
        _lines.Add((order, line));
    }

    private async Task ChangeLineAsync(NpgsqlConnection connection)
    {
        if (_lines.Count == 0)
        {
            return;
        }

        var (order, line) = Pick(_lines);
        switch (_random.Next(3))
        {
            case 0:
                await ExecuteAsync(connection, $"UPDATE order_lines SET qty = qty + 1, note = 'changed' WHERE order_id = {order} AND line = {line}");
                break;
            case 1:
                await ExecuteAsync(connection, $"DELETE FROM order_lines WHERE order_id = {order} AND line = {line}");
                _lines.Remove((order, line));
                break;
            default:
                // A key change on a composite key: the old row must disappear from the destination.
                var newLine = line + 1_000_000 + _random.Next(1_000_000);
                if (!_lines.Contains((order, newLine)))
                {
                    await ExecuteAsync(connection, $"UPDATE order_lines SET line = {newLine} WHERE order_id = {order} AND line = {line}");
                    _lines.Remove((order, line));
                    _lines.Add((order, newLine));
                }

                break;
        }
    }

    private async Task InsertEventAsync(NpgsqlConnection connection)
    {
        var id = Guid.NewGuid();
        await using var command = new NpgsqlCommand("INSERT INTO events VALUES ($1, $2, $3::jsonb, $4)", connection);
        command.Parameters.AddWithValue(id);
        command.Parameters.AddWithValue(Pick(["click", "view", "buy"]));
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => $"{{\"n\": {_random.Next()}, \"s\": \"{RandomText(8)}\"}}"));
        command.Parameters.Add(new NpgsqlParameter { Value = RandomTimestamp(DateTimeKind.Utc), NpgsqlDbType = NpgsqlDbType.TimestampTz });
        await command.ExecuteNonQueryAsync();
        Statements++;
        _events.Add(id);
    }

    private async Task ChangeEventAsync(NpgsqlConnection connection)
    {
        if (_events.Count == 0)
        {
            return;
        }

        var id = Pick(_events);
        if (_random.Next(2) == 0)
        {
            await ExecuteAsync(connection, $"UPDATE events SET kind = 'edited', payload = NULL WHERE id = '{id}'");
        }
        else
        {
            await ExecuteAsync(connection, $"DELETE FROM events WHERE id = '{id}'");
            _events.Remove(id);
        }
    }

    private void AddItemValues(NpgsqlCommand command)
    {
        command.Parameters.Add(Maybe(NpgsqlDbType.Smallint, () => (short)_random.Next(short.MinValue, short.MaxValue)));
        command.Parameters.Add(Maybe(NpgsqlDbType.Integer, () => _random.Next(int.MinValue, int.MaxValue)));
        command.Parameters.Add(Maybe(NpgsqlDbType.Numeric, () => Math.Round((decimal)(_random.NextDouble() * 2e8) - 1e8m, 3)));
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => (_random.Next(2) == 0 ? "-" : "") + RandomDigits(1 + _random.Next(35)) + "." + RandomDigits(_random.Next(1, 12))));
        command.Parameters.Add(Maybe(NpgsqlDbType.Real, () => _random.Next(-1_000_000, 1_000_000) / 8f));
        command.Parameters.Add(Maybe(NpgsqlDbType.Double, () => (_random.NextDouble() - 0.5) * 1e12));
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => _random.Next(10) == 0 ? "" : "naïve café ✓ " + RandomText(8)));
        command.Parameters.Add(Maybe(NpgsqlDbType.Varchar, () => RandomText(1 + _random.Next(39))));
        command.Parameters.Add(Maybe(NpgsqlDbType.Char, () => RandomText(1 + _random.Next(4))));
        command.Parameters.Add(Maybe(NpgsqlDbType.Boolean, () => _random.Next(2) == 0));
        command.Parameters.Add(Maybe(NpgsqlDbType.Date, () => DateOnly.FromDayNumber(_random.Next(600_000, 800_000))));
        command.Parameters.Add(Maybe(NpgsqlDbType.Time, () => new TimeOnly(_random.NextInt64(0, TimeSpan.TicksPerDay / 10) * 10)));
        command.Parameters.Add(Maybe(NpgsqlDbType.Timestamp, () => RandomTimestamp(DateTimeKind.Unspecified)));
        command.Parameters.Add(Maybe(NpgsqlDbType.TimestampTz, () => RandomTimestamp(DateTimeKind.Utc)));
        command.Parameters.Add(Maybe(NpgsqlDbType.Interval, () => new NpgsqlInterval(_random.Next(-30, 30), _random.Next(-40, 40), _random.NextInt64(-86_400_000_000, 86_400_000_000))));
        command.Parameters.Add(Maybe(NpgsqlDbType.Uuid, () => Guid.NewGuid()));
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => $"{{\"k\": {_random.Next()},  \"v\": [1, 2, \"{RandomText(5)}\"]}}"));
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => $"{{\"z\": {_random.Next()}, \"a\": {{\"b\": null, \"c\": true}}}}"));
        command.Parameters.Add(Maybe(NpgsqlDbType.Bytea, () =>
        {
            var bytes = new byte[_random.Next(0, 64)];
            _random.NextBytes(bytes);
            return bytes;
        }));
        command.Parameters.Add(Maybe(NpgsqlDbType.Array | NpgsqlDbType.Integer, () => Enumerable.Range(0, _random.Next(0, 5)).Select(_ => _random.Next(5) == 0 ? (int?)null : _random.Next()).ToArray()));
        command.Parameters.Add(Maybe(NpgsqlDbType.Array | NpgsqlDbType.Text, () => Enumerable.Range(0, _random.Next(0, 4)).Select(_ => _random.Next(6) == 0 ? null : RandomText(4)).ToArray()));
        command.Parameters.Add(Maybe(NpgsqlDbType.Text, () => Pick(["sad", "ok", "happy", "ecstatic"])));
        command.Parameters.Add(Maybe(NpgsqlDbType.Array | NpgsqlDbType.Text, () => Enumerable.Range(0, _random.Next(0, 3)).Select(_ => Pick(["sad", "ok", "happy"])).ToArray()));
    }

    private NpgsqlParameter Maybe(NpgsqlDbType type, Func<object> value) =>
        new() { NpgsqlDbType = type, Value = _random.Next(10) == 0 ? DBNull.Value : value() };

    private DateTime RandomTimestamp(DateTimeKind kind) =>
        new(new DateTime(1990, 1, 1).Ticks + (_random.NextInt64(0, 50L * 365 * 24 * 3600 * 1_000_000) * 10), kind);

    private string RandomText(int length)
    {
        // Random hex: incompressible, so long values really are stored out of line (TOAST).
        var text = new StringBuilder(length);
        while (text.Length < length)
        {
            text.Append(_random.Next().ToString("x8", CultureInfo.InvariantCulture));
        }

        return text.ToString(0, length);
    }

    private string RandomDigits(int length) => string.Concat(Enumerable.Range(0, length).Select(i => (char)('0' + (i == 0 ? _random.Next(1, 10) : _random.Next(10)))));

    private T Pick<T>(IReadOnlyList<T> items) => items[_random.Next(items.Count)];

    private async Task ExecuteAsync(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
        Statements++;
    }
}
