using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// caching_sha2_password, MySQL 8's default auth plugin. MariaDB 10.11 cannot serve it and no MySQL server runs on
/// these machines, so every behaviour here is checked ONLY against <see cref="AuthPeer"/>: a TCP peer in this file that
/// speaks the server side as the MySQL internals document it ("caching_sha2_password information", "Protocol::
/// AuthSwitchRequest", "Protocol::SSLRequest"), and verifies what the client sends the way the server does (the
/// stored SHA256(SHA256(password)) against the scramble; the RSA-OAEP decrypted password; the cleartext password
/// inside TLS). The scramble formulas are also checked against known answers computed outside .NET (Python hashlib).
/// </summary>
public sealed class MySqlAuthenticationTests
{
    private const string Password = "s3cret-ü";

    private static readonly byte[] Counting = [.. Enumerable.Range(1, 20).Select(i => (byte)i)];

    [Fact]
    public void Scrambles_MatchKnownAnswersComputedWithPythonHashlib()
    {
        // hashlib: s1 = sha256(b'secret'); x = sha256(sha256(s1) + bytes(range(1, 21))); s1 XOR x
        Assert.Equal("746ebe205d56a0707acb3e796e834e0dd7b1d61743b26bd5202c7a623230c7c9", Convert.ToHexStringLower(MySqlAuthentication.CachingSha2Scramble("secret", Counting)));
        // hashlib: s1 = sha1(b'secret'); x = sha1(bytes(range(1, 21)) + sha1(s1)); s1 XOR x
        Assert.Equal("b32bb3a583e1340c0a1108d58b1be49781ad8c2f", Convert.ToHexStringLower(MySqlAuthentication.NativePasswordScramble("secret", Counting)));
        Assert.Empty(MySqlAuthentication.CachingSha2Scramble("", Counting));
    }

    [Fact]
    public async Task CachingSha2_FastPath_ServerVerifiesTheScrambleAndReportsFastAuthSuccess()
    {
        await using var peer = AuthPeer.Start(AuthPeer.Behaviour.FastPath);

        await using var connection = await MySqlProtocolConnection.OpenAsync(peer.Endpoint(Password, MySqlTlsMode.Disabled), CancellationToken.None);

        Assert.Equal(MySqlAuthentication.CachingSha2Password, connection.AuthPlugin);
        Assert.Equal(["scramble verified", "fast auth success", "OK"], await peer.StepsAsync());
    }

    [Fact]
    public async Task CachingSha2_FastPathWithWrongPassword_ServerRefuses()
    {
        await using var peer = AuthPeer.Start(AuthPeer.Behaviour.FastPath);

        var error = await Assert.ThrowsAsync<MySqlServerException>(() => MySqlProtocolConnection.OpenAsync(peer.Endpoint("wrong", MySqlTlsMode.Disabled), CancellationToken.None));

        Assert.Equal(MySqlServerException.AccessDenied, error.ErrorCode);
        Assert.Equal(["scramble rejected"], await peer.StepsAsync());
    }

    [Fact]
    public async Task CachingSha2_FullAuthenticationWithoutTls_RequestsTheRsaKeyAndSendsTheOaepEncryptedPassword()
    {
        await using var peer = AuthPeer.Start(AuthPeer.Behaviour.FullAuthentication);

        await using var connection = await MySqlProtocolConnection.OpenAsync(peer.Endpoint(Password, MySqlTlsMode.Disabled), CancellationToken.None);

        Assert.False(connection.IsEncrypted);
        Assert.Equal(["scramble verified", "perform full authentication", "public key requested", "RSA password verified", "OK"], await peer.StepsAsync());
    }

    [Fact]
    public async Task CachingSha2_FullAuthenticationInsideTls_SendsThePasswordItself()
    {
        await using var peer = AuthPeer.Start(AuthPeer.Behaviour.FullAuthentication, offerTls: true);

        await using var connection = await MySqlProtocolConnection.OpenAsync(peer.Endpoint(Password, MySqlTlsMode.Required), CancellationToken.None);

        Assert.True(connection.IsEncrypted);
        Assert.Equal(["TLS", "scramble verified", "perform full authentication", "cleartext password verified", "OK"], await peer.StepsAsync());
    }

