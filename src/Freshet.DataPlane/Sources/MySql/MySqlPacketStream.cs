using System.Buffers;
using System.Buffers.Binary;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// The MySQL packet layer ("MySQL Packets" in the client/server protocol docs): each packet is a 3-byte little-endian
/// payload length, a 1-byte sequence id, then the payload. A payload of 0xFFFFFF bytes or more is sent as chunks of
/// exactly 0xFFFFFF bytes followed by a shorter one (possibly empty); <see cref="ReadPayloadAsync"/> hands back the
/// whole payload. The sequence id starts at 0 with every command and increases by one per packet in either direction.
/// </summary>
internal sealed class MySqlPacketStream(Stream stream) : IDisposable
{
    public const int MaxChunk = 0xFFFFFF;

    private Stream _stream = stream;
    private byte[] _payload = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private byte[] _read = ArrayPool<byte>.Shared.Rent(64 * 1024);
    private int _readStart;
    private int _readEnd;
    private byte _sequence;

    /// <summary>
    /// Carries on over another stream (the TLS stream wrapped around the socket after an SSLRequest). Nothing may be
    /// buffered from the old one: the server sends nothing between the SSLRequest and the TLS handshake.
    /// </summary>
    public void SwitchTo(Stream stream)
    {
        if (_readEnd != _readStart)
        {
            throw new MySqlProtocolException($"The server sent {_readEnd - _readStart} bytes before the TLS handshake.");
        }

        _stream = stream;
    }

    /// <summary>Starts a new command: the next packet sent carries sequence id 0.</summary>
    public void ResetSequence() => _sequence = 0;

    /// <summary>Reads one whole payload; the memory is valid until the next read.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadPayloadAsync(CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            await FillAsync(4, cancellationToken).ConfigureAwait(false);
            var header = _read.AsSpan(_readStart, 4);
            var chunk = header[0] | header[1] << 8 | header[2] << 16;
            var sequence = header[3];
            _readStart += 4;
            if (sequence != _sequence)
            {
                throw new MySqlProtocolException($"Packet out of order: sequence id {sequence}, expected {_sequence}.");
            }

            _sequence++;
            EnsurePayloadCapacity(length + chunk);
            var copied = 0;
            while (copied < chunk)
            {
                if (_readEnd == _readStart)
                {
                    await FillAsync(1, cancellationToken).ConfigureAwait(false);
                }

                var take = Math.Min(chunk - copied, _readEnd - _readStart);
                _read.AsSpan(_readStart, take).CopyTo(_payload.AsSpan(length + copied));
                _readStart += take;
                copied += take;
            }

            length += chunk;
            if (chunk < MaxChunk)
            {
                return _payload.AsMemory(0, length);
            }
        }
    }

    /// <summary>Writes one payload, split into chunks as the protocol requires, and flushes.</summary>
    public async ValueTask WritePayloadAsync(ReadOnlyMemory<byte> payload, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        var offset = 0;
        while (true)
        {
            var chunk = Math.Min(MaxChunk, payload.Length - offset);
            header[0] = (byte)chunk;
            header[1] = (byte)(chunk >> 8);
            header[2] = (byte)(chunk >> 16);
            header[3] = _sequence++;
            await _stream.WriteAsync(header, cancellationToken).ConfigureAwait(false);
            await _stream.WriteAsync(payload.Slice(offset, chunk), cancellationToken).ConfigureAwait(false);
            offset += chunk;
            if (chunk < MaxChunk)
            {
                break;
            }
        }

        await _stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_payload);
        ArrayPool<byte>.Shared.Return(_read);
        _payload = [];
        _read = [];
    }

    private async ValueTask FillAsync(int needed, CancellationToken cancellationToken)
    {
        if (_readEnd - _readStart >= needed)
        {
            return;
        }

        if (_readStart > 0)
        {
            _read.AsSpan(_readStart, _readEnd - _readStart).CopyTo(_read);
            _readEnd -= _readStart;
            _readStart = 0;
        }

        while (_readEnd < needed)
        {
            var read = await _stream.ReadAsync(_read.AsMemory(_readEnd), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new MySqlProtocolException("The server closed the connection.");
            }

            _readEnd += read;
        }
    }

    private void EnsurePayloadCapacity(int size)
    {
        if (size <= _payload.Length)
        {
            return;
        }

        var larger = ArrayPool<byte>.Shared.Rent(Math.Max(size, _payload.Length * 2));
        _payload.AsSpan().CopyTo(larger);
        ArrayPool<byte>.Shared.Return(_payload);
        _payload = larger;
    }
}

/// <summary>Builds a payload to send.</summary>
internal sealed class PayloadWriter
{
    private readonly ArrayBufferWriter<byte> _buffer = new(256);

    public ReadOnlyMemory<byte> Written => _buffer.WrittenMemory;

    public PayloadWriter Byte(byte value)
    {
        _buffer.GetSpan(1)[0] = value;
        _buffer.Advance(1);
        return this;
    }

    public PayloadWriter UInt16(ushort value)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(_buffer.GetSpan(2), value);
        _buffer.Advance(2);
        return this;
    }

    public PayloadWriter UInt32(uint value)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(_buffer.GetSpan(4), value);
        _buffer.Advance(4);
        return this;
    }

    public PayloadWriter Bytes(ReadOnlySpan<byte> value)
    {
        _buffer.Write(value);
        return this;
    }

    public PayloadWriter Zeros(int count)
    {
        _buffer.GetSpan(count)[..count].Clear();
        _buffer.Advance(count);
        return this;
    }

    public PayloadWriter NullTerminated(string value)
    {
        _buffer.Write(System.Text.Encoding.UTF8.GetBytes(value));
        return Byte(0);
    }

    /// <summary>A string prefixed by its length in one byte (COM_REGISTER_SLAVE's fields, the pre-4.1 auth response).</summary>
    public PayloadWriter ShortLengthPrefixed(ReadOnlySpan<byte> value)
    {
        if (value.Length > 255)
        {
            throw new ArgumentOutOfRangeException(nameof(value), "At most 255 bytes fit a one-byte length.");
        }

        Byte((byte)value.Length);
        return Bytes(value);
    }

    public PayloadWriter LengthEncodedBytes(ReadOnlySpan<byte> value)
    {
        var length = (ulong)value.Length;
        if (length < 0xFB)
        {
            Byte((byte)length);
        }
        else if (length <= 0xFFFF)
        {
            Byte(0xFC).UInt16((ushort)length);
        }
        else
        {
            Byte(0xFD).Byte((byte)length).Byte((byte)(length >> 8)).Byte((byte)(length >> 16));
        }

        return Bytes(value);
    }
}
