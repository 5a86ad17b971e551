namespace Freshet.Emulators.Snowflake.Tests;

/// <summary>The Snowflake constructs the data plane's writer emits, run on DuckDB through the API.</summary>
public sealed class DialectTests
{
    [Fact]
    public async Task SnowflakeTypes_FlattenOfBoundJson_PathsAndCasts_LoadAStagingTable()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        var create = await api.SubmitAsync("""
            CREATE TABLE "STAGE" ("ID" NUMBER(38,0) NOT NULL, "PRICE" NUMBER(10,2), "NAME" VARCHAR(16777216), "OK" BOOLEAN,
              "DAY" DATE, "AT" TIME(9), "TS" TIMESTAMP_NTZ(9), "TSTZ" TIMESTAMP_TZ(9), "DOC" VARIANT, "RAW" BINARY, "F" FLOAT)
            """);
        var json = """
            [{"ID":1,"PRICE":"12.50","NAME":"o'brien \"q\"","OK":true,"DAY":"2024-02-29","AT":"10:11:12.5","TS":"2024-02-29 10:11:12.123456","TSTZ":"2024-02-29 10:11:12+02:00","DOC":{"a":[1,2]},"RAW":"CAFE","F":1.5},
             {"ID":2,"PRICE":null,"NAME":null,"OK":false,"DAY":"1969-12-31","AT":null,"TS":"1969-12-31 23:59:59.5","TSTZ":null,"DOC":null,"RAW":null,"F":null}]
            """;
        var load = await api.SubmitAsync("""
            INSERT INTO "STAGE"
            SELECT f.value:"ID"::NUMBER(38,0), f.value:"PRICE"::NUMBER(10,2), f.value:"NAME"::VARCHAR, f.value:"OK"::BOOLEAN,
                   f.value:"DAY"::DATE, f.value:"AT"::TIME, f.value:"TS"::TIMESTAMP_NTZ, f.value:"TSTZ"::TIMESTAMP_TZ,
                   f.value:"DOC", HEX_DECODE_BINARY(f.value:"RAW"::VARCHAR), f.value:"F"::FLOAT
            FROM TABLE(FLATTEN(INPUT => PARSE_JSON(?))) f
            """, bindings: new Dictionary<string, object> { ["1"] = new { type = "TEXT", value = json } });
        var read = await api.SubmitAsync("""SELECT "ID", "PRICE", "NAME", "OK", "DAY", "AT", "TS", "TSTZ", "DOC", "RAW", "F", IFF("OK", 'yes', 'no') AS "IFF" FROM "STAGE" ORDER BY "ID" """);