    [Fact]
    public async Task AuthSwitch_FromNativePasswordToCachingSha2_AnswersWithTheNewPluginAndScramble()
    {
        await using var peer = AuthPeer.Start(AuthPeer.Behaviour.SwitchToCachingSha2);

        await using var connection = await MySqlProtocolConnection.OpenAsync(peer.Endpoint(Password, MySqlTlsMode.Disabled), CancellationToken.None);

        Assert.Equal(MySqlAuthentication.CachingSha2Password, connection.AuthPlugin);
        Assert.Equal(["first response is mysql_native_password", "switched", "scramble verified", "fast auth success", "OK"], await peer.StepsAsync());
    }

    /// <summary>
    /// One connection's server side of the sign-in, written from the documented formats with its own packet framing
    /// (not the client's): greeting, optional TLS, HandshakeResponse41, then the plugin's exchange. It records each step.
    /// </summary>
    private sealed class AuthPeer : IAsyncDisposable
    {
        private const uint Capabilities = 0x1 | 0x4 | 0x200 | 0x2000 | 0x8000 | 0x80000 | 0x200000;
        private const uint SslCapability = 0x800;

        private readonly TcpListener _listener;
        private readonly Task<List<string>> _serving;

        private AuthPeer(TcpListener listener, Behaviour behaviour, bool offerTls)
        {
            _listener = listener;
            _serving = Task.Run(() => ServeAsync(behaviour, offerTls));
        }

        public enum Behaviour
        {
            FastPath,
            FullAuthentication,
            SwitchToCachingSha2,
        }

        private int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public static AuthPeer Start(Behaviour behaviour, bool offerTls = false)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return new AuthPeer(listener, behaviour, offerTls);
        }

        public MySqlEndpoint Endpoint(string password, MySqlTlsMode tls) => new("127.0.0.1", Port, "app", password, new MySqlTlsOptions(tls));

