using Freshet.DataPlane.Schema;
using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

/// <summary>Which table a DDL statement touches, as the decoder makes it out (the rest is end to end on MariaDB).</summary>
public sealed class BinlogChangeDecoderStatementTests
{
    [Theory]
    [InlineData("ALTER TABLE products ADD COLUMN color VARCHAR(20)", "shop", "products")]
    [InlineData("/* hint */ ALTER ONLINE IGNORE TABLE IF EXISTS `other db`.`odd``name` DROP COLUMN x", "other db", "odd`name")]
    [InlineData("alter table shop2 . items modify price bigint", "shop2", "items")]
    [InlineData("ALTER TABLE items(x)", "shop", "items")]
    public void AlterTarget_NamesTheChangedTable(string sql, string schema, string name) =>
        Assert.Equal(new TableId(schema, name), BinlogChangeDecoder.AlterTarget(sql, "shop"));

    [Theory]
    [InlineData("ALTER TABLE")]
    [InlineData("ALTER TABLE 'quoted' ADD x INT")]
    public void AlterTarget_WhenItCannotBeMadeOut_IsNull(string sql) => Assert.Null(BinlogChangeDecoder.AlterTarget(sql, "shop"));

    [Theory]
    [InlineData("CREATE TABLE copy LIKE items", "copy")]
    [InlineData("CREATE OR REPLACE TABLE items (id INT PRIMARY KEY)", "items")]
    [InlineData("CREATE TABLE IF NOT EXISTS `items` SELECT * FROM other", "items")]
    public void CreateTarget_NamesTheCreatedTable_NotTheOnesItReads(string sql, string name) =>
        Assert.Equal(new TableId("shop", name), BinlogChangeDecoder.CreateTarget(sql, "shop"));
}
