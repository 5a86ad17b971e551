using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Freshet.Console.Api;

namespace Freshet.Console.Components.Shared;

/// <summary>
/// The checks a connection form makes before it sends anything: what the type description says (required, integer
/// bounds, allowed values, the format patterns the control plane publishes with their messages) plus the few checks a
/// pattern cannot say (relative path, PEM key, service-account JSON), repeated here. The control plane checks everything
/// again; these only spare a round trip and say it next to the field.
/// </summary>
public static class ConnectionRules
{
    public const int MaxNameLength = 200;

    /// <summary>The published patterns, compiled once each (a handful per installation).</summary>
    private static readonly ConcurrentDictionary<string, Regex> Patterns = new(StringComparer.Ordinal);

    public static string? Name(string? name)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            return "A name is required.";
        }

        return name.Length > MaxNameLength ? $"At most {MaxNameLength} characters." : name.Any(char.IsControl) ? "Must not contain control characters." : null;
    }

    /// <summary>Null when <paramref name="value"/> is acceptable for <paramref name="setting"/> of a connection of <paramref name="type"/>.</summary>
    public static string? Setting(string type, SettingInfo setting, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
        {
            return setting.Required ? $"{Label(setting.Name)} is required." : null;
        }

        value = value.Trim();
        if (value.Any(char.IsControl))
        {
            return "Must not contain control characters.";
        }

        switch (setting.Kind)
        {
            case "integer":
                var unit = setting.Unit is { } u ? $" {u}" : "";
                if (!long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var number))
                {
                    return setting.Unit is null ? "Must be a whole number." : $"Must be a whole number of{unit}, without the unit.";
                }

                if ((setting.Min is { } min && number < min) || (setting.Max is { } max && number > max))
                {
                    return $"Must be between {setting.Min?.ToString(CultureInfo.InvariantCulture) ?? "any"} and {setting.Max?.ToString(CultureInfo.InvariantCulture) ?? "any"}{unit}.";
                }

                return null;
            case "boolean":
                return value is "true" or "false" ? null : "Must be true or false.";
        }

        if (setting.AllowedValues is { Count: > 0 } allowed && !allowed.Contains(value, StringComparer.Ordinal))
        {
            return $"Allowed values: {string.Join(", ", allowed)}.";
        }

        if (setting.Pattern is { } pattern && !Matches(pattern, value))
        {
            return setting.PatternMessage ?? "Not in the expected format.";
        }

        return (type, setting.Name) switch
        {
            ("duckdb", "path") => RelativePath(value),
            _ => null,
        };
    }

    public static string? Secret(string type, SecretInfo secret, string? value, bool required)
    {
        if (string.IsNullOrEmpty(value))
        {
            return required ? $"{Label(secret.Name)} is required." : null;
        }

        return (type, secret.Name) switch
        {
            ("snowflake", "private_key") => value.Contains("PRIVATE KEY-----", StringComparison.Ordinal)
                ? null
                : "Paste the PEM private key, from -----BEGIN PRIVATE KEY----- to -----END PRIVATE KEY-----.",
            ("bigquery", "service_account_json") => ServiceAccount(value),
            _ => null,
        };
    }

    /// <summary>The text the form shows for a setting or secret name: <c>ssl_mode</c> → "SSL mode".</summary>
    public static string Label(string name) => name switch
    {
        "ssl_mode" => "SSL mode",
        "project_id" => "Project ID",
        "server_id" => "Server ID",
        "service_account_json" => "Service account key (JSON)",
        "wal_disk_budget_mb" => "WAL disk budget",
        "private_key" => "Private key (PEM)",
        _ => char.ToUpperInvariant(name[0]) + name[1..].Replace('_', ' '),
    };

    /// <summary>Secrets long enough to be pasted as a block rather than typed.</summary>
    public static bool IsMultiline(string secretName) => secretName is "private_key" or "service_account_json";

    private static string? RelativePath(string path) =>
        path.StartsWith('/') || path.Contains('\\', StringComparison.Ordinal) || path.Split('/').Any(p => p is ".." or "." or "")
            ? "A file name inside the tenant's DuckDB folder, e.g. analytics.duckdb (no absolute path, no '..')."
            : null;

    private static string? ServiceAccount(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return "Paste the whole JSON key file (an object).";
            }

            var missing = new[] { "type", "client_email", "private_key", "token_uri" }.Where(k => !root.TryGetProperty(k, out _)).ToList();
            return missing.Count > 0 ? $"The key file lacks {string.Join(", ", missing)}." : null;
        }
        catch (JsonException)
        {
            return "Not valid JSON: paste the service account's key file, whole.";
        }
    }

    /// <summary>
    /// Whether <paramref name="value"/> matches the control plane's <paramref name="pattern"/>. A pattern this runtime cannot
    /// read, or one that takes too long, lets the value through: the control plane checks it anyway.
    /// </summary>
    private static bool Matches(string pattern, string value)
    {
        try
        {
            return Patterns.GetOrAdd(pattern, p => new Regex(p, RegexOptions.CultureInvariant, TimeSpan.FromMilliseconds(100))).IsMatch(value);
        }
        catch (Exception exception) when (exception is ArgumentException or RegexMatchTimeoutException)
        {
            return true;
        }
    }
}
