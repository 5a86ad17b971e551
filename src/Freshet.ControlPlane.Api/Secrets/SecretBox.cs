using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Freshet.ControlPlane.Api.Secrets;

internal sealed class SecretsOptions : IValidatableObject
{
    public const string Section = "Freshet:Secrets";

    /// <summary>Base64 of 32 random bytes: the key-encryption key. Keep it in a secret store, never in the image.</summary>
    [Required]
    public string MasterKey { get; set; } = "";

    /// <summary>Earlier master keys, still able to decrypt what they wrapped, so a key can be rotated without a rewrite.</summary>
    public List<string> PreviousMasterKeys { get; set; } = [];

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        foreach (var (key, index) in new[] { MasterKey }.Concat(PreviousMasterKeys).Select((k, i) => (k, i)))
        {
            if (!SecretBox.TryDecodeKey(key, out _))
            {
                var name = index == 0 ? nameof(MasterKey) : $"{nameof(PreviousMasterKeys)}:{index - 1}";
                yield return new ValidationResult($"{Section}:{name} must be the base64 encoding of exactly 32 bytes.", [name]);
            }
        }
    }
}

/// <summary>
/// Envelope encryption: each value gets a fresh data key (AES-256-GCM); the data key is wrapped by the master key,
/// whose id travels with the ciphertext so an older master key can still open it after rotation.
/// </summary>
internal sealed class SecretBox
{
    private const byte FormatVersion = 1;
    private const int KeySize = 32;
    private const int NonceSize = 12;
    private const int TagSize = 16;
    private const int KeyIdSize = 8;

    private readonly byte[] _activeKey;
    private readonly byte[] _activeKeyId;
    private readonly Dictionary<string, byte[]> _keysById;

    public SecretBox(IOptions<SecretsOptions> options)
    {
        var keys = new[] { options.Value.MasterKey }.Concat(options.Value.PreviousMasterKeys)
            .Select(k => TryDecodeKey(k, out var bytes) ? bytes : throw new InvalidOperationException($"{SecretsOptions.Section} holds a key that is not 32 bytes of base64."))
            .ToList();
        _activeKey = keys[0];
        _activeKeyId = KeyId(_activeKey);
        _keysById = keys.GroupBy(k => Convert.ToHexString(KeyId(k))).ToDictionary(g => g.Key, g => g.First());
    }

    public static bool TryDecodeKey(string? base64, out byte[] key)
    {
        key = [];
        if (string.IsNullOrWhiteSpace(base64))
        {
            return false;
        }

        var buffer = new byte[KeySize + 8];
        if (!Convert.TryFromBase64String(base64.Trim(), buffer, out var written) || written != KeySize)
        {
            return false;
        }

        key = buffer[..KeySize];
        return true;
    }

    public byte[] Seal(ReadOnlySpan<byte> plaintext)
    {
        var dataKey = RandomNumberGenerator.GetBytes(KeySize);
        var output = new byte[1 + KeyIdSize + NonceSize + TagSize + KeySize + NonceSize + TagSize + plaintext.Length];
        var span = output.AsSpan();
        span[0] = FormatVersion;
        _activeKeyId.CopyTo(span.Slice(1, KeyIdSize));
        var wrap = span.Slice(1 + KeyIdSize);
        Encrypt(_activeKey, dataKey, wrap[..NonceSize], wrap.Slice(NonceSize, TagSize), wrap.Slice(NonceSize + TagSize, KeySize));
        var payload = wrap[(NonceSize + TagSize + KeySize)..];
        Encrypt(dataKey, plaintext, payload[..NonceSize], payload.Slice(NonceSize, TagSize), payload[(NonceSize + TagSize)..]);
        CryptographicOperations.ZeroMemory(dataKey);
        return output;
    }

    public byte[] Open(byte[] sealedValue)
    {
        var span = sealedValue.AsSpan();
        if (span.Length < 1 + KeyIdSize + NonceSize + TagSize + KeySize + NonceSize + TagSize || span[0] != FormatVersion)
        {
            throw new CryptographicException("The sealed secret has an unknown format.");
        }

        var keyId = Convert.ToHexString(span.Slice(1, KeyIdSize));
        if (!_keysById.TryGetValue(keyId, out var masterKey))
        {
            throw new CryptographicException($"The secret was sealed with master key {keyId}, which is not configured.");
        }

        var wrap = span[(1 + KeyIdSize)..];
        var dataKey = new byte[KeySize];
        using (var aes = new AesGcm(masterKey, TagSize))
        {
            aes.Decrypt(wrap[..NonceSize], wrap.Slice(NonceSize + TagSize, KeySize), wrap.Slice(NonceSize, TagSize), dataKey);
        }

        var payload = wrap[(NonceSize + TagSize + KeySize)..];
        var plaintext = new byte[payload.Length - NonceSize - TagSize];
        using (var aes = new AesGcm(dataKey, TagSize))
        {
            aes.Decrypt(payload[..NonceSize], payload[(NonceSize + TagSize)..], payload.Slice(NonceSize, TagSize), plaintext);
        }

        CryptographicOperations.ZeroMemory(dataKey);
        return plaintext;
    }

    private static void Encrypt(byte[] key, ReadOnlySpan<byte> plaintext, Span<byte> nonce, Span<byte> tag, Span<byte> ciphertext)
    {
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, ciphertext, tag);
    }

    private static byte[] KeyId(byte[] key) => SHA256.HashData(key)[..KeyIdSize];
}
