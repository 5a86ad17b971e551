using System.Text.Json.Nodes;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Data;

namespace Freshet.ControlPlane.Api.Connections;

internal sealed class Connection : ITenantOwned, IVersioned
{
    public Guid Id { get; set; }

    public Guid TenantId { get; set; }

    public required string Name { get; set; }

    public ConnectionKind Kind { get; set; }

    public ConnectionType Type { get; set; }

    /// <summary>Validated, normalised non-secret settings (defaults filled in).</summary>
    public required JsonObject Settings { get; set; }

    /// <summary>The secrets as one envelope-encrypted JSON object; never leaves the control plane except to a worker.</summary>
    public byte[]? EncryptedSecrets { get; set; }

    /// <summary>Which secrets are set, so responses can say so without decrypting.</summary>
    public List<string> SecretNames { get; set; } = [];

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset UpdatedAt { get; set; }

    public int Version { get; set; }
}
