using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Common;

namespace Freshet.ControlPlane.Api.Connections;

internal enum SettingKind
{
    String,
    Integer,
    Boolean,
}

/// <summary>
/// One setting of a connection type: what it is, whether it is needed, what it defaults to, what is valid, and (for a
/// type that can be either) whether only a source or only a destination takes it.
/// </summary>
internal sealed record SettingField(
    string Name,
    SettingKind Kind,
    bool Required,
    string Description,
    object? Default = null,
    int MaxLength = 255,
    long Min = long.MinValue,
    long Max = long.MaxValue,
    IReadOnlyList<string>? AllowedValues = null,
    Func<string, string?>? Check = null,
    ConnectionKind? OnlyFor = null,
    string? Unit = null,
    SettingPattern? Pattern = null);

/// <summary>
/// A format a string setting must have, as a regular expression over the trimmed value and the words that say what is
/// wanted. Published by <c>GET /v1/connection-types</c>, so a form (the console's, or anyone's) checks exactly what the API
/// checks instead of a copy that can drift; checks a pattern cannot say (a PEM key, a relative path) stay in code.
/// </summary>
internal sealed record SettingPattern(Regex Regex, string Message);

/// <summary>A secret of a connection type; write-only, so only whether it is set is ever shown.</summary>
internal sealed record SecretField(string Name, bool Required, string Description, int MaxLength = 16 * 1024, Func<string, string?>? Check = null);

internal sealed record ConnectionTypeSchema(
    ConnectionType Type,
    IReadOnlyList<ConnectionKind> Kinds,
    string DisplayName,
    IReadOnlyList<SettingField> Settings,
    IReadOnlyList<SecretField> Secrets);

