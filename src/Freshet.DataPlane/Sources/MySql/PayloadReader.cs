using System.Buffers.Binary;
using System.Text;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// Reads the integer and string encodings of the MySQL client/server protocol and the binlog from a payload, front to
/// back (all little-endian, as "Protocol Basics: Integer Types / String Types" of the MySQL internals describe).
/// </summary>
internal ref struct PayloadReader(ReadOnlySpan<byte> payload)
{
    private readonly ReadOnlySpan<byte> _payload = payload;

    public int Position { get; set; }

    public readonly int Remaining => _payload.Length - Position;

    public readonly ReadOnlySpan<byte> Rest => _payload[Position..];

    public byte ReadByte() => _payload[Position++];

    public ushort ReadUInt16()
    {
        var value = BinaryPrimitives.ReadUInt16LittleEndian(_payload[Position..]);
        Position += 2;
        return value;
    }

    public uint ReadUInt24()
    {
        var value = (uint)(_payload[Position] | _payload[Position + 1] << 8 | _payload[Position + 2] << 16);
        Position += 3;
        return value;
    }

    public uint ReadUInt32()
    {
        var value = BinaryPrimitives.ReadUInt32LittleEndian(_payload[Position..]);
        Position += 4;
        return value;
    }

    public ulong ReadUInt48()
    {
        var value = BinaryPrimitives.ReadUInt32LittleEndian(_payload[Position..]) | (ulong)BinaryPrimitives.ReadUInt16LittleEndian(_payload[(Position + 4)..]) << 32;
        Position += 6;
        return value;
    }

    public ulong ReadUInt64()
    {
        var value = BinaryPrimitives.ReadUInt64LittleEndian(_payload[Position..]);
        Position += 8;
        return value;
    }

    /// <summary>A little-endian unsigned integer of 1 to 8 bytes.</summary>
    public ulong ReadFixed(int bytes)
    {
        ulong value = 0;
        for (var i = 0; i < bytes; i++)
        {
            value |= (ulong)_payload[Position + i] << (8 * i);
        }

        Position += bytes;
        return value;
    }

    /// <summary>A length-encoded integer: &lt;0xFB is the value, 0xFC/0xFD/0xFE prefix 2/3/8 bytes; 0xFB (NULL) is refused.</summary>
    public ulong ReadLengthEncoded()
    {
        var first = ReadByte();
        return first switch
        {
            < 0xFB => first,
            0xFC => ReadUInt16(),
            0xFD => ReadUInt24(),
            0xFE => ReadUInt64(),
            _ => throw new MySqlProtocolException($"Unexpected length-encoded integer prefix 0x{first:X2} at offset {Position - 1}."),
        };
    }

    public ReadOnlySpan<byte> ReadBytes(int count)
    {
        if (count < 0 || count > Remaining)
        {
            throw new MySqlProtocolException($"A field of {count} bytes at offset {Position} runs past the end of a {_payload.Length}-byte payload.");
        }

        var bytes = _payload.Slice(Position, count);
        Position += count;
        return bytes;
    }

    public ReadOnlySpan<byte> ReadLengthEncodedBytes() => ReadBytes(checked((int)ReadLengthEncoded()));

    public string ReadLengthEncodedString() => Encoding.UTF8.GetString(ReadLengthEncodedBytes());

    public string ReadNullTerminatedString()
    {
        var end = _payload[Position..].IndexOf((byte)0);
        if (end < 0)
        {
            throw new MySqlProtocolException($"A NUL-terminated string at offset {Position} has no terminator.");
        }

        var text = Encoding.UTF8.GetString(_payload.Slice(Position, end));
        Position += end + 1;
        return text;
    }

    public string ReadFixedString(int length) => Encoding.UTF8.GetString(ReadBytes(length));

    public void Skip(int count) => ReadBytes(count);
}
