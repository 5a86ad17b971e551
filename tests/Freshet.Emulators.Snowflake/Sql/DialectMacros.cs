namespace Freshet.Emulators.Snowflake.Sql;

/// <summary>Snowflake functions DuckDB lacks, supplied as temporary macros (visible from every attached database).</summary>
internal static class DialectMacros
{
    public static readonly string[] Definitions =
    [
        "CREATE OR REPLACE TEMP MACRO parse_json(text) AS CAST(text AS JSON)",
        "CREATE OR REPLACE TEMP MACRO try_parse_json(text) AS CASE WHEN json_valid(text) THEN CAST(text AS JSON) END",
        "CREATE OR REPLACE TEMP MACRO iff(condition, when_true, when_false) AS CASE WHEN condition THEN when_true ELSE when_false END",
        "CREATE OR REPLACE TEMP MACRO to_variant(value) AS to_json(value)",
        "CREATE OR REPLACE TEMP MACRO hex_decode_binary(text) AS unhex(text)",
        "CREATE OR REPLACE TEMP MACRO base64_decode_binary(text) AS from_base64(text)",
        "CREATE OR REPLACE TEMP MACRO zeroifnull(value) AS coalesce(value, 0)",
        "CREATE OR REPLACE TEMP MACRO nvl(value, fallback) AS coalesce(value, fallback)",
        "CREATE OR REPLACE TEMP MACRO sysdate() AS CAST(now() AT TIME ZONE 'UTC' AS TIMESTAMP)",
    ];
}
