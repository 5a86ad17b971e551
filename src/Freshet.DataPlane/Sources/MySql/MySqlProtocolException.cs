namespace Freshet.DataPlane.Sources.MySql;

/// <summary>The server's bytes do not follow the protocol as this client understands it (or the connection broke mid-packet).</summary>
internal class MySqlProtocolException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The server answered with an ERR packet.</summary>
internal sealed class MySqlServerException(ushort errorCode, string sqlState, string serverMessage, string context)
    : MySqlProtocolException($"{context}: the server answered error {errorCode} ({sqlState}): {serverMessage}")
{
    /// <summary>ER_ACCESS_DENIED_ERROR: wrong user name or password.</summary>
    public const ushort AccessDenied = 1045;

    /// <summary>ER_MASTER_FATAL_ERROR_READING_BINLOG: e.g. the requested binlog file or GTID is no longer there.</summary>
    public const ushort FatalErrorReadingBinlog = 1236;

    public ushort ErrorCode { get; } = errorCode;

    public string SqlState { get; } = sqlState;

    public string ServerMessage { get; } = serverMessage;

    /// <summary>Parses an ERR packet (0xFF, code(2), '#' + state(5) when PROTOCOL_41, message).</summary>
    public static MySqlServerException FromErrorPacket(ReadOnlySpan<byte> payload, string context)
    {
        var reader = new PayloadReader(payload);
        reader.Skip(1);
        var code = reader.ReadUInt16();
        var state = "HY000";
        if (reader.Remaining > 0 && reader.Rest[0] == (byte)'#')
        {
            reader.Skip(1);
            state = reader.ReadFixedString(5);
        }

        return new MySqlServerException(code, state, System.Text.Encoding.UTF8.GetString(reader.Rest), context);
    }
}

/// <summary>A binlog event whose CRC32 does not match its bytes: the stream is corrupt and must not be applied.</summary>
internal sealed class BinlogChecksumException(string message) : MySqlProtocolException(message);

/// <summary>A binlog feature this client does not decode (yet); the message says which and what to change at the source.</summary>
internal sealed class BinlogUnsupportedException(string message) : MySqlProtocolException(message);
