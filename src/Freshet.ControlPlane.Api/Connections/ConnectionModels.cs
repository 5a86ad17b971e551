using System.Text.Json.Nodes;
using Freshet.Contracts;

namespace Freshet.ControlPlane.Api.Connections;

internal sealed record CreateConnectionRequest(string? Name, ConnectionKind? Kind, ConnectionType? Type, JsonObject? Settings, Dictionary<string, string?>? Secrets);

/// <summary>Fields left out stay as they are; a secret set to null is removed.</summary>
internal sealed record UpdateConnectionRequest(string? Name, JsonObject? Settings, Dictionary<string, string?>? Secrets);

internal sealed record SecretState(bool IsSet);

internal sealed record ConnectionResponse(
    Guid Id,
    string Name,
    ConnectionKind Kind,
    ConnectionType Type,
    JsonObject Settings,
    IReadOnlyDictionary<string, SecretState> Secrets,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    int Version)
{
    public static ConnectionResponse From(Connection c) => new(
        c.Id,
        c.Name,
        c.Kind,
        c.Type,
        c.Settings,
        ConnectionTypes.For(c.Type).Secrets.ToDictionary(s => s.Name, s => new SecretState(c.SecretNames.Contains(s.Name)), StringComparer.Ordinal),
        c.CreatedAt,
        c.UpdatedAt,
        c.Version);
}

internal sealed record ConnectionTypeResponse(
    ConnectionType Type,
    string DisplayName,
    IReadOnlyList<ConnectionKind> Kinds,
    IReadOnlyList<SettingDescription> Settings,
    IReadOnlyList<SecretDescription> Secrets);

/// <summary>
/// A setting as forms show it: <c>min</c>/<c>max</c> bound an integer; <c>only_for</c> names the one kind of connection that
/// takes it; <c>pattern</c> is a regular expression the trimmed value must match (the API checks the same one), and
/// <c>pattern_message</c> says what is wanted when it does not.
/// </summary>
internal sealed record SettingDescription(
    string Name,
    string Kind,
    bool Required,
    string Description,
    object? Default,
    IReadOnlyList<string>? AllowedValues,
    long? Min = null,
    long? Max = null,
    string? Unit = null,
    ConnectionKind? OnlyFor = null,
    string? Pattern = null,
    string? PatternMessage = null);

internal sealed record SecretDescription(string Name, bool Required, string Description);

internal enum CheckStatus
{
    Passed,
    Failed,
    Skipped,
}

/// <summary>One line of a connection test: what was checked, how it went, and what to do about a failure.</summary>
internal sealed record ConnectionCheck(string Name, CheckStatus Status, string Detail, string? Fix = null);

internal sealed record ConnectionTestResponse(bool Ok, IReadOnlyList<ConnectionCheck> Checks, DateTimeOffset TestedAt);

internal sealed record SchemaResponse(IReadOnlyList<SchemaInfo> Schemas);

internal sealed record SchemaInfo(string Name, IReadOnlyList<TableInfo> Tables);

internal sealed record TableInfo(string Name, IReadOnlyList<string> PrimaryKey, IReadOnlyList<ColumnInfo> Columns, string? ReplicaIdentity, long? EstimatedRows);

internal sealed record ColumnInfo(string Name, string Type, bool Nullable);
