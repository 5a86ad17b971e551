using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

// Public only because Razor components (always public) take them as parameters.
namespace Freshet.Console.Api;

// Connections and the pipeline wizard's shapes (snake_case on the wire). Kinds, types and check states stay strings, as
// in ApiModels.cs: a value added to the API later shows as its name instead of breaking the page.

/// <summary>A connection type as <c>GET /v1/connection-types</c> describes it: the console's forms are built from this.</summary>
public sealed record ConnectionTypeInfo(string Type, string DisplayName, IReadOnlyList<string> Kinds, IReadOnlyList<SettingInfo> Settings, IReadOnlyList<SecretInfo> Secrets)
{
    public bool Takes(string kind) => Kinds.Contains(kind, StringComparer.Ordinal);

    /// <summary>The settings a connection of <paramref name="kind"/> takes (a setting <c>only_for</c> the other kind is left out).</summary>
    public IEnumerable<SettingInfo> SettingsFor(string kind) => Settings.Where(s => s.OnlyFor is null || s.OnlyFor == kind);
}

/// <summary>
/// <c>kind</c> is string, integer or boolean; <c>min</c>/<c>max</c> bound an integer; <c>pattern</c> is the regular
/// expression the API checks a string against, <c>pattern_message</c> what it says when the value does not match.
/// </summary>
public sealed record SettingInfo(
    string Name,
    string Kind,
    bool Required,
    string Description,
    JsonElement? Default,
    IReadOnlyList<string>? AllowedValues,
    long? Min,
    long? Max,
    string? Unit,
    string? OnlyFor,
    string? Pattern = null,
    string? PatternMessage = null)
{
    /// <summary>The default as a form shows it, or null when there is none.</summary>
    public string? DefaultText => Default is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } d
        ? d.ValueKind == JsonValueKind.String ? d.GetString() : d.GetRawText()
        : null;
}

public sealed record SecretInfo(string Name, bool Required, string Description);

public sealed record SecretState(bool IsSet);

public sealed record Connection(
    Guid Id,
    string Name,
    string Kind,
    string Type,
    JsonObject Settings,
    IReadOnlyDictionary<string, SecretState> Secrets,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    int Version) : IConcurrencyTagged
{
    [JsonIgnore]
    public string? ETag { get; set; }

    public string? Setting(string name) => Settings.TryGetPropertyValue(name, out var value) && value is not null
        ? value.GetValueKind() == JsonValueKind.String ? value.GetValue<string>() : value.ToJsonString()
        : null;
}

/// <summary>What a connection form sends: settings as JSON values, and only the secrets that were typed in.</summary>
public sealed record ConnectionDraft(string Name, string Kind, string Type, JsonObject Settings, IReadOnlyDictionary<string, string> Secrets);

/// <summary>One line of a connection test: <c>status</c> is passed, failed or skipped; <c>fix</c> says what to do about a failure.</summary>
public sealed record ConnectionCheck(string Name, string Status, string Detail, string? Fix);

public sealed record ConnectionTestResult(bool Ok, IReadOnlyList<ConnectionCheck> Checks, DateTimeOffset TestedAt);

public sealed record SourceSchema(IReadOnlyList<SchemaInfo> Schemas);

public sealed record SchemaInfo(string Name, IReadOnlyList<TableInfo> Tables);

public sealed record TableInfo(string Name, IReadOnlyList<string> PrimaryKey, IReadOnlyList<ColumnInfo> Columns, string? ReplicaIdentity, long? EstimatedRows)
{
    public bool HasPrimaryKey => PrimaryKey.Count > 0;
}

public sealed record ColumnInfo(string Name, string Type, bool Nullable);
