using System.IO.Compression;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>
/// The compressed part of MariaDB's compressed binlog events (log_bin_compress=ON: QUERY_COMPRESSED's statement text,
/// *_ROWS_COMPRESSED's row images), as MariaDB's binlog_buf_compress writes it: one header byte — the top bit set, the
/// algorithm in bits 4–6 (0 = zlib, the only one), the size of the length field in the low 3 bits — then the
/// uncompressed length, big-endian, in that many bytes, then a zlib stream.
/// </summary>
internal static class MariaDbCompressedPart
{
    public static byte[] Decompress(ReadOnlySpan<byte> part, BinlogEventHeader header)
    {
        if (part.IsEmpty)
        {
            throw new MySqlProtocolException($"A {header.Type} event ending at binlog position {header.NextPosition} has no compressed data.");
        }

        var flags = part[0];
        var algorithm = (flags >> 4) & 0x07;
        var lengthSize = flags & 0x07;
        if ((flags & 0x80) == 0 || algorithm != 0 || lengthSize is < 1 or > 4 || part.Length < 1 + lengthSize)
        {
            throw new MySqlProtocolException(
                $"A {header.Type} event ending at binlog position {header.NextPosition} has compression header 0x{flags:X2}; only zlib (0x81–0x84) exists.");
        }

        var length = 0;
        for (var i = 1; i <= lengthSize; i++)
        {
            length = (length << 8) | part[i];
        }

        var output = new byte[length];
        using var input = new MemoryStream(part[(1 + lengthSize)..].ToArray(), writable: false);
        using var zlib = new ZLibStream(input, CompressionMode.Decompress);
        var read = 0;
        int chunk;
        while (read < length && (chunk = zlib.Read(output, read, length - read)) > 0)
        {
            read += chunk;
        }

        if (read != length || zlib.ReadByte() != -1)
        {
            throw new MySqlProtocolException(
                $"A {header.Type} event ending at binlog position {header.NextPosition} promises {length} uncompressed bytes but its zlib data holds {(read != length ? read.ToString(System.Globalization.CultureInfo.InvariantCulture) : "more")}.");
        }

        return output;
    }
}
