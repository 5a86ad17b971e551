using System.Globalization;
using System.Text.RegularExpressions;
using Freshet.DataPlane.Schema;
using NpgsqlTypes;

namespace Freshet.DataPlane.Destinations.Postgres;

/// <summary>
/// Which PostgreSQL type a column gets in the destination, and which type its values are sent as. A source type that
/// is built into every PostgreSQL (the spelling in <see cref="ColumnType.SourceTypeName"/>, e.g. <c>numeric(12,2)</c>)
/// is kept when it can hold the column's value kind; anything else (enums, domains, other databases' types) gets the
/// kind's own type.
/// </summary>
internal static partial class PostgresTypes
{
    /// <summary>A built-in type: its pg_type.typname, how format_type spells it, and which modifier it takes.</summary>
    private sealed record BuiltIn(string TypeName, string Spelling, Modifier Modifier);

    private enum Modifier
    {
        None,
        Length,
        PrecisionScale,
        FractionalSeconds,
    }

    private static readonly Dictionary<string, BuiltIn> BuiltIns = Build(
        (["smallint", "int2"], new BuiltIn("int2", "smallint", Modifier.None)),
        (["integer", "int", "int4"], new BuiltIn("int4", "integer", Modifier.None)),
        (["bigint", "int8"], new BuiltIn("int8", "bigint", Modifier.None)),
        (["numeric", "decimal"], new BuiltIn("numeric", "numeric", Modifier.PrecisionScale)),
        (["money"], new BuiltIn("money", "money", Modifier.None)),
        (["real", "float4"], new BuiltIn("float4", "real", Modifier.None)),
        (["double precision", "float8"], new BuiltIn("float8", "double precision", Modifier.None)),
        (["text"], new BuiltIn("text", "text", Modifier.None)),
        (["name"], new BuiltIn("name", "name", Modifier.None)),
        (["character varying", "varchar"], new BuiltIn("varchar", "character varying", Modifier.Length)),
        (["character", "char", "bpchar"], new BuiltIn("bpchar", "character", Modifier.Length)),
        (["boolean", "bool"], new BuiltIn("bool", "boolean", Modifier.None)),
        (["date"], new BuiltIn("date", "date", Modifier.None)),
        (["time", "time without time zone"], new BuiltIn("time", "time without time zone", Modifier.FractionalSeconds)),
        (["timestamp", "timestamp without time zone"], new BuiltIn("timestamp", "timestamp without time zone", Modifier.FractionalSeconds)),
        (["timestamptz", "timestamp with time zone"], new BuiltIn("timestamptz", "timestamp with time zone", Modifier.FractionalSeconds)),
        (["interval"], new BuiltIn("interval", "interval", Modifier.FractionalSeconds)),
        (["uuid"], new BuiltIn("uuid", "uuid", Modifier.None)),
        (["json"], new BuiltIn("json", "json", Modifier.None)),
        (["jsonb"], new BuiltIn("jsonb", "jsonb", Modifier.None)),
        (["bytea"], new BuiltIn("bytea", "bytea", Modifier.None)));

    /// <summary>The types (pg_type.typname) Npgsql writes each kind's CLR value as, without a cast on the server.</summary>
    private static readonly Dictionary<ValueKind, string[]> Native = new()
    {
        [ValueKind.Int16] = ["int2"],
        [ValueKind.Int32] = ["int4"],
        [ValueKind.Int64] = ["int8"],
        [ValueKind.Decimal] = ["numeric", "money"],
        [ValueKind.Float32] = ["float4"],
        [ValueKind.Float64] = ["float8"],
        [ValueKind.Text] = ["text", "varchar", "bpchar", "name", "json", "jsonb"],
        [ValueKind.Enum] = ["text", "varchar", "bpchar", "name"],
        [ValueKind.Json] = ["json", "jsonb", "text", "varchar", "bpchar"],
        // Exact decimal text has no binary form Npgsql can produce; it travels as text and the server casts it.
        [ValueKind.NumericText] = ["text", "varchar", "bpchar"],
        [ValueKind.Boolean] = ["bool"],
        [ValueKind.Date] = ["date"],
        [ValueKind.Time] = ["time"],
        [ValueKind.Timestamp] = ["timestamp"],
        [ValueKind.TimestampTz] = ["timestamptz"],
        [ValueKind.Interval] = ["interval"],
        [ValueKind.Uuid] = ["uuid"],
        [ValueKind.Bytes] = ["bytea"],
    };