        public async Task<List<string>> StepsAsync() => await _serving.WaitAsync(TimeSpan.FromSeconds(30));

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            try
            {
                await _serving.WaitAsync(TimeSpan.FromSeconds(30));
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or EndOfStreamException)
            {
                // The client hung up early in a failing test; its assertion says why.
            }
        }

        private static byte[] Sha256(params byte[][] parts) => SHA256.HashData(parts.SelectMany(p => p).ToArray());

        private static byte[] NewScramble()
        {
            // Scramble bytes are never NUL (the greeting NUL-terminates them).
            var scramble = RandomNumberGenerator.GetBytes(20);
            for (var i = 0; i < scramble.Length; i++)
            {
                scramble[i] = (byte)(scramble[i] % 127 + 1);
            }

            return scramble;
        }

        private static X509Certificate2 SelfSignedCertificate()
        {
            using var key = RSA.Create(2048);
            var request = new CertificateRequest("CN=auth-peer", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
            return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), null);
        }

        private async Task<List<string>> ServeAsync(Behaviour behaviour, bool offerTls)
        {
            var steps = new List<string>();
            using var client = await _listener.AcceptTcpClientAsync();
            Stream stream = client.GetStream();
            var scramble = NewScramble();
            var plugin = behaviour == Behaviour.SwitchToCachingSha2 ? "mysql_native_password" : "caching_sha2_password";
            var capabilities = Capabilities | (offerTls ? SslCapability : 0);

            // HandshakeV10: protocol 10, version NUL, connection id, scramble[0..8], 0, caps low, charset, status, caps
            // high, scramble length 21, 10 reserved, scramble[8..20] NUL, plugin NUL.
            var greeting = new MemoryStream();
            greeting.WriteByte(10);
            greeting.Write(Encoding.ASCII.GetBytes("8.0.40-peer\0"));
            greeting.Write(BitConverter.GetBytes(7u));
            greeting.Write(scramble.AsSpan(0, 8));
            greeting.WriteByte(0);
            greeting.Write(BitConverter.GetBytes((ushort)capabilities));
            greeting.WriteByte(255);
            greeting.Write(BitConverter.GetBytes((ushort)2));
            greeting.Write(BitConverter.GetBytes((ushort)(capabilities >> 16)));
            greeting.WriteByte(21);
            greeting.Write(new byte[10]);
            greeting.Write(scramble.AsSpan(8));
            greeting.WriteByte(0);
            greeting.Write(Encoding.ASCII.GetBytes(plugin + "\0"));
            byte sequence = 0;
            await WriteAsync(stream, sequence, greeting.ToArray());

            var (seq, response) = await ReadAsync(stream);
            sequence = seq;
            var clientCapabilities = BinaryPrimitives.ReadUInt32LittleEndian(response);
            if ((clientCapabilities & SslCapability) != 0)
            {
                Assert.Equal(32, response.Length);
                var tls = new SslStream(stream);
                using var certificate = SelfSignedCertificate();
                await tls.AuthenticateAsServerAsync(certificate);
                stream = tls;
                steps.Add("TLS");
                (sequence, response) = await ReadAsync(stream);
            }

            // HandshakeResponse41: caps, max packet, charset, 23 zeros, user NUL, length-encoded auth response, plugin NUL.
            var position = 32;
            var userEnd = Array.IndexOf(response, (byte)0, position);
            Assert.Equal("app", Encoding.UTF8.GetString(response, position, userEnd - position));
            position = userEnd + 1;
            int authLength = response[position++];
            var auth = response.AsSpan(position, authLength).ToArray();
            position += authLength;
            var clientPlugin = Encoding.ASCII.GetString(response, position, Array.IndexOf(response, (byte)0, position) - position);
            Assert.Equal(plugin, clientPlugin);

            if (behaviour == Behaviour.SwitchToCachingSha2)
            {
                steps.Add($"first response is {clientPlugin}");
                scramble = NewScramble();
                await WriteAsync(stream, ++sequence, [0xFE, .. Encoding.ASCII.GetBytes("caching_sha2_password\0"), .. scramble, 0]);
                (sequence, auth) = await ReadAsync(stream);
                steps.Add("switched");
            }

            // The server keeps SHA256(SHA256(password)); XOR with SHA256(stored + scramble) must give SHA256(password).
            var stored = Sha256(Sha256(Encoding.UTF8.GetBytes(Password)));
            var mask = Sha256(stored, scramble);
            var candidate = auth.Select((b, i) => (byte)(b ^ mask[i % mask.Length])).ToArray();
            if (auth.Length != 32 || !Sha256(candidate).SequenceEqual(stored))
            {
                steps.Add("scramble rejected");
                await WriteAsync(stream, ++sequence, [0xFF, .. BitConverter.GetBytes((ushort)1045), .. Encoding.ASCII.GetBytes("#28000Access denied for user 'app'")]);
                return steps;
            }

            steps.Add("scramble verified");
            if (behaviour is Behaviour.FastPath or Behaviour.SwitchToCachingSha2)
            {
                await WriteAsync(stream, ++sequence, [0x01, 0x03]);
                steps.Add("fast auth success");
            }
            else
            {
                await WriteAsync(stream, ++sequence, [0x01, 0x04]);
                steps.Add("perform full authentication");
                (sequence, var next) = await ReadAsync(stream);
                var expected = Encoding.UTF8.GetBytes(Password + "\0");
                if (stream is SslStream)
                {
                    Assert.Equal(expected, next);
                    steps.Add("cleartext password verified");
                }
                else
                {
                    Assert.Equal([0x02], next);
                    steps.Add("public key requested");
                    using var rsa = RSA.Create(2048);
                    await WriteAsync(stream, ++sequence, [0x01, .. Encoding.ASCII.GetBytes(rsa.ExportSubjectPublicKeyInfoPem())]);
                    (sequence, var encrypted) = await ReadAsync(stream);
                    var plain = rsa.Decrypt(encrypted, RSAEncryptionPadding.OaepSHA1);
                    var password = plain.Select((b, i) => (byte)(b ^ scramble[i % scramble.Length])).ToArray();
                    Assert.Equal(expected, password);
                    steps.Add("RSA password verified");
                }
            }

            // OK: header 0, affected rows 0, last insert id 0, status, warnings.
            await WriteAsync(stream, ++sequence, [0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00]);
            steps.Add("OK");
            return steps;
        }

        private static async Task WriteAsync(Stream stream, byte sequence, byte[] payload)
        {
            var header = new byte[] { (byte)payload.Length, (byte)(payload.Length >> 8), (byte)(payload.Length >> 16), sequence };
            await stream.WriteAsync(header);
            await stream.WriteAsync(payload);
            await stream.FlushAsync();
        }

        private static async Task<(byte Sequence, byte[] Payload)> ReadAsync(Stream stream)
        {
            var header = new byte[4];
            await stream.ReadExactlyAsync(header);
            var payload = new byte[header[0] | header[1] << 8 | header[2] << 16];
            await stream.ReadExactlyAsync(payload);
            return (header[3], payload);
        }
    }
}
