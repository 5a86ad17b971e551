using System.Text.Json;
using Freshet.ControlPlane.Api.Secrets;

namespace Freshet.ControlPlane.Api.Connections;

/// <summary>Opens and seals a connection's secrets as one encrypted JSON object.</summary>
internal sealed class ConnectionSecrets(SecretBox box)
{
    public Dictionary<string, string> Open(Connection connection) =>
        connection.EncryptedSecrets is null
            ? new Dictionary<string, string>(StringComparer.Ordinal)
            : JsonSerializer.Deserialize<Dictionary<string, string>>(box.Open(connection.EncryptedSecrets)) ?? new(StringComparer.Ordinal);

    /// <summary>Applies changes (null removes) and reseals with a fresh data key.</summary>
    public void Apply(Connection connection, IReadOnlyDictionary<string, string?>? changes)
    {
        if (changes is null || changes.Count == 0)
        {
            return;
        }

        var secrets = Open(connection);
        foreach (var (name, value) in changes)
        {
            if (value is null)
            {
                secrets.Remove(name);
            }
            else
            {
                secrets[name] = value;
            }
        }

        connection.EncryptedSecrets = secrets.Count == 0 ? null : box.Seal(JsonSerializer.SerializeToUtf8Bytes(secrets));
        connection.SecretNames = secrets.Keys.Order(StringComparer.Ordinal).ToList();
    }
}
