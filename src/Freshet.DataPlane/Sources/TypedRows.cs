using Freshet.DataPlane.Schema;

namespace Freshet.DataPlane.Sources;

/// <summary>
/// A snapshot chunk whose rows can also be read value by value in their natural types, without a boxed object per value
/// and a .NET string per text (a copy that writes straight into columnar storage spends most of its time on those).
/// The <see cref="IAsyncEnumerable{T}"/> that <see cref="ISnapshotSession.ReadChunkAsync"/> returns may implement it;
/// a destination that can use it opens the rows one way or the other, never both.
/// </summary>
internal interface ITypedRowSource
{
    /// <summary>Whether every column is of a kind <see cref="ITypedRows"/> hands over (no arrays or intervals).</summary>
    bool CanReadTyped { get; }

    /// <summary>Starts reading the chunk (it may wait for the source); the rows are read in the schema's column order.</summary>
    ValueTask<ITypedRows> OpenTypedAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A chunk's rows, one at a time. The getters read the current row's value of a column of the matching kind (see each);
/// <see cref="GetValue"/> gives it as <see cref="ISnapshotSession.ReadChunkAsync"/> would, for rows a destination takes
/// the slow way (an infinity, say).
/// </summary>
internal interface ITypedRows : IAsyncDisposable
{
    /// <summary>Moves to the next row; false after the last.</summary>
    ValueTask<bool> MoveNextAsync();

    bool IsNull(int column);

    /// <summary><see cref="ValueKind.Int16"/>, <see cref="ValueKind.Int32"/> or <see cref="ValueKind.Int64"/>.</summary>
    long GetInteger(int column);

    /// <summary><see cref="ValueKind.Float32"/> or <see cref="ValueKind.Float64"/>.</summary>
    double GetFloat(int column);

    bool GetBoolean(int column);

    /// <summary>The UTF-8 text of <see cref="ValueKind.Text"/>, <see cref="ValueKind.Json"/>, <see cref="ValueKind.Enum"/> or <see cref="ValueKind.NumericText"/>; valid until the next move.</summary>
    ReadOnlySpan<byte> GetUtf8(int column);

    /// <summary><see cref="ValueKind.Bytes"/>; valid until the next move.</summary>
    ReadOnlySpan<byte> GetBytes(int column);

    /// <summary>A <see cref="ValueKind.Uuid"/>'s 16 bytes in RFC 4122 (big-endian) order; valid until the next move.</summary>
    ReadOnlySpan<byte> GetUuid(int column);

    /// <summary>A <see cref="ValueKind.Date"/> as days since 1970-01-01; false for an infinity.</summary>
    bool TryGetDate(int column, out int days);

    /// <summary>A <see cref="ValueKind.Time"/> as microseconds since midnight.</summary>
    long GetTime(int column);

    /// <summary>
    /// A <see cref="ValueKind.Timestamp"/> (wall clock) or <see cref="ValueKind.TimestampTz"/> (UTC) as microseconds since
    /// 1970-01-01; false for an infinity.
    /// </summary>
    bool TryGetTimestamp(int column, out long microseconds);

    /// <summary>A <see cref="ValueKind.Decimal"/> times 10^<paramref name="scale"/>; false when that is not a whole number (or NaN, or an infinity).</summary>
    bool TryGetScaledDecimal(int column, int scale, out Int128 scaled);

    /// <summary>The value as <see cref="ISnapshotSession.ReadChunkAsync"/> gives it.</summary>
    object? GetValue(int column);
}
