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

    // Names the rewriter puts where a statement says INFORMATION_SCHEMA.COLUMNS or INFORMATION_SCHEMA.TABLES.
    public const string ColumnsView = "snowflake_information_schema_columns";
    public const string TablesView = "snowflake_information_schema_tables";

    private const string Integers = "('TINYINT', 'SMALLINT', 'INTEGER', 'BIGINT', 'HUGEINT', 'UTINYINT', 'USMALLINT', 'UINTEGER', 'UBIGINT')";

    /// <summary>
    /// Snowflake's INFORMATION_SCHEMA belongs to a database and shows that database's objects only, with Snowflake's type
    /// names in DATA_TYPE (docs: "INFORMATION_SCHEMA COLUMNS view": NUMBER with NUMERIC_PRECISION/NUMERIC_SCALE, TEXT for
    /// every VARCHAR, FLOAT, BOOLEAN, DATE, TIME, TIMESTAMP_NTZ, TIMESTAMP_TZ, VARIANT, BINARY; integer types are
    /// NUMBER(38,0)). DuckDB's information_schema spans every attached catalog and spells types its own way; these views
    /// over it answer as Snowflake does for the current database. DuckDB cannot create a schema named
    /// INFORMATION_SCHEMA in a catalog, hence views under other names that the rewriter substitutes.
    /// </summary>
    public static readonly string[] Views =
    [
        $"""
        CREATE OR REPLACE TEMP VIEW {ColumnsView} AS
        SELECT table_catalog, table_schema, table_name, column_name, ordinal_position, column_default, is_nullable,
          CASE WHEN data_type LIKE 'DECIMAL%' OR data_type IN {Integers} THEN 'NUMBER'
               WHEN data_type = 'VARCHAR' THEN 'TEXT'
               WHEN data_type IN ('DOUBLE', 'FLOAT') THEN 'FLOAT'
               WHEN data_type = 'TIMESTAMP WITH TIME ZONE' THEN 'TIMESTAMP_TZ'
               WHEN data_type LIKE 'TIMESTAMP%' THEN 'TIMESTAMP_NTZ'
               WHEN data_type LIKE 'TIME%' THEN 'TIME'
               WHEN data_type = 'JSON' THEN 'VARIANT'
               WHEN data_type = 'BLOB' THEN 'BINARY'
               ELSE data_type END AS data_type,
          CASE WHEN data_type LIKE 'DECIMAL%' THEN numeric_precision WHEN data_type IN {Integers} THEN 38 END AS numeric_precision,
          CASE WHEN data_type LIKE 'DECIMAL%' THEN numeric_scale WHEN data_type IN {Integers} THEN 0 END AS numeric_scale
        FROM information_schema.columns WHERE table_catalog = current_database()
        """,
        $"""
        CREATE OR REPLACE TEMP VIEW {TablesView} AS
        SELECT table_catalog, table_schema, table_name, CASE WHEN table_type = 'VIEW' THEN 'VIEW' ELSE 'BASE TABLE' END AS table_type
        FROM information_schema.tables WHERE table_catalog = current_database()
        """,
    ];
}
