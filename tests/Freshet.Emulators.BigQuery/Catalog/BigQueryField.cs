using System.Globalization;
using System.Text.Json.Nodes;
using Freshet.Emulators.BigQuery.Rest;

namespace Freshet.Emulators.BigQuery.Catalog;

/// <summary>
/// One column of a table as the REST API describes it (TableFieldSchema): name, type, mode and, for NUMERIC/BIGNUMERIC,
/// precision and scale. Types are kept in GoogleSQL's names; the legacy names the API also accepts (INTEGER, FLOAT,
/// BOOLEAN) are translated on the way in.
/// </summary>
internal sealed record BigQueryField(string Name, string Type, string Mode, int? Precision, int? Scale)
{
    public static readonly IReadOnlySet<string> Types = new HashSet<string>(StringComparer.Ordinal)
    {
        "INT64", "NUMERIC", "BIGNUMERIC", "FLOAT64", "STRING", "BOOL", "DATE", "TIME", "DATETIME", "TIMESTAMP", "JSON", "BYTES",
    };

    public bool IsRequired => Mode == "REQUIRED";

    /// <summary>Reads a TableFieldSchema; bad input is a 400 with BigQuery's reason <c>invalid</c>.</summary>
    public static BigQueryField FromJson(JsonNode? node)
    {
        var name = node?["name"]?.GetValue<string>() ?? throw RestError.Invalid("A field of the schema has no name.");
        if (name.Length is 0 or > 300 || !(char.IsAsciiLetter(name[0]) || name[0] == '_') || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
        {
            // Flexible column names exist in BigQuery but cannot be written through proto descriptors without annotations.
            throw RestError.Invalid($"Invalid field name \"{name}\". Fields must contain only letters, numbers, and underscores, start with a letter or underscore, and be at most 300 characters long.");
        }
        if (name.StartsWith("_CHANGE_", StringComparison.OrdinalIgnoreCase) || name.StartsWith("_PARTITION", StringComparison.OrdinalIgnoreCase))
        {
            throw RestError.Invalid($"Invalid field name \"{name}\": the prefix is reserved.");
        }
        var type = (node["type"]?.GetValue<string>() ?? throw RestError.Invalid($"Field {name} has no type.")).ToUpperInvariant();
        type = type switch
        {
            "INTEGER" => "INT64",
            "FLOAT" => "FLOAT64",
            "BOOLEAN" => "BOOL",
            "DECIMAL" => "NUMERIC",
            "BIGDECIMAL" => "BIGNUMERIC",
            _ => type,
        };
        if (!Types.Contains(type))
        {
            throw RestError.Invalid($"Field {name} has type {type}, which the emulator does not support (RECORD, GEOGRAPHY, INTERVAL, RANGE are not emulated).");
        }
        var mode = (node["mode"]?.GetValue<string>() ?? "NULLABLE").ToUpperInvariant();
        if (mode == "REPEATED")
        {
            throw RestError.Invalid($"Field {name}: REPEATED fields are not emulated.");
        }
        if (mode is not ("NULLABLE" or "REQUIRED"))
        {
            throw RestError.Invalid($"Field {name} has mode {mode}; expected NULLABLE, REQUIRED or REPEATED.");
        }
        var precision = OptionalInt(node["precision"], name, "precision");
        var scale = OptionalInt(node["scale"], name, "scale");
        if ((precision is not null || scale is not null) && type is not ("NUMERIC" or "BIGNUMERIC"))
        {
            throw RestError.Invalid($"Field {name}: precision and scale are only allowed on NUMERIC and BIGNUMERIC.");
        }
        if (precision is not null || scale is not null)
        {
            // GoogleSQL's parameterized decimal types: NUMERIC(P[,S]) with 0 ≤ S ≤ 9 and max(1, S) ≤ P ≤ S + 29;
            // BIGNUMERIC(P[,S]) with 0 ≤ S ≤ 38 and max(1, S) ≤ P ≤ S + 38.
            var s = scale ?? 0;
            var (maxScale, maxWhole) = type == "NUMERIC" ? (9, 29) : (38, 38);
            var p = precision ?? throw RestError.Invalid($"Field {name}: scale without precision.");
            if (s < 0 || s > maxScale || p < Math.Max(1, s) || p > s + maxWhole)
            {
                throw RestError.Invalid($"Field {name}: {type}({p}, {s}) is out of range (scale 0..{maxScale}, precision max(1, scale)..scale + {maxWhole}).");
            }
        }
        return new BigQueryField(name, type, mode, precision, scale);
    }

    public JsonObject ToJson()
    {
        var json = new JsonObject
        {
            // tables.get answers with the legacy names for these three.
            ["name"] = Name,
            ["type"] = Type switch
            {
                "INT64" => "INTEGER",
                "FLOAT64" => "FLOAT",
                "BOOL" => "BOOLEAN",
                _ => Type,
            },
            ["mode"] = Mode,
        };
        if (Precision is { } p)
        {
            json["precision"] = p.ToString(CultureInfo.InvariantCulture);
        }
        if (Scale is { } s)
        {
            json["scale"] = s.ToString(CultureInfo.InvariantCulture);
        }
        return json;
    }

    /// <summary>
    /// The DuckDB column type that holds this field's values. DuckDB's DECIMAL stops at 38 digits, so a BIGNUMERIC wider
    /// than that (BigQuery allows 76) is kept as its exact decimal text.
    /// </summary>
    public string DuckDbType => Type switch
    {
        "INT64" => "BIGINT",
        "NUMERIC" => $"DECIMAL({Precision ?? 38},{Scale ?? (Precision is null ? 9 : 0)})",
        "BIGNUMERIC" when Precision is { } p && p <= 38 => $"DECIMAL({p},{Scale ?? 0})",
        "BIGNUMERIC" => "VARCHAR",
        "FLOAT64" => "DOUBLE",
        "STRING" => "VARCHAR",
        "BOOL" => "BOOLEAN",
        "DATE" => "DATE",
        "TIME" => "TIME",
        "DATETIME" => "TIMESTAMP",
        "TIMESTAMP" => "TIMESTAMPTZ",
        "JSON" => "JSON",
        "BYTES" => "BLOB",
        _ => throw new InvalidOperationException($"No DuckDB type for {Type}."),
    };

    private static int? OptionalInt(JsonNode? node, string field, string what)
    {
        if (node is null)
        {
            return null;
        }
        var text = node.GetValueKind() == System.Text.Json.JsonValueKind.String ? node.GetValue<string>() : node.ToJsonString();
        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value)
            ? value
            : throw RestError.Invalid($"Field {field}: {what} '{text}' is not an integer.");
    }
}