    /// <summary>The target types (pg_type.typname) a kind may keep from the source; others fall back to the kind's own.</summary>
    private static readonly Dictionary<ValueKind, string[]> Keepable = new()
    {
        [ValueKind.Decimal] = ["numeric", "money"],
        [ValueKind.NumericText] = ["numeric"],
        [ValueKind.Text] = ["text", "varchar", "bpchar", "name"],
        [ValueKind.Json] = ["json", "jsonb"],
    };

    private static readonly Dictionary<string, NpgsqlDbType> DbTypes = new(StringComparer.Ordinal)
    {
        ["int2"] = NpgsqlDbType.Smallint,
        ["int4"] = NpgsqlDbType.Integer,
        ["int8"] = NpgsqlDbType.Bigint,
        ["numeric"] = NpgsqlDbType.Numeric,
        ["money"] = NpgsqlDbType.Money,
        ["float4"] = NpgsqlDbType.Real,
        ["float8"] = NpgsqlDbType.Double,
        ["text"] = NpgsqlDbType.Text,
        ["name"] = NpgsqlDbType.Name,
        ["varchar"] = NpgsqlDbType.Varchar,
        ["bpchar"] = NpgsqlDbType.Char,
        ["bool"] = NpgsqlDbType.Boolean,
        ["date"] = NpgsqlDbType.Date,
        ["time"] = NpgsqlDbType.Time,
        ["timestamp"] = NpgsqlDbType.Timestamp,
        ["timestamptz"] = NpgsqlDbType.TimestampTz,
        ["interval"] = NpgsqlDbType.Interval,
        ["uuid"] = NpgsqlDbType.Uuid,
        ["json"] = NpgsqlDbType.Json,
        ["jsonb"] = NpgsqlDbType.Jsonb,
        ["bytea"] = NpgsqlDbType.Bytea,
    };

    /// <summary>The column type to create in the destination for <paramref name="type"/>, spelled as format_type spells it.</summary>
    public static string TargetType(ColumnType type)
    {
        if (TryParseBuiltIn(type.SourceTypeName, out var builtIn, out var modifier, out var isArray)
            && isArray == type.IsArray
            && (OwnType(type.Kind) == builtIn.TypeName || (Keepable.TryGetValue(type.Kind, out var keep) && keep.Contains(builtIn.TypeName))))
        {
            return Spell(builtIn, modifier) + (isArray ? "[]" : "");
        }

        var own = BuiltIns[OwnType(type.Kind)];
        var ownModifier = own.Modifier == Modifier.PrecisionScale && type.Precision is { } precision
            ? FormattableString.Invariant($"{precision},{type.Scale ?? 0}")
            : null;
        return Spell(own, ownModifier) + (type.IsArray ? "[]" : "");
    }

    /// <summary>
    /// How values of <paramref name="kind"/> are sent to a column whose type is <paramref name="typeName"/>
    /// (pg_type.typname of the column or its element, null when not a built-in): as that type when Npgsql can write it,
    /// else as the type the kind is sent as by default (text for the string kinds), with <c>NeedsCast</c> set.
    /// </summary>
    public static (string WireType, NpgsqlDbType DbType, bool NeedsCast) Wire(ValueKind kind, bool isArray, string? typeName, bool targetIsArray)
    {
        var native = typeName is not null && isArray == targetIsArray && Native[kind].Contains(typeName);
        var wire = native ? typeName! : SendType(kind);
        var dbType = DbTypes[wire];
        return ("pg_catalog." + wire + (isArray ? "[]" : ""), isArray ? dbType | NpgsqlDbType.Array : dbType, !native);
    }

