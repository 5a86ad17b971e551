using System.Security.Cryptography;
using System.Text;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>The server's first packet ("Protocol::HandshakeV10").</summary>
internal sealed record ServerHandshake(string ServerVersion, uint ConnectionId, uint Capabilities, byte[] Scramble, string AuthPluginName)
{
    public bool IsMariaDb => ServerVersion.Contains("MariaDB", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// protocol_version(1)=10, server_version NUL, connection_id(4), scramble part 1 (8), filler(1), capabilities low(2),
    /// charset(1), status(2), capabilities high(2), scramble length(1), reserved(10; MariaDB puts its extended
    /// capabilities in the last 4), scramble part 2 (max(13, length − 8), NUL-terminated), auth plugin name NUL.
    /// </summary>
    public static ServerHandshake Parse(ReadOnlySpan<byte> payload)
    {
        var reader = new PayloadReader(payload);
        var protocol = reader.ReadByte();
        if (protocol == 0xFF)
        {
            throw MySqlServerException.FromErrorPacket(payload, "Connecting");
        }

        if (protocol != 10)
        {
            throw new MySqlProtocolException($"The server speaks handshake protocol {protocol}; only version 10 is supported.");
        }

        var version = reader.ReadNullTerminatedString();
        var connectionId = reader.ReadUInt32();
        var scramble1 = reader.ReadBytes(8).ToArray();
        reader.Skip(1);
        uint capabilities = reader.ReadUInt16();
        reader.Skip(1 + 2);
        capabilities |= (uint)reader.ReadUInt16() << 16;
        var scrambleLength = reader.ReadByte();
        reader.Skip(10);
        byte[] scramble = scramble1;
        if ((capabilities & MySqlCapabilities.SecureConnection) != 0)
        {
            var part2Length = Math.Max(13, scrambleLength - 8);
            var part2 = reader.ReadBytes(Math.Min(part2Length, reader.Remaining));
            // The last byte of part 2 is a NUL terminator, not scramble.
            scramble = [.. scramble1, .. part2[..^1]];
        }

        var plugin = (capabilities & MySqlCapabilities.PluginAuth) != 0 && reader.Remaining > 0
            ? reader.ReadNullTerminatedString()
            : MySqlAuthentication.NativePassword;
        return new ServerHandshake(version, connectionId, capabilities, scramble, plugin);
    }
}

internal static class MySqlCapabilities
{
    public const uint LongPassword = 0x1;
    public const uint LongFlag = 0x4;
    public const uint ConnectWithDb = 0x8;
    public const uint Protocol41 = 0x200;
    public const uint Ssl = 0x800;
    public const uint Transactions = 0x2000;
    public const uint SecureConnection = 0x8000;
    public const uint PluginAuth = 0x80000;
    public const uint PluginAuthLengthEncodedData = 0x200000;
}

/// <summary>The auth plugins' scrambles ("Authentication Methods" in the MySQL internals).</summary>
internal static class MySqlAuthentication
{
    public const string NativePassword = "mysql_native_password";
    public const string CachingSha2Password = "caching_sha2_password";

    /// <summary>AuthMoreData of caching_sha2_password: the scramble matched the server's cache.</summary>
    public const byte FastAuthSuccess = 3;

    /// <summary>AuthMoreData of caching_sha2_password: the server needs the password itself (TLS, or RSA-encrypted).</summary>
    public const byte PerformFullAuthentication = 4;

    /// <summary>Client request for the server's RSA public key (caching_sha2_password without TLS).</summary>
    public const byte RequestPublicKey = 2;

    public static bool IsSupported(string plugin) => plugin is NativePassword or CachingSha2Password;

    /// <summary>The first auth response a plugin sends for this scramble.</summary>
    public static byte[] Scramble(string plugin, string password, ReadOnlySpan<byte> scramble) => plugin switch
    {
        NativePassword => NativePasswordScramble(password, scramble),
        CachingSha2Password => CachingSha2Scramble(password, scramble),
        _ => throw new BinlogUnsupportedException(
            $"The server asks for the authentication plugin '{plugin}'; this client speaks {NativePassword} and {CachingSha2Password}. " +
            "Give the replication user one of those (ALTER USER … IDENTIFIED VIA mysql_native_password USING PASSWORD('…') on MariaDB)."),
    };

    /// <summary><c>SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))</c>; empty for an empty password.</summary>
    public static byte[] NativePasswordScramble(string password, ReadOnlySpan<byte> scramble)
    {
        if (password.Length == 0)
        {
            return [];
        }

        var stage1 = SHA1.HashData(Encoding.UTF8.GetBytes(password));
        var stage2 = SHA1.HashData(stage1);
        var salted = SHA1.HashData([.. scramble[..20], .. stage2]);
        for (var i = 0; i < stage1.Length; i++)
        {
            stage1[i] ^= salted[i];
        }

        return stage1;
    }

    /// <summary><c>SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble)</c>; empty for an empty password.</summary>
    public static byte[] CachingSha2Scramble(string password, ReadOnlySpan<byte> scramble)
    {
        if (password.Length == 0)
        {
            return [];
        }

        var stage1 = SHA256.HashData(Encoding.UTF8.GetBytes(password));
        var stage2 = SHA256.HashData(stage1);
        var salted = SHA256.HashData([.. stage2, .. scramble[..20]]);
        for (var i = 0; i < stage1.Length; i++)
        {
            stage1[i] ^= salted[i];
        }

        return stage1;
    }

    /// <summary>
    /// caching_sha2_password full authentication without TLS: the NUL-terminated password XOR the scramble (repeated),
    /// encrypted with the server's RSA public key using OAEP padding (SHA-1), as the server's sha256 plugins expect.
    /// </summary>
    public static byte[] RsaEncryptPassword(string password, ReadOnlySpan<byte> scramble, string publicKeyPem)
    {
        var plain = Encoding.UTF8.GetBytes(password + "\0");
        for (var i = 0; i < plain.Length; i++)
        {
            plain[i] ^= scramble[i % 20];
        }

        using var rsa = RSA.Create();
        rsa.ImportFromPem(publicKeyPem);
        return rsa.Encrypt(plain, RSAEncryptionPadding.OaepSHA1);
    }
}
