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
}