    /// <summary>The column type (pg_type.typname) a kind gets when the source's type is not kept.</summary>
    private static string OwnType(ValueKind kind) => kind switch
    {
        ValueKind.Int16 => "int2",
        ValueKind.Int32 => "int4",
        ValueKind.Int64 => "int8",
        ValueKind.Decimal or ValueKind.NumericText => "numeric",
        ValueKind.Float32 => "float4",
        ValueKind.Float64 => "float8",
        ValueKind.Text or ValueKind.Enum => "text",
        ValueKind.Boolean => "bool",
        ValueKind.Date => "date",
        ValueKind.Time => "time",
        ValueKind.Timestamp => "timestamp",
        ValueKind.TimestampTz => "timestamptz",
        ValueKind.Interval => "interval",
        ValueKind.Uuid => "uuid",
        ValueKind.Json => "jsonb",
        ValueKind.Bytes => "bytea",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>The type (pg_type.typname) a kind's values are sent as when the column's type is not one Npgsql writes it as.</summary>
    private static string SendType(ValueKind kind) => kind switch
    {
        ValueKind.Text or ValueKind.Enum or ValueKind.Json or ValueKind.NumericText => "text",
        _ => OwnType(kind),
    };

    private static string Spell(BuiltIn type, string? modifier)
    {
        if (modifier is null || type.Modifier == Modifier.None)
        {
            // An unsized character column would be character(1); the unsized form that keeps every value is bpchar.
            return type.TypeName == "bpchar" ? "bpchar" : type.Spelling;
        }

        return type.Modifier switch
        {
            Modifier.PrecisionScale when !modifier.Contains(',', StringComparison.Ordinal) => $"{type.Spelling}({modifier},0)",
            Modifier.FractionalSeconds when type.Spelling.EndsWith(" time zone", StringComparison.Ordinal) =>
                type.Spelling.Insert(type.Spelling.IndexOf(' ', StringComparison.Ordinal), $"({modifier})"),
            _ => $"{type.Spelling}({modifier})",
        };
    }

    private static bool TryParseBuiltIn(string sourceTypeName, out BuiltIn type, out string? modifier, out bool isArray)
    {
        type = null!;
        modifier = null;
        var match = TypeNamePattern().Match(sourceTypeName.Trim().ToLowerInvariant());
        isArray = match.Groups["array"].Success && match.Groups["array"].Length > 0;
        if (!match.Success || !BuiltIns.TryGetValue(match.Groups["name"].Value + match.Groups["zone"].Value, out var found))
        {
            return false;
        }

        type = found;
        if (match.Groups["modifier"].Success)
        {
            if (found.Modifier == Modifier.None)
            {
                return false;
            }

            var parts = match.Groups["modifier"].Value.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length > (found.Modifier == Modifier.PrecisionScale ? 2 : 1))
            {
                return false;
            }

            modifier = string.Join(',', parts.Select(p => int.Parse(p, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture)));
        }

        return true;
    }

    private static Dictionary<string, BuiltIn> Build(params (string[] Names, BuiltIn Type)[] entries)
    {
        var map = new Dictionary<string, BuiltIn>(StringComparer.Ordinal);
        foreach (var (names, type) in entries)
        {
            foreach (var name in names)
            {
                map[name] = type;
            }

            map.TryAdd(type.TypeName, type);
        }

        return map;
    }

    [GeneratedRegex(@"^(?:pg_catalog\.)?(?<name>[a-z][a-z0-9_]*(?: [a-z][a-z0-9_]*)*?)\s*(?:\((?<modifier>-?\d+(?:\s*,\s*-?\d+)?)\))?(?<zone> with(?:out)? time zone)?(?<array>(?:\[\d*\])*)$", RegexOptions.CultureInvariant)]
    private static partial Regex TypeNamePattern();
}
