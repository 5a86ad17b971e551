using System.Text.Json.Nodes;

namespace Freshet.Emulators.BigQuery.Catalog;

/// <summary>
/// A table's metadata: schema, primary key (BigQuery's <c>PRIMARY KEY … NOT ENFORCED</c>, set through
/// <c>tableConstraints.primaryKey</c>; required for CDC writes) and <c>maxStaleness</c>. Immutable; patches make a new one.
/// </summary>
internal sealed record TableDefinition(
    string Dataset,
    string Table,
    IReadOnlyList<BigQueryField> Fields,
    IReadOnlyList<string> PrimaryKey,
    string? MaxStaleness,
    DateTimeOffset CreatedAt,
    DateTimeOffset ModifiedAt,
    long Generation)
{
    public BigQueryField? Field(string name) => Fields.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));

    public string ETag => Convert.ToBase64String(BitConverter.GetBytes(Generation));

    public JsonObject ToJson(string projectId, string location) => new()
    {
        ["kind"] = "bigquery#table",
        ["id"] = $"{projectId}:{Dataset}.{Table}",
        ["etag"] = ETag,
        ["tableReference"] = new JsonObject { ["projectId"] = projectId, ["datasetId"] = Dataset, ["tableId"] = Table },
        ["type"] = "TABLE",
        ["location"] = location,
        ["creationTime"] = CreatedAt.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["lastModifiedTime"] = ModifiedAt.ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["schema"] = new JsonObject { ["fields"] = new JsonArray([.. Fields.Select(f => (JsonNode)f.ToJson())]) },
        ["tableConstraints"] = PrimaryKey.Count == 0
            ? null
            : new JsonObject { ["primaryKey"] = new JsonObject { ["columns"] = new JsonArray([.. PrimaryKey.Select(c => (JsonNode)JsonValue.Create(c)!)]) } },
        ["maxStaleness"] = MaxStaleness,
    };
}