/// <summary>
/// The typed settings of each connection type, as data: validation, defaults, the API's discovery endpoint and
/// (later) the console's forms all read this one table.
/// </summary>
internal static partial class ConnectionTypes
{
    private static readonly string[] SslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];

    // Declared before All, which reads them. The expressions use only what .NET and ECMAScript regular expressions share
    // (plus the (?i:…) group, which both have), so any form can apply them as published.
    private static readonly SettingPattern Host = new(HostPattern(), "Must be a host name or an IP address, without scheme, port or path.");
    private static readonly SettingPattern SnowflakeAccount = new(
        SnowflakeAccountPattern(), "Use the account identifier (orgname-accountname or locator.region), without .snowflakecomputing.com.");
    private static readonly SettingPattern GcpProject = new(GcpProjectPattern(), "A project id has 6 to 30 lowercase letters, digits and hyphens, starting with a letter.");
    private static readonly SettingPattern BigQueryDataset = new(BigQueryDatasetPattern(), "A dataset name has letters, digits and underscores only.");

    // The range PostgreSQL accepts for max_slot_wal_keep_size (an int of MB): a budget can say whatever the server's own
    // limit could, and no more.
    private const long MaxWalDiskBudgetMb = int.MaxValue;

    public static readonly IReadOnlyList<ConnectionTypeSchema> All =
    [
        new(ConnectionType.Postgres, [ConnectionKind.Source, ConnectionKind.Destination], "PostgreSQL",
            [
                new("host", SettingKind.String, true, "Host name or IP address of the server.", MaxLength: 253, Pattern: Host),
                new("port", SettingKind.Integer, false, "TCP port.", 5432, Min: 1, Max: 65535),
                new("database", SettingKind.String, true, "Database name.", MaxLength: 63),
                new("username", SettingKind.String, true, "Login role; for a source it needs REPLICATION.", MaxLength: 63),
                new("ssl_mode", SettingKind.String, false, "TLS mode, as libpq names it.", "prefer", AllowedValues: SslModes),
                new("schema", SettingKind.String, false, "Schema that receives the tables.", "public", MaxLength: 63, OnlyFor: ConnectionKind.Destination),
                new("wal_disk_budget_mb", SettingKind.Integer, false,
                    "Source only: the disk space, in MB, the source may spend on WAL retained for Freshet (its pipelines' slots). Health warns "
                    + "(wal_retention_risk) when a slot's retained WAL nears it or would reach it within a day. Set it when max_slot_wal_keep_size "
                    + "is unlimited (-1, the default) or larger than the free disk; the smaller of the two is the limit.",
                    Min: 1, Max: MaxWalDiskBudgetMb, OnlyFor: ConnectionKind.Source, Unit: "MB"),
            ],
            [new("password", false, "Password of the login role.", 1024)]),
        new(ConnectionType.Mysql, [ConnectionKind.Source], "MySQL / MariaDB",
            [
                new("host", SettingKind.String, true, "Host name or IP address of the server.", MaxLength: 253, Pattern: Host),
                new("port", SettingKind.Integer, false, "TCP port.", 3306, Min: 1, Max: 65535),
                new("database", SettingKind.String, true, "Database (schema) whose tables are replicated.", MaxLength: 64),
                new("username", SettingKind.String, true, "User with REPLICATION SLAVE, REPLICATION CLIENT and SELECT.", MaxLength: 80),
                new("ssl_mode", SettingKind.String, false,
                    "TLS mode, as MySQL's client names it: disabled; preferred (TLS when offered, certificate unchecked); required (TLS, certificate unchecked); "
                    + "verify_ca (certificate signed by ssl_ca or a system-trusted CA); verify_identity (as verify_ca, and it names the host).",
                    "preferred", AllowedValues: ["disabled", "preferred", "required", "verify_ca", "verify_identity"]),
                new("ssl_ca", SettingKind.String, false,
                    "PEM certificate(s) of the CA that signs the server's certificate, for verify_ca and verify_identity; the system's trusted CAs when absent.",
                    MaxLength: 64 * 1024, Check: CheckPemCertificate),
                new("server_id", SettingKind.Integer, false, "Replica server id to register with; unique among the source's replicas (chosen for you when absent).", Min: 1, Max: uint.MaxValue),
            ],
            [new("password", false, "Password of the user.", 1024)]),
        new(ConnectionType.Snowflake, [ConnectionKind.Destination], "Snowflake",
            [
                new("account", SettingKind.String, true, "Account identifier, e.g. myorg-myaccount or xy12345.eu-central-1.", MaxLength: 255, Pattern: SnowflakeAccount),
                new("user", SettingKind.String, true, "User whose public key is registered (key-pair authentication).", MaxLength: 255),
                new("warehouse", SettingKind.String, true, "Warehouse that runs the merges.", MaxLength: 255),
                new("database", SettingKind.String, true, "Database that receives the tables.", MaxLength: 255),
                new("schema", SettingKind.String, false, "Schema that receives the tables.", "PUBLIC", MaxLength: 255),
                new("role", SettingKind.String, false, "Role to use; the user's default when absent.", MaxLength: 255),
                new("batch_latency_target_s", SettingKind.Integer, false,
                    "How long a pipeline gathers changes before it writes them to Snowflake. Each write wakes the warehouse, which "
                    + "bills by the second with a minute's minimum per resume, so a longer target means fewer, larger merges and a "
                    + "warehouse that can suspend between them; a shorter one means fresher tables at a higher cost. Large batches "
                    + "are written as soon as they are full, whatever the target.",
                    30, Min: 1, Max: 3600, Unit: "s"),
            ],
            [
                new("private_key", true, "PEM-encoded RSA private key (PKCS#8) of the user.", Check: CheckPemPrivateKey),
                new("private_key_passphrase", false, "Passphrase of an encrypted private key.", 1024),
            ]),
        new(ConnectionType.Bigquery, [ConnectionKind.Destination], "BigQuery",
            [
                new("project_id", SettingKind.String, true, "Google Cloud project id.", MaxLength: 30, Pattern: GcpProject),
                new("dataset", SettingKind.String, true, "Dataset that receives the tables.", MaxLength: 1024, Pattern: BigQueryDataset),
                new("location", SettingKind.String, false, "Dataset location.", "US", MaxLength: 64),
                new("batch_latency_target_s", SettingKind.Integer, false,
                    "How long a pipeline gathers changes before it writes them to BigQuery. Keyed tables are written through the "
                    + "Storage Write API, billed per byte ingested, so a short target costs little there; tables written by MERGE "
                    + "(no primary key, write_method merge, or changes that must keep values BigQuery holds) run one query job per "
                    + "batch, billed per bytes scanned, so a longer target means fewer, larger jobs. Large batches are written as "
                    + "soon as they are full, whatever the target.",
                    30, Min: 1, Max: 3600, Unit: "s"),
                new("write_method", SettingKind.String, false,
                    "storage_write: keyed tables take changes as Storage Write API CDC (UPSERT/DELETE on the _default stream, tables "
                    + "created with PRIMARY KEY … NOT ENFORCED); merge: every table through a staging table and a MERGE query job.",
                    "storage_write", AllowedValues: ["storage_write", "merge"]),
                new("max_staleness_minutes", SettingKind.Integer, false,
                    "max_staleness of the CDC tables Freshet creates: queries may answer from data this old while BigQuery applies "
                    + "changes in the background (cheaper queries); 0 or absent: queries always see every applied change.",
                    Min: 0, Max: 1440, Unit: "min"),
            ],
            [new("service_account_json", true, "The service account's JSON key file, whole.", 64 * 1024, CheckServiceAccount)]),
        new(ConnectionType.Duckdb, [ConnectionKind.Destination], "DuckDB file",
            [
                new("path", SettingKind.String, true, "File name of the database, relative to the tenant's DuckDB folder (e.g. analytics.duckdb).", MaxLength: 255, Check: CheckRelativePath),
            ],
            []),
    ];

    public static ConnectionTypeSchema For(ConnectionType type) => All.First(s => s.Type == type);

    /// <summary>
    /// Validates raw settings for a type; returns the normalised object (defaults filled in) or errors. A setting for the
    /// other kind of connection is refused when <paramref name="kind"/> is known.
    /// </summary>
    public static JsonObject? ValidateSettings(
        ConnectionTypeSchema schema, ConnectionKind? kind, JsonObject? existing, JsonObject? input, RequestValidator validator, string prefix = "settings")
    {
        var result = existing is null ? new JsonObject() : (JsonObject)existing.DeepClone();
        var known = schema.Settings.ToDictionary(f => f.Name, StringComparer.Ordinal);
        // A setting whose value was refused has said what is wrong with it; "required" on top would only confuse.
        var refused = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, value) in input ?? [])
        {
            if (!known.TryGetValue(name, out var field))
            {
                validator.Add($"{prefix}.{name}", $"Unknown setting for {schema.DisplayName}. Known settings: {string.Join(", ", known.Keys)}.");
                continue;
            }

            if (value is null)
            {
                result.Remove(name);
                continue;
            }

            if (field.OnlyFor is { } only && kind is { } actual && actual != only)
            {
                validator.Add($"{prefix}.{name}", $"Only a {ApiJson.EnumValue(only)} connection takes this setting; this one is a {ApiJson.EnumValue(actual)}.");
                continue;
            }

            var error = CheckValue(field, value, out var normalised);
            if (error is not null)
            {
                validator.Add($"{prefix}.{name}", error);
                refused.Add(name);
            }
            else
            {
                result[name] = normalised;
            }
        }

        foreach (var field in schema.Settings)
        {
            // A setting of the other kind of connection gets no default either: a source would carry a schema it never uses.
            if (field.OnlyFor is { } only && kind is { } actual && actual != only)
            {
                continue;
            }

            if (!result.ContainsKey(field.Name))
            {
                if (field.Default is not null)
                {
                    result[field.Name] = JsonValue.Create(field.Default);
                }
                else if (field.Required && !refused.Contains(field.Name))
                {
                    validator.Add($"{prefix}.{field.Name}", "This setting is required.");
                }
            }
        }

        return validator.IsValid ? result : null;
    }

    public static void ValidateSecrets(ConnectionTypeSchema schema, IReadOnlyDictionary<string, string?>? input, ISet<string> alreadySet, RequestValidator validator)
    {
        var known = schema.Secrets.ToDictionary(f => f.Name, StringComparer.Ordinal);
        foreach (var (name, value) in input ?? new Dictionary<string, string?>())
        {
            if (!known.TryGetValue(name, out var field))
            {
                validator.Add($"secrets.{name}", schema.Secrets.Count == 0
                    ? $"{schema.DisplayName} takes no secrets."
                    : $"Unknown secret for {schema.DisplayName}. Known secrets: {string.Join(", ", known.Keys)}.");
            }
            else if (value is not null && (value.Length == 0 || value.Length > field.MaxLength))
            {
                validator.Add($"secrets.{name}", $"Must be between 1 and {field.MaxLength} characters.");
            }
            else if (value is not null && field.Check?.Invoke(value) is { } error)
            {
                validator.Add($"secrets.{name}", error);
            }
        }

        foreach (var field in schema.Secrets.Where(f => f.Required))
        {
            var provided = input is not null && input.TryGetValue(field.Name, out var v) ? v : null;
            var removed = input is not null && input.ContainsKey(field.Name) && provided is null;
            if (provided is null && (removed || !alreadySet.Contains(field.Name)))
            {
                validator.Add($"secrets.{field.Name}", "This secret is required.");
            }
        }
    }

    private static string? CheckValue(SettingField field, JsonNode value, out JsonNode? normalised)
    {
        normalised = null;
        switch (field.Kind)
        {
            case SettingKind.String:
                if (value.GetValueKind() != JsonValueKind.String)
                {
                    return "Must be a string.";
                }

                var text = value.GetValue<string>().Trim();
                if (text.Length == 0)
                {
                    return "Must not be empty.";
                }

                if (text.Length > field.MaxLength)
                {
                    return $"Must be at most {field.MaxLength} characters.";
                }

                if (text.Any(char.IsControl))
                {
                    return "Must not contain control characters.";
                }

                if (field.AllowedValues is { } allowed && !allowed.Contains(text, StringComparer.Ordinal))
                {
                    return $"Allowed values: {string.Join(", ", allowed)}.";
                }

                if (field.Pattern is { } pattern && !pattern.Regex.IsMatch(text))
                {
                    return pattern.Message;
                }

                if (field.Check?.Invoke(text) is { } error)
                {
                    return error;
                }

                normalised = JsonValue.Create(text);
                return null;
            case SettingKind.Integer:
                var unit = field.Unit is { } u ? $" {u}" : "";
                if (value.GetValueKind() != JsonValueKind.Number || !value.AsValue().TryGetValue<long>(out var number))
                {
                    return field.Unit is null ? "Must be an integer." : $"Must be a whole number of{unit}, without the unit.";
                }

                if (number < field.Min || number > field.Max)
                {
                    return $"Must be between {field.Min} and {field.Max}{unit}.";
                }

                normalised = JsonValue.Create(number);
                return null;
            default:
                if (value.GetValueKind() is not (JsonValueKind.True or JsonValueKind.False))
                {
                    return "Must be true or false.";
                }

                normalised = JsonValue.Create(value.GetValue<bool>());
                return null;
        }
    }

    private static string? CheckRelativePath(string path)
    {
        if (Path.IsPathRooted(path) || path.Contains('\\', StringComparison.Ordinal) || path.Split('/').Any(p => p is ".." or "." or ""))
        {
            return "Must be a relative file name inside the tenant's DuckDB folder (no absolute path, no '..').";
        }

        return path.IndexOfAny(Path.GetInvalidPathChars()) >= 0 ? "Contains characters not allowed in a file name." : null;
    }

    private static string? CheckPemCertificate(string pem)
    {
        var certificates = new System.Security.Cryptography.X509Certificates.X509Certificate2Collection();
        try
        {
            certificates.ImportFromPem(pem);
        }
        catch (CryptographicException)
        {
            return "The PEM holds a certificate that cannot be read.";
        }

        return certificates.Count > 0 ? null : "Must be a PEM certificate (-----BEGIN CERTIFICATE-----).";
    }

    private static string? CheckPemPrivateKey(string pem)
    {
        if (!pem.Contains("PRIVATE KEY-----", StringComparison.Ordinal))
        {
            return "Must be a PEM private key (-----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----).";
        }

        if (pem.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            using var rsa = RSA.Create();
            rsa.ImportFromPem(pem);
            return rsa.KeySize >= 2048 ? null : "The RSA key must be at least 2048 bits.";
        }
        catch (Exception ex) when (ex is ArgumentException or CryptographicException)
        {
            return "The PEM does not hold a readable RSA private key.";
        }
    }

    private static string? CheckServiceAccount(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return "Must be the service account's JSON key (an object).";
            }

            var missing = new[] { "type", "client_email", "private_key", "token_uri" }.Where(k => !root.TryGetProperty(k, out _)).ToList();
            if (missing.Count > 0)
            {
                return $"The key file lacks {string.Join(", ", missing)}.";
            }

            return root.GetProperty("type").GetString() == "service_account" ? null : "The key file's type must be service_account.";
        }
        catch (JsonException)
        {
            return "Must be valid JSON (the service account key file, whole).";
        }
    }

    [GeneratedRegex(@"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*$|^\[?[0-9A-Fa-f:\.]+\]?$", RegexOptions.CultureInvariant)]
    private static partial Regex HostPattern();

    // The account alone: the worker would also take the host name, but the form asks for what Snowflake shows as the
    // account identifier, and refusing the domain here keeps every client to one spelling.
    [GeneratedRegex(@"^(?!.*\.(?i:snowflakecomputing\.com)$)[A-Za-z0-9][A-Za-z0-9_\-\.]{0,254}$", RegexOptions.CultureInvariant)]
    private static partial Regex SnowflakeAccountPattern();

    [GeneratedRegex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", RegexOptions.CultureInvariant)]
    private static partial Regex GcpProjectPattern();

    [GeneratedRegex("^[A-Za-z0-9_]{1,1024}$", RegexOptions.CultureInvariant)]
    private static partial Regex BigQueryDatasetPattern();
}
