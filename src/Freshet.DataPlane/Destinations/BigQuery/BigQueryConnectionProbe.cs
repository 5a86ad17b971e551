using Freshet.Contracts;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.BigQuery;

/// <summary>
/// The connection test of a BigQuery destination: the settings and key can be read, the key gets an access token, the
/// dataset is visible, the account may create a table with a primary key there, write a CDC row to it through the
/// Storage Write API and read it back with a query job (<see cref="BigQueryConnectionCheck"/>; the table is dropped
/// again). Checks after a failed one are skipped, so the list points at the first thing to fix.
/// </summary>
internal sealed class BigQueryConnectionProbe(TimeProvider time, ILoggerFactory loggerFactory) : IConnectionProbe
{
    private static readonly string[] Checks = ["settings", "authenticate", "dataset", "create_tables", "write", "query"];

    private static readonly Dictionary<string, (string Name, string Fix)> Steps = new(StringComparer.Ordinal)
    {
        ["authenticate"] = ("authenticate", "Create a new key for the service account (IAM → Service accounts → Keys) and paste the whole JSON file."),
        ["dataset"] = ("dataset", "Create the dataset in the project, or grant the service account roles/bigquery.dataViewer (or dataEditor) on it."),
        ["create table"] = ("create_tables", "Grant the service account roles/bigquery.dataEditor on the dataset."),
        ["write"] = ("write", "Grant the service account roles/bigquery.dataEditor on the dataset (bigquery.tables.updateData) and enable the BigQuery Storage API in the project."),
        ["query"] = ("query", "Grant the service account roles/bigquery.jobUser on the project."),
        ["drop table"] = ("drop_table", "Drop the test table by hand and grant bigquery.tables.delete (roles/bigquery.dataEditor)."),
    };

    public ConnectionType Type => ConnectionType.Bigquery;

    public async Task<IReadOnlyList<ConnectionProbeCheck>> ProbeAsync(EndpointSpec endpoint, ConnectionKind kind, CancellationToken cancellationToken)
    {
        var checks = new List<ConnectionProbeCheck>();
        BigQueryConnection connection;
        try
        {
            // One attempt per call: a person is waiting, and a throttled service is an answer worth showing.
            connection = BigQueryDestinationSettings.Connect(endpoint, time, loggerFactory.CreateLogger<BigQueryConnectionProbe>(), maxRetryAttempts: 0);
        }
        catch (ArgumentException e)
        {
            checks.Add(new("settings", ConnectionProbeStatus.Failed, e.Message, "Correct the connection's settings and the service account key."));
            return SkipRest(checks);
        }

        using (connection)
        {
            var settings = connection.Settings;
            checks.Add(new("settings", ConnectionProbeStatus.Passed,
                $"Project {settings.ProjectId}, dataset {settings.Dataset}, service account {connection.Tokens.ClientEmail}, write method {(settings.WriteMethod == BigQueryWriteMethod.Merge ? "merge" : "storage_write")}."));
            try
            {
                await connection.Tokens.GetTokenAsync(renew: false, cancellationToken).ConfigureAwait(false);
            }
            catch (BigQueryException e) when (e.HttpStatus == 0)
            {
                // No answer at all (as opposed to a refused key, which the connection check explains).
                checks.Add(new("authenticate", ConnectionProbeStatus.Failed, e.Message,
                    "Check that Freshet may reach the key's token_uri (https://oauth2.googleapis.com/token), bigquery.googleapis.com and bigquerystorage.googleapis.com."));
                return SkipRest(checks);
            }
            catch (BigQueryException)
            {
                // An answer that refuses the key: the connection check below asks again and explains it.
            }

            IReadOnlyList<BigQueryCheckStep> steps;
            try
            {
                steps = await BigQueryConnectionCheck.RunAsync(connection.Options, connection.Tokens, connection.Rest, connection.Writer, settings.Dataset, cancellationToken)
                    .ConfigureAwait(false);
            }
            catch (Exception e) when (e is HttpRequestException or Grpc.Core.RpcException)
            {
                checks.Add(new("authenticate", ConnectionProbeStatus.Failed, $"BigQuery could not be reached: {e.Message}",
                    "Check that Freshet may reach bigquery.googleapis.com, bigquerystorage.googleapis.com and the key's token_uri."));
                return SkipRest(checks);
            }

            foreach (var step in steps)
            {
                var (name, fix) = Steps.GetValueOrDefault(step.Name, (step.Name, "See the message."));
                checks.Add(step.Succeeded
                    ? new(name, ConnectionProbeStatus.Passed, step.Message)
                    : new(name, ConnectionProbeStatus.Failed, step.Message, fix));
            }

            return SkipRest(checks);
        }
    }

    private static List<ConnectionProbeCheck> SkipRest(List<ConnectionProbeCheck> checks) => ConnectionProbeChecks.SkipRest(Checks, checks);
}
