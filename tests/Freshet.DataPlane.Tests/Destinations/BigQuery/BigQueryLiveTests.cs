using Freshet.DataPlane.Destinations;
using Freshet.DataPlane.Destinations.BigQuery;
using Xunit.Abstractions;

namespace Freshet.DataPlane.Tests.Destinations.BigQuery;

/// <summary>
/// The clients against a real BigQuery project, only when FRESHET_BIGQUERY_KEY_FILE (a service-account key) and
/// FRESHET_BIGQUERY_DATASET are set (optional: FRESHET_BIGQUERY_PROJECT, else the key's project_id;
/// FRESHET_BIGQUERY_LOCATION). Without them the test prints that it was skipped and returns. This is what the emulator's
/// fidelity is checked against: the token flow, a table with PRIMARY KEY NOT ENFORCED, CDC rows with sequence numbers
/// through the Storage Write API, and the REST row format.
/// </summary>
public sealed class BigQueryLiveTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Live_CdcUpsertDeleteThroughStorageWrite_ReadBackWithJobsQuery()
    {
        var keyFile = Environment.GetEnvironmentVariable("FRESHET_BIGQUERY_KEY_FILE");
        var dataset = Environment.GetEnvironmentVariable("FRESHET_BIGQUERY_DATASET");
        if (string.IsNullOrEmpty(keyFile) || string.IsNullOrEmpty(dataset))
        {
            const string message = "SKIPPED: live BigQuery test (set FRESHET_BIGQUERY_KEY_FILE and FRESHET_BIGQUERY_DATASET to run it)";
            output.WriteLine(message);
            Console.WriteLine(message);
            return;
        }
        var tokens = ServiceAccountTokenSource.FromJson(await File.ReadAllTextAsync(keyFile));
        var options = new BigQueryClientOptions
        {
            ProjectId = Environment.GetEnvironmentVariable("FRESHET_BIGQUERY_PROJECT") ?? tokens.ProjectId
                ?? throw new InvalidOperationException("Set FRESHET_BIGQUERY_PROJECT: the key file has no project_id."),
            Location = Environment.GetEnvironmentVariable("FRESHET_BIGQUERY_LOCATION"),
        };
        using var http = WarehouseHttp.CreateClient(options.RestEndpoint);
        var rest = new BigQueryRestClient(http, options, tokens, TimeProvider.System);
        using var writer = new BigQueryStorageWriter(options, tokens, TimeProvider.System);
        var table = $"freshet_live_{Guid.NewGuid():N}";
        BigQueryColumn[] columns =
        [
            new("id", "INT64", null, null, true, ProtoEncoding.Int64),
            new("name", "STRING", null, null, false, ProtoEncoding.String),
            new("amount", "NUMERIC", 12, 2, false, ProtoEncoding.String),
            new("at", "TIMESTAMP", null, null, false, ProtoEncoding.TimestampMicros),
        ];
        await rest.CreateTableAsync(dataset, table, columns, ["id"], null, default);
        try
        {
            var rows = new StorageWriteRows(columns, changeData: true);
            var at = new DateTime(2024, 2, 29, 10, 11, 12, DateTimeKind.Utc);
            await writer.AppendAsync(dataset, table, rows,
            [
                new([1L, "a", 1.5m, at], ChangeType.Upsert, StorageWriteRows.SequenceNumber(10, 0)),
                new([2L, "b", 2m, at], ChangeType.Upsert, StorageWriteRows.SequenceNumber(10, 1)),
                new([1L, "a2", 3.25m, at], ChangeType.Upsert, StorageWriteRows.SequenceNumber(11, 0)),
                new([2L, null, null, null], ChangeType.Delete, StorageWriteRows.SequenceNumber(11, 1)),
                new([1L, "stale", 0m, at], ChangeType.Upsert, StorageWriteRows.SequenceNumber(9, 0)),
            ], default);
            var result = await rest.QueryAsync($"SELECT id, name, amount, at FROM `{options.ProjectId}.{dataset}.{table}` ORDER BY id", null, default);

            output.WriteLine($"live: {result.Rows.Count} row(s), job {result.JobId}");
            Assert.Equal<IEnumerable<string?>>(["1", "a2", "3.25", "1709201472000000"], Assert.Single(result.Rows));
        }
        finally
        {
            await rest.QueryAsync($"DROP TABLE IF EXISTS `{options.ProjectId}.{dataset}.{table}`", null, default);
        }
    }
}
