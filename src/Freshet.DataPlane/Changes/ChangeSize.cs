namespace Freshet.DataPlane.Changes;

/// <summary>
/// What a change holds on the heap while it waits in a batch, as the 64-bit runtime lays it out: the
/// <see cref="RowChange"/> (80 bytes), its slot in the batch's list, its values array (24 bytes and 8 a value) and each
/// boxed value or string. Batches are cut by this (<c>DeliverySpec.MaxBatchBytes</c>) and PostgreSQL's streamed
/// transactions spill by it, so it must follow real memory: the sources' earlier guesses were a third (PostgreSQL) to a
/// half (MySQL) under it for narrow rows (ChangeSizeTests measures the heap).
/// </summary>
internal static class ChangeSize
{
    private const int ChangeObject = 80;
    private const int ListSlot = 8;
    private const int ArrayHeader = 24;
    private const int Reference = 8;

    public static int Of(object?[] values)
    {
        var bytes = ChangeObject + ListSlot + ArrayHeader;
        foreach (var value in values)
        {
            bytes += Reference + Value(value);
        }

        return bytes;
    }

    /// <summary>A value's own object: a string or array with its contents, a boxed struct; nothing for null or a shared marker.</summary>
    public static int Value(object? value) => value switch
    {
        null or UnchangedValue => 0,
        string s => Aligned(22 + (2 * s.Length)),
        byte[] b => Aligned(ArrayHeader + b.Length),
        // A source array: its own array plus, roughly, a boxed element each.
        Array a => Aligned(ArrayHeader + (32 * a.Length)),
        // Boxed 16-byte structs: decimal, DateTimeOffset, Guid, NpgsqlInterval.
        decimal or DateTimeOffset or Guid or NpgsqlTypes.NpgsqlInterval => 32,
        // Boxed 8-byte-or-smaller structs: the integers, floats, bool, DateTime, DateOnly, TimeOnly, TimeSpan.
        _ => 24,
    };

    private static int Aligned(int bytes) => (bytes + 7) & ~7;
}
