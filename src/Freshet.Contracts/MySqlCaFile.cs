using System.Security.Cryptography;
using System.Text;

namespace Freshet.Contracts;

/// <summary>
/// A MySQL connection's <c>ssl_ca</c> (PEM text) as a file, for MySqlConnector, whose <c>SslCa</c> takes a path. Shared
/// by the API's connection test and the worker's source so both check the server's certificate against the same CA.
/// </summary>
public static class MySqlCaFile
{
    /// <summary>
    /// The path of a file holding <paramref name="pem"/>. The name is the content's hash, so every connection with the
    /// same CA shares one file and nothing needs removing.
    /// </summary>
    public static string For(string pem)
    {
        var bytes = Encoding.UTF8.GetBytes(pem);
        var directory = Path.Combine(Path.GetTempPath(), "freshet-mysql-ca");
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, Convert.ToHexStringLower(SHA256.HashData(bytes)) + ".pem");
        if (!File.Exists(path))
        {
            // Written aside and moved, so a reader never sees half a file.
            var partial = path + "." + Guid.NewGuid().ToString("N") + ".tmp";
            File.WriteAllBytes(partial, bytes);
            File.Move(partial, path, overwrite: true);
        }

        return path;
    }
}
