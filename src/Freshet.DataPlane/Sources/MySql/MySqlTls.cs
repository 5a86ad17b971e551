using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Freshet.DataPlane.Sources.MySql;

/// <summary>The connection setting <c>ssl_mode</c>, with MySQL's client names (<c>--ssl-mode</c>).</summary>
internal enum MySqlTlsMode
{
    /// <summary>Never TLS.</summary>
    Disabled,

    /// <summary>TLS when the server offers it, without checking its certificate; plain otherwise.</summary>
    Preferred,

    /// <summary>TLS or no connection; the certificate is not checked (it protects against listening, not impersonation).</summary>
    Required,

    /// <summary>TLS with a certificate signed by the configured CA (or a system-trusted one); the host name is not checked.</summary>
    VerifyCa,

    /// <summary>As <see cref="VerifyCa"/>, and the certificate must name the host connected to.</summary>
    VerifyIdentity,
}

/// <summary>How a connection to a MySQL/MariaDB server uses TLS: the mode and, optionally, the CA that signs the server's certificate.</summary>
internal sealed record MySqlTlsOptions(MySqlTlsMode Mode, string? CaCertificatePem = null)
{
    /// <summary>The names <c>ssl_mode</c> takes, as the API's connection type lists them.</summary>
    public static readonly IReadOnlyList<string> ModeNames = ["disabled", "preferred", "required", "verify_ca", "verify_identity"];

    public static MySqlTlsOptions Preferred { get; } = new(MySqlTlsMode.Preferred);

    public bool Verifies => Mode is MySqlTlsMode.VerifyCa or MySqlTlsMode.VerifyIdentity;

    /// <summary>Reads <c>ssl_mode</c> (absent: preferred) and <c>ssl_ca</c> (PEM text) from connection settings.</summary>
    public static MySqlTlsOptions FromSettings(string? sslMode, string? caPem)
    {
        var mode = (sslMode ?? "preferred") switch
        {
            "disabled" => MySqlTlsMode.Disabled,
            "preferred" => MySqlTlsMode.Preferred,
            "required" => MySqlTlsMode.Required,
            "verify_ca" => MySqlTlsMode.VerifyCa,
            "verify_identity" => MySqlTlsMode.VerifyIdentity,
            _ => throw new FormatException($"ssl_mode '{sslMode}' is not one of {string.Join(", ", ModeNames)}."),
        };
        if (string.IsNullOrWhiteSpace(caPem))
        {
            return new MySqlTlsOptions(mode);
        }

        // Read now, so that a broken certificate is reported when the source is built rather than at the first connection.
        _ = LoadCaCertificates(caPem);
        return new MySqlTlsOptions(mode, caPem);
    }

    /// <summary>Every certificate in a PEM bundle; a bundle without one is refused.</summary>
    public static X509Certificate2Collection LoadCaCertificates(string pem)
    {
        var certificates = new X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(pem);
        }
        catch (CryptographicException e)
        {
            throw new FormatException($"ssl_ca is not a readable PEM certificate: {e.Message}", e);
        }

        return certificates.Count > 0
            ? certificates
            : throw new FormatException("ssl_ca holds no certificate (expected -----BEGIN CERTIFICATE-----).");
    }

    /// <summary>The CA certificate as a file, for MySqlConnector (whose <c>SslCa</c> takes a path); null without one.</summary>
    public string? CaCertificateFile() => CaCertificatePem is null ? null : Freshet.Contracts.MySqlCaFile.For(CaCertificatePem);
}

/// <summary>
/// The TLS upgrade of a MySQL connection ("Protocol::SSLRequest"): after the server's greeting the client sends the
/// first 32 bytes of its handshake response with CLIENT_SSL set, both sides run a TLS handshake on the socket, and
/// the sign-in continues inside TLS (the sequence ids carry on). The certificate check follows the mode.
/// </summary>
internal static class MySqlTlsUpgrade
{
    public static async Task<SslStream> AuthenticateAsync(Stream network, MySqlEndpoint endpoint, CancellationToken cancellationToken)
    {
        var tls = endpoint.Tls;
        string? rejection = null;
        var roots = tls.CaCertificatePem is null ? null : MySqlTlsOptions.LoadCaCertificates(tls.CaCertificatePem);
        var stream = new SslStream(network, leaveInnerStreamOpen: true);
        try
        {
            await stream.AuthenticateAsClientAsync(
                new SslClientAuthenticationOptions
                {
                    TargetHost = endpoint.Host,
                    RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                    {
                        rejection = Check(tls, roots, certificate, errors, endpoint.Host);
                        return rejection is null;
                    },
                },
                cancellationToken).ConfigureAwait(false);
            return stream;
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            await stream.DisposeAsync().ConfigureAwait(false);
            var reason = rejection ?? e.GetBaseException().Message;
            throw new MySqlTlsException($"TLS to {endpoint.Host}:{endpoint.Port} failed (ssl_mode {ModeName(tls.Mode)}): {reason}", e);
        }
    }

    public static string ModeName(MySqlTlsMode mode) => MySqlTlsOptions.ModeNames[(int)mode];

    /// <summary>Why the server's certificate is not acceptable in this mode, or null when it is.</summary>
    private static string? Check(MySqlTlsOptions tls, X509Certificate2Collection? roots, X509Certificate? presented, SslPolicyErrors errors, string host)
    {
        if (!tls.Verifies)
        {
            // preferred and required encrypt without checking who answers, as MySQL's own client does.
            return null;
        }

        if (presented is null || (errors & SslPolicyErrors.RemoteCertificateNotAvailable) != 0)
        {
            return "the server presented no certificate.";
        }

        using var certificate = new X509Certificate2(presented);
        if (roots is not null)
        {
            // Only the configured CA is trusted, not the machine's roots: that is what naming a CA asks for.
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.AddRange(roots);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            if (!chain.Build(certificate))
            {
                var status = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
                return $"the server's certificate ({certificate.Subject}, issued by {certificate.Issuer}) is not signed by the CA in ssl_ca: {status}";
            }
        }
        else if ((errors & SslPolicyErrors.RemoteCertificateChainErrors) != 0)
        {
            return $"the server's certificate ({certificate.Subject}, issued by {certificate.Issuer}) is not signed by a CA this machine trusts; give the CA in ssl_ca.";
        }

        if (tls.Mode == MySqlTlsMode.VerifyIdentity && (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return $"the server's certificate ({certificate.Subject}) does not name the host '{host}'; connect by a name it lists, or use verify_ca.";
        }

        return null;
    }
}

/// <summary>TLS could not be set up as the connection's ssl_mode requires; the message says why.</summary>
internal sealed class MySqlTlsException(string message, Exception? inner = null) : MySqlProtocolException(message, inner);
