namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>One step of a connection test: what was tried, whether it worked, and what to do when it did not.</summary>
public sealed record BigQueryCheckStep(string Name, bool Succeeded, string Message);

/// <summary>
/// Tests a BigQuery destination connection the way a pipeline will use it, stopping at the first step that fails:
/// an access token for the service account, the dataset, creating a table with a primary key, a CDC row through the
/// Storage Write API, reading it back with a query job, and dropping the table again. Each failure says which
/// permission or setting is the likely cause (cloud.google.com/bigquery/docs/access-control).
/// </summary>
public static class BigQueryConnectionCheck
{
    public static async Task<IReadOnlyList<BigQueryCheckStep>> RunAsync(BigQueryClientOptions options, IBigQueryTokenSource tokens, BigQueryRestClient rest,
        BigQueryStorageWriter writer, string dataset, CancellationToken cancellationToken)
    {
        var steps = new List<BigQueryCheckStep>();
        var table = $"_freshet_connection_test_{Guid.NewGuid():N}";
        BigQueryColumn[] columns = [new("id", "INT64", null, null, true, ProtoEncoding.Int64), new("note", "STRING", null, null, false, ProtoEncoding.String)];
        var created = false;
        try
        {
            if (!await StepAsync(steps, "authenticate", async () =>
                {
                    await tokens.GetTokenAsync(renew: false, cancellationToken).ConfigureAwait(false);
                    return "The service account key was accepted by the token endpoint.";
                }, failure => $"The service account key was refused: {failure.Message} Check that the key is current (not deleted or disabled) and that the machine's clock is right.").ConfigureAwait(false))
            {
                return steps;
            }
            if (!await StepAsync(steps, "dataset", async () =>
                {
                    return await rest.DatasetExistsAsync(dataset, cancellationToken).ConfigureAwait(false)
                        ? $"Dataset {options.ProjectId}.{dataset} is visible."
                        : throw new BigQueryException($"Dataset {options.ProjectId}.{dataset} was not found, or the account may not see it (needs bigquery.datasets.get, e.g. roles/bigquery.dataViewer on the dataset).", 404, "notFound", isRetryable: false);
                }, failure => failure.Message).ConfigureAwait(false))
            {
                return steps;
            }
            if (!await StepAsync(steps, "create table", async () =>
                {
                    await rest.CreateTableAsync(dataset, table, columns, ["id"], null, cancellationToken).ConfigureAwait(false);
                    created = true;
                    return $"Created {dataset}.{table} with PRIMARY KEY (id) NOT ENFORCED.";
                }, failure => Permission(failure, $"The account may not create tables in {dataset} (needs bigquery.tables.create, e.g. roles/bigquery.dataEditor).")).ConfigureAwait(false))
            {
                return steps;
            }
            if (!await StepAsync(steps, "write", async () =>
                {
                    await writer.AppendAsync(dataset, table, new StorageWriteRows(columns, changeData: true),
                        [new StorageWriteRow([1L, "freshet connection test"], ChangeType.Upsert, StorageWriteRows.SequenceNumber(1, 0))], cancellationToken).ConfigureAwait(false);
                    return "Wrote a change row through the Storage Write API (_default stream).";
                }, failure => Permission(failure, $"The account may not write to {dataset} through the Storage Write API (needs bigquery.tables.updateData, e.g. roles/bigquery.dataEditor).")).ConfigureAwait(false))
            {
                return steps;
            }
            await StepAsync(steps, "query", async () =>
            {
                var result = await rest.QueryAsync($"SELECT note FROM `{options.ProjectId}.{dataset}.{table}` WHERE id = 1", null, cancellationToken).ConfigureAwait(false);
                return result.Rows.Count == 1
                    ? "Read the row back with a query job."
                    : throw new BigQueryException($"The test row did not come back ({result.Rows.Count} rows).", 200, null, isRetryable: false);
            }, failure => Permission(failure, "The account may not run query jobs in the project (needs bigquery.jobs.create, e.g. roles/bigquery.jobUser).")).ConfigureAwait(false);
            return steps;
        }
        finally
        {
            if (created)
            {
                await StepAsync(steps, "drop table", async () =>
                {
                    await rest.QueryAsync($"DROP TABLE IF EXISTS `{options.ProjectId}.{dataset}.{table}`", null, cancellationToken).ConfigureAwait(false);
                    return $"Dropped {dataset}.{table}.";
                }, failure => $"The test table {dataset}.{table} could not be dropped and may be removed by hand: {failure.Message}").ConfigureAwait(false);
            }
        }
    }

    private static async Task<bool> StepAsync(List<BigQueryCheckStep> steps, string name, Func<Task<string>> action, Func<BigQueryException, string> explain)
    {
        try
        {
            steps.Add(new BigQueryCheckStep(name, true, await action().ConfigureAwait(false)));
            return true;
        }
        catch (BigQueryException failure)
        {
            steps.Add(new BigQueryCheckStep(name, false, explain(failure)));
            return false;
        }
        catch (Polly.CircuitBreaker.BrokenCircuitException failure)
        {
            steps.Add(new BigQueryCheckStep(name, false, "BigQuery kept failing and calls are paused for a while: " + failure.Message));
            return false;
        }
    }

    private static string Permission(BigQueryException failure, string hint) =>
        failure.HttpStatus == 403 ? hint + " BigQuery said: " + failure.Message : failure.Message;
}
