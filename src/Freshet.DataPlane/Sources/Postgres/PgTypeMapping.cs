using Freshet.DataPlane.Schema;
using NpgsqlTypes;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>What the catalog says about a column's type, enough to map it.</summary>
/// <param name="Oid">The column's type.</param>
/// <param name="TypeModifier">atttypmod (numeric precision/scale, varchar length).</param>
/// <param name="TypeType">pg_type.typtype of the type, or of the element for arrays ('b' base, 'e' enum, 'd' domain…).</param>
/// <param name="ElementOid">For arrays: the element type; otherwise 0.</param>
/// <param name="FormattedName">format_type(oid, typmod).</param>
internal sealed record PgTypeInfo(uint Oid, int TypeModifier, char TypeType, uint ElementOid, string FormattedName);

/// <summary>Maps PostgreSQL types to the data plane's value kinds; anything else is a clear per-table error.</summary>
internal static class PgTypeMapping
{
    /// <summary>Built-in type OIDs (pg_type.dat): stable across every PostgreSQL version.</summary>
    private static readonly Dictionary<uint, ValueKind> BaseKinds = new()
    {
        [21] = ValueKind.Int16,
        [23] = ValueKind.Int32,
        [20] = ValueKind.Int64,
        [1700] = ValueKind.Decimal,
        [700] = ValueKind.Float32,
        [701] = ValueKind.Float64,
        [25] = ValueKind.Text,
        [1043] = ValueKind.Text,
        [1042] = ValueKind.Text,
        [19] = ValueKind.Text,
        [16] = ValueKind.Boolean,
        [1082] = ValueKind.Date,
        [1083] = ValueKind.Time,
        [1114] = ValueKind.Timestamp,
        [1184] = ValueKind.TimestampTz,
        [1186] = ValueKind.Interval,
        [2950] = ValueKind.Uuid,
        [114] = ValueKind.Json,
        [3802] = ValueKind.Json,
        [17] = ValueKind.Bytes,
    };

    /// <summary>Array type OID → element OID for the built-in arrays of the kinds above.</summary>
    private static readonly Dictionary<uint, uint> BuiltInArrays = new()
    {
        [1005] = 21,
        [1007] = 23,
        [1016] = 20,
        [1231] = 1700,
        [1021] = 700,
        [1022] = 701,
        [1009] = 25,
        [1015] = 1043,
        [1014] = 1042,
        [1003] = 19,
        [1000] = 16,
        [1182] = 1082,
        [1183] = 1083,
        [1115] = 1114,
        [1185] = 1184,
        [1187] = 1186,
        [2951] = 2950,
        [199] = 114,
        [3807] = 3802,
        [1001] = 17,
    };

    /// <summary>Whether the catalog must be asked about this OID (enums and other user-defined types).</summary>
    public static bool IsBuiltIn(uint oid) => BaseKinds.ContainsKey(oid) || BuiltInArrays.ContainsKey(oid);

    public static bool TryMap(PgTypeInfo type, out ColumnType columnType, out string? error)
    {
        var isArray = type.ElementOid != 0;
        var elementOid = isArray ? type.ElementOid : type.Oid;
        ValueKind kind;
        if (BaseKinds.TryGetValue(elementOid, out var builtIn))
        {
            kind = builtIn;
        }
        else if (type.TypeType == 'e')
        {
            kind = ValueKind.Enum;
        }
        else
        {
            columnType = null!;
            error = $"type {type.FormattedName} is not supported (supported: integers, numeric, real/double, text/varchar/char, boolean, "
                + "date, time, timestamp, timestamptz, interval, uuid, json/jsonb, bytea, enums, and one-dimensional arrays of them); "
                + "exclude the column or change its type";
            return false;
        }

        int? precision = null, scale = null, maxLength = null;
        if (elementOid == 1700)
        {
            if (type.TypeModifier >= 4)
            {
                precision = ((type.TypeModifier - 4) >> 16) & 0xFFFF;
                scale = (type.TypeModifier - 4) & 0xFFFF;
            }

            // System.Decimal carries 28 significant digits; wider or unconstrained numerics travel as exact text.
            if (precision is null or > 28)
            {
                kind = ValueKind.NumericText;
            }
        }
        else if (elementOid is 1043 or 1042 && type.TypeModifier >= 4)
        {
            maxLength = type.TypeModifier - 4;
        }

        columnType = new ColumnType(kind, isArray, type.FormattedName, precision, scale, maxLength);
        error = null;
        return true;
    }

    public static uint ElementOfBuiltInArray(uint oid) => BuiltInArrays.GetValueOrDefault(oid);

    /// <summary>The Npgsql type to read a value of this kind with, in binary COPY.</summary>
    public static NpgsqlDbType CopyType(ColumnType type)
    {
        var element = type.Kind switch
        {
            ValueKind.Int16 => NpgsqlDbType.Smallint,
            ValueKind.Int32 => NpgsqlDbType.Integer,
            ValueKind.Int64 => NpgsqlDbType.Bigint,
            ValueKind.Decimal => NpgsqlDbType.Numeric,
            // Read as text: the snapshot query casts these columns (see PgSnapshot.SelectList).
            ValueKind.NumericText or ValueKind.Enum or ValueKind.Text => NpgsqlDbType.Text,
            ValueKind.Float32 => NpgsqlDbType.Real,
            ValueKind.Float64 => NpgsqlDbType.Double,
            ValueKind.Boolean => NpgsqlDbType.Boolean,
            ValueKind.Date => NpgsqlDbType.Date,
            ValueKind.Time => NpgsqlDbType.Time,
            ValueKind.Timestamp => NpgsqlDbType.Timestamp,
            ValueKind.TimestampTz => NpgsqlDbType.TimestampTz,
            ValueKind.Interval => NpgsqlDbType.Interval,
            ValueKind.Uuid => NpgsqlDbType.Uuid,
            ValueKind.Json => type.SourceTypeName.StartsWith("jsonb", StringComparison.Ordinal) ? NpgsqlDbType.Jsonb : NpgsqlDbType.Json,
            ValueKind.Bytes => NpgsqlDbType.Bytea,
            _ => throw new ArgumentOutOfRangeException(nameof(type), type.Kind, null),
        };
        return type.IsArray ? element | NpgsqlDbType.Array : element;
    }
}
