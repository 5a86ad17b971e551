using Freshet.DataPlane.Changes;
using Freshet.DataPlane.Schema;
using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>Writes and reads data-plane values to a spill file; the column type tells how to rebuild typed arrays.</summary>
internal static class SpillCodec
{
    private const byte Null = 0;
    private const byte Unchanged = 1;
    private const byte Value = 2;

    public static void Write(BinaryWriter writer, object? value)
    {
        switch (value)
        {
            case null:
                writer.Write(Null);
                return;
            case UnchangedValue:
                writer.Write(Unchanged);
                return;
        }

        writer.Write(Value);
        if (value is Array array and not byte[])
        {
            writer.Write(array.Length);
            foreach (var element in array)
            {
                Write(writer, element);
            }

            return;
        }

        WriteScalar(writer, value);
    }

    public static object? Read(BinaryReader reader, ColumnType type)
    {
        switch (reader.ReadByte())
        {
            case Null:
                return null;
            case Unchanged:
                return UnchangedValue.Instance;
        }

        if (!type.IsArray)
        {
            return ReadScalar(reader, type.Kind);
        }

        var length = reader.ReadInt32();
        var elements = new object?[length];
        for (var i = 0; i < length; i++)
        {
            elements[i] = reader.ReadByte() == Null ? null : ReadScalar(reader, type.Kind);
        }

        return TypedArray(type.Kind, elements);
    }

    /// <summary>Builds the array type the source produces for a kind (e.g. <c>int?[]</c>, <c>string?[]</c>).</summary>
    public static Array TypedArray(ValueKind kind, object?[] elements)
    {
        Array Of<T>() where T : struct => elements.Select(e => (T?)e).ToArray();
        Array OfClass<T>() where T : class => elements.Select(e => (T?)e).ToArray();
        return kind switch
        {
            ValueKind.Int16 => Of<short>(),
            ValueKind.Int32 => Of<int>(),
            ValueKind.Int64 => Of<long>(),
            ValueKind.Decimal => Of<decimal>(),
            ValueKind.Float32 => Of<float>(),
            ValueKind.Float64 => Of<double>(),
            ValueKind.Boolean => Of<bool>(),
            ValueKind.Date => Of<DateOnly>(),
            ValueKind.Time => Of<TimeOnly>(),
            ValueKind.Timestamp or ValueKind.TimestampTz => Of<DateTime>(),
            ValueKind.Interval => Of<NpgsqlInterval>(),
            ValueKind.Uuid => Of<Guid>(),
            ValueKind.Bytes => OfClass<byte[]>(),
            _ => OfClass<string>(),
        };
    }

    private static void WriteScalar(BinaryWriter writer, object value)
    {
        switch (value)
        {
            case short v: writer.Write(v); break;
            case int v: writer.Write(v); break;
            case long v: writer.Write(v); break;
            case decimal v: writer.Write(v); break;
            case float v: writer.Write(v); break;
            case double v: writer.Write(v); break;
            case string v: writer.Write(v); break;
            case bool v: writer.Write(v); break;
            case DateOnly v: writer.Write(v.DayNumber); break;
            case TimeOnly v: writer.Write(v.Ticks); break;
            case DateTime v: writer.Write(v.ToBinary()); break;
            case NpgsqlInterval v:
                writer.Write(v.Months);
                writer.Write(v.Days);
                writer.Write(v.Time);
                break;
            case Guid v: writer.Write(v.ToByteArray()); break;
            case byte[] v:
                writer.Write(v.Length);
                writer.Write(v);
                break;
            default:
                throw new NotSupportedException($"Cannot spill a {value.GetType().Name}.");
        }
    }

    private static object ReadScalar(BinaryReader reader, ValueKind kind) => kind switch
    {
        ValueKind.Int16 => reader.ReadInt16(),
        ValueKind.Int32 => reader.ReadInt32(),
        ValueKind.Int64 => reader.ReadInt64(),
        ValueKind.Decimal => reader.ReadDecimal(),
        ValueKind.Float32 => reader.ReadSingle(),
        ValueKind.Float64 => reader.ReadDouble(),
        ValueKind.Boolean => reader.ReadBoolean(),
        ValueKind.Date => DateOnly.FromDayNumber(reader.ReadInt32()),
        ValueKind.Time => new TimeOnly(reader.ReadInt64()),
        ValueKind.Timestamp or ValueKind.TimestampTz => DateTime.FromBinary(reader.ReadInt64()),
        ValueKind.Interval => new NpgsqlInterval(reader.ReadInt32(), reader.ReadInt32(), reader.ReadInt64()),
        ValueKind.Uuid => new Guid(reader.ReadBytes(16)),
        ValueKind.Bytes => reader.ReadBytes(reader.ReadInt32()),
        _ => reader.ReadString(),
    };
}