        Assert.Equal(200, create.Status);
        Assert.True(load.Status == 200, load.ToString());
        Assert.Equal([["2"]], load.Rows);
        Assert.Equal(200, read.Status);
        var types = read.Json!["resultSetMetaData"]!["rowType"]!.AsArray().Select(c => c!["type"]!.GetValue<string>()).ToList();
        Assert.Equal(["fixed", "fixed", "text", "boolean", "date", "time", "timestamp_ntz", "timestamp_tz", "text", "binary", "real", "text"], types);
        Assert.Equal<IEnumerable<string?>>(["1", "12.50", "o'brien \"q\"", "true", "19782", "36672.500000000", "1709201472.123456000", "1709194272.000000000 1440", """{"a":[1,2]}""", "CAFE", "1.5", "yes"], read.Rows[0]);
        // A JSON null read through a path is a VARIANT holding null, not SQL NULL: Snowflake shows it as "null".
        Assert.Equal<IEnumerable<string?>>(["2", null, null, "false", "-1", null, "-0.500000000", null, "null", null, null, "no"], read.Rows[1]);
    }

    [Fact]
    public async Task MergeWithQualify_AppliesTheLatestChangePerKey()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        var setup = await api.SubmitAsync("""
            CREATE TABLE target ("ID" NUMBER(38,0), "NAME" VARCHAR);
            CREATE TABLE stage ("ID" NUMBER(38,0), "NAME" VARCHAR, "OP" VARCHAR, "SEQ" NUMBER(38,0));
            INSERT INTO target VALUES (1, 'old'), (2, 'gone');
            INSERT INTO stage VALUES (1, 'a', 'U', 1), (1, 'b', 'U', 2), (2, NULL, 'D', 3), (3, 'c', 'I', 4)
            """, multiStatementCount: 4);

        var merge = await api.SubmitAsync("""
            MERGE INTO target t USING (SELECT * FROM stage QUALIFY ROW_NUMBER() OVER (PARTITION BY "ID" ORDER BY "SEQ" DESC) = 1) s
            ON t."ID" = s."ID"
            WHEN MATCHED AND s."OP" = 'D' THEN DELETE
            WHEN MATCHED THEN UPDATE SET "NAME" = s."NAME"
            WHEN NOT MATCHED AND s."OP" <> 'D' THEN INSERT ("ID", "NAME") VALUES (s."ID", s."NAME")
            """);
        var rows = await api.SubmitAsync("""SELECT "ID", "NAME" FROM target ORDER BY 1""");

        Assert.Equal(200, setup.Status);
        Assert.True(merge.Status == 200, merge.ToString());
        Assert.Equal([["1", "b"], ["3", "c"]], rows.Rows);
    }

    [Fact]
    public async Task BackslashEscapesInStringLiterals_AreSnowflakes()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;

        var answer = await api.SubmitAsync(@"SELECT 'it\'s' AS a, 'tab\there' AS b, 'semi;colon' AS c");

        Assert.Equal([["it's", "tab\there", "semi;colon"]], answer.Rows);
    }

    [Fact]
    public async Task TransientTable_IsCreatedAndReplacedLikeAPermanentOne()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;

        var create = await api.SubmitAsync("""CREATE TRANSIENT TABLE IF NOT EXISTS "STAGE" ("ID" NUMBER(38,0))""");
        var insert = await api.SubmitAsync("""INSERT INTO "STAGE" VALUES (1)""");
        var replace = await api.SubmitAsync("""CREATE OR REPLACE TRANSIENT TABLE "STAGE" ("ID" NUMBER(38,0), "NAME" VARCHAR)""");
        var rows = await api.SubmitAsync("""SELECT count(*) FROM "STAGE" """);

        Assert.True(create.Status == 200, create.ToString());
        Assert.Equal(200, insert.Status);
        Assert.True(replace.Status == 200, replace.ToString());
        Assert.Equal([["0"]], rows.Rows);
    }

    [Fact]
    public async Task InformationSchema_ShowsTheCurrentDatabaseOnly_WithSnowflakeTypeNames()
    {
        var (emulator, api) = await RawApi.StartAsync(new SnowflakeEmulatorOptions { Databases = ["FRESHET", "OTHER"] });
        await using var _ = emulator;
        using var __ = api;
        var create = await api.SubmitAsync("""
            CREATE TABLE "Mixed" ("id" NUMBER(19,0) NOT NULL, "n" INTEGER, "name" VARCHAR(40), "ratio" FLOAT, "ok" BOOLEAN, "day" DATE,
              "at" TIME(6), "ts" TIMESTAMP_NTZ(6), "tstz" TIMESTAMP_TZ(6), "doc" VARIANT, "raw" BINARY)
            """);
        await emulator.QueryAsync("""CREATE TABLE "OTHER"."PUBLIC"."Mixed" ("elsewhere" INTEGER)""");

        var columns = await api.SubmitAsync("""
            SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable FROM information_schema.columns
            WHERE table_schema = 'PUBLIC' AND table_name = 'Mixed' ORDER BY ordinal_position
            """);
        var tables = await api.SubmitAsync("""SELECT table_name, table_type FROM INFORMATION_SCHEMA.TABLES WHERE table_schema = 'PUBLIC'""");

        Assert.True(create.Status == 200, create.ToString());
        Assert.True(columns.Status == 200, columns.ToString());
        Assert.Equal(
            [
                ["id", "NUMBER", "19", "0", "NO"], ["n", "NUMBER", "38", "0", "YES"], ["name", "TEXT", null, null, "YES"], ["ratio", "FLOAT", null, null, "YES"],
                ["ok", "BOOLEAN", null, null, "YES"], ["day", "DATE", null, null, "YES"], ["at", "TIME", null, null, "YES"],
                ["ts", "TIMESTAMP_NTZ", null, null, "YES"], ["tstz", "TIMESTAMP_TZ", null, null, "YES"], ["doc", "VARIANT", null, null, "YES"],
                ["raw", "BINARY", null, null, "YES"],
            ],
            columns.Rows);
        Assert.Equal([["Mixed", "BASE TABLE"]], tables.Rows);
    }

    [Fact]
    public async Task MergeWithSeveralMatchedClauses_AndAFailedCastInATransaction_RollsEverythingBack()
    {
        var (emulator, api) = await RawApi.StartAsync();
        await using var _ = emulator;
        using var __ = api;
        await api.SubmitAsync("""CREATE TABLE t ("ID" NUMBER(38,0), "N" VARCHAR, "P" NUMBER(38,0))""");
        await api.SubmitAsync("""INSERT INTO t VALUES (1, 'a', 10), (2, 'b', 10), (3, 'c', 30)""");

        // A guard per clause, as a writer that never lets an older change overwrite a newer row does.
        var merge = await api.SubmitAsync("""
            MERGE INTO t USING (SELECT * FROM (VALUES (1, NULL, 20, TRUE), (2, 'b2', 20, FALSE), (3, 'c2', 20, FALSE), (4, 'd', 20, FALSE)) AS v ("ID", "N", "P", "DEL")) s
            ON t."ID" = s."ID"
            WHEN MATCHED AND s."DEL" AND t."P" < s."P" THEN DELETE
            WHEN MATCHED AND NOT s."DEL" AND t."P" < s."P" THEN UPDATE SET "N" = s."N", "P" = s."P"
            WHEN NOT MATCHED AND NOT s."DEL" THEN INSERT ("ID", "N", "P") VALUES (s."ID", s."N", s."P")
            """);
        // A cast of a text that is no number fails the statement (Snowflake: 100038 "Numeric value … is not recognized"),
        // and with it the transaction it ran in.
        var failed = await api.SubmitAsync("""
            BEGIN;
            DELETE FROM t;
            SELECT CAST(IFF(1 = 2, '0', 'refused') AS NUMBER);
            COMMIT
            """, multiStatementCount: 4);
        var rows = await api.SubmitAsync("""SELECT "ID", "N", "P" FROM t ORDER BY 1""");

        Assert.True(merge.Status == 200, merge.ToString());
        Assert.Equal(422, failed.Status);
        Assert.Equal("100038", failed.Code);
        Assert.Equal([["2", "b2", "20"], ["3", "c", "30"], ["4", "d", "20"]], rows.Rows);
    }
}
