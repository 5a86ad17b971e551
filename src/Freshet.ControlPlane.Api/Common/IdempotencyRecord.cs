namespace Freshet.ControlPlane.Api.Common;

/// <summary>The first response to a POST with an Idempotency-Key, replayed for the same caller, key and body.</summary>
internal sealed class IdempotencyRecord
{
    public Guid Id { get; set; }

    /// <summary>Who sent it (user or client id) and in which tenant: keys are scoped to one caller.</summary>
    public required string Scope { get; set; }

    public required string Key { get; set; }

    public required string RequestHash { get; set; }

    /// <summary>Null while the first request is still being handled.</summary>
    public int? StatusCode { get; set; }

    /// <summary>Encrypted: a replayed create of an API client carries its secret.</summary>
    public byte[]? EncryptedResponse { get; set; }

    public DateTimeOffset CreatedAt { get; set; }

    public DateTimeOffset ExpiresAt { get; set; }
}
