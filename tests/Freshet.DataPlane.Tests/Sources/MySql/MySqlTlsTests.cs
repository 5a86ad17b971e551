using Freshet.DataPlane.Sources.MySql;
using Freshet.Testing;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>
/// TLS of the replication client against a real MariaDB that requires it (<c>require_secure_transport=ON</c>, a
/// certificate signed by a throwaway CA the fixture makes with openssl), and against one that offers no TLS.
/// </summary>
public sealed class MySqlTlsTests
{
    private static readonly MariaDbServerOptions TlsServer = new(RequireTls: true);

    [Fact]
    public async Task Stream_VerifyIdentityWithTheServersCa_EncryptedAndDecodesTheRows()
    {
        var source = await MariaDbSource.CreateAsync("tls", TlsServer);
        Assert.Equal(MySqlTlsMode.VerifyIdentity, source.Endpoint.Tls.Mode);
        await source.ExecuteAsync("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))");
        var (file, position) = await source.HeadAsync();
        await source.ExecuteAsync("INSERT INTO t VALUES (1, 'über TLS'), (2, NULL)", "UPDATE t SET v = 'zwei' WHERE id = 2", "DELETE FROM t WHERE id = 1");

        // The server's own view of this session: it sees a TLS cipher, not only our flag.
        await using (var connection = await MySqlProtocolConnection.OpenAsync(source.Endpoint, CancellationToken.None))
        {
            Assert.True(connection.IsEncrypted);
            var cipher = (await connection.QueryAsync("SHOW SESSION STATUS LIKE 'Ssl_cipher'", CancellationToken.None))[0][1];
            Assert.False(string.IsNullOrEmpty(cipher), "the server reports no TLS cipher for the session");
        }

        var events = await source.ReadToEndAsync(new BinlogStreamOptions(MariaDbSource.NewServerId(), File: file, Position: position));

        var rows = source.OwnRows(events).ToList();
        Assert.Equal([RowsEventKind.Write, RowsEventKind.Update, RowsEventKind.Delete], rows.Select(r => r.Kind));
        Assert.Equal(["über TLS", null], rows[0].Rows.Select(r => r.After![1]));
        Assert.Equal("zwei", rows[1].Rows[0].After![1]);
        Assert.Equal(1, rows[2].Rows[0].Before![0]);
    }

    [Fact]
    public async Task Open_VerifyCaWithAnUnrelatedCa_RefusesNamingTheCertificateAndMode()
    {
        var source = await MariaDbSource.CreateAsync("tls", TlsServer);
        var wrongCa = source.Endpoint with { TlsOptions = new MySqlTlsOptions(MySqlTlsMode.VerifyCa, source.Server.UnrelatedCaCertificatePem) };

        var error = await Assert.ThrowsAsync<MySqlTlsException>(() => MySqlProtocolConnection.OpenAsync(wrongCa, CancellationToken.None));

        Assert.Contains("ssl_mode verify_ca", error.Message, StringComparison.Ordinal);
        Assert.Contains("is not signed by the CA in ssl_ca", error.Message, StringComparison.Ordinal);
        Assert.Contains("CN=localhost", error.Message, StringComparison.Ordinal);
        Assert.Contains("freshet-test-ca", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_VerifyCaWithoutCaOption_RefusesTheUntrustedThrowawayCa()
    {
        var source = await MariaDbSource.CreateAsync("tls", TlsServer);
        var systemRoots = source.Endpoint with { TlsOptions = new MySqlTlsOptions(MySqlTlsMode.VerifyCa) };

        var error = await Assert.ThrowsAsync<MySqlTlsException>(() => MySqlProtocolConnection.OpenAsync(systemRoots, CancellationToken.None));

        Assert.Contains("not signed by a CA this machine trusts; give the CA in ssl_ca", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_RequiredWithoutCa_EncryptsWithoutCheckingAndDisabledIsRefusedByTheServer()
    {
        var source = await MariaDbSource.CreateAsync("tls", TlsServer);

        await using (var required = await MySqlProtocolConnection.OpenAsync(source.Endpoint with { TlsOptions = new MySqlTlsOptions(MySqlTlsMode.Required) }, CancellationToken.None))
        {
            Assert.True(required.IsEncrypted);
        }

        await using (var preferred = await MySqlProtocolConnection.OpenAsync(source.Endpoint with { TlsOptions = null }, CancellationToken.None))
        {
            Assert.True(preferred.IsEncrypted);
        }

        var plain = source.Endpoint with { TlsOptions = new MySqlTlsOptions(MySqlTlsMode.Disabled) };
        var refused = await Assert.ThrowsAsync<MySqlServerException>(() => MySqlProtocolConnection.OpenAsync(plain, CancellationToken.None));
        // MariaDB 10.11 refuses a plain login under require_secure_transport as "Access denied"; the message adds why.
        Assert.Equal(MySqlServerException.AccessDenied, refused.ErrorCode);
        Assert.Contains("without TLS (ssl_mode disabled, though the server offers TLS", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Open_RequiredAgainstServerWithoutTls_FailsSayingSoAndPreferredFallsBackToPlain()
    {
        var source = await MariaDbSource.CreateAsync("tls_plain");

        var error = await Assert.ThrowsAsync<MySqlTlsException>(() =>
            MySqlProtocolConnection.OpenAsync(source.Endpoint with { TlsOptions = new MySqlTlsOptions(MySqlTlsMode.Required) }, CancellationToken.None));
        await using var preferred = await MySqlProtocolConnection.OpenAsync(source.Endpoint, CancellationToken.None);

        Assert.Contains("ssl_mode is required, but the server", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not offer TLS", error.Message, StringComparison.Ordinal);
        Assert.False(preferred.IsEncrypted);
    }

    [Theory]
    [InlineData("sometimes", null, "ssl_mode 'sometimes' is not one of disabled, preferred, required, verify_ca, verify_identity.")]
    [InlineData("verify_ca", "not a certificate", "ssl_ca holds no certificate")]
    public void FromSettings_BadModeOrCa_RefusedWithTheReason(string mode, string? ca, string expected)
    {
        var error = Assert.Throws<FormatException>(() => MySqlTlsOptions.FromSettings(mode, ca));

        Assert.StartsWith(expected, error.Message, StringComparison.Ordinal);
    }
}
