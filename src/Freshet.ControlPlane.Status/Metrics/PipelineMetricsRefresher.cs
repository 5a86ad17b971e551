using System.ComponentModel.DataAnnotations;
using Freshet.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Freshet.ControlPlane.Status.Metrics;

/// <summary>How often the per-pipeline metrics are read again (<c>Freshet:Status:Metrics</c>).</summary>
internal sealed class StatusMetricsOptions
{
    public const string Section = "Freshet:Status:Metrics";

    /// <summary>How often the figures behind the per-pipeline gauges are read from the status store.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>
/// Reads every pipeline's latest report and its tenant every <see cref="StatusMetricsOptions.RefreshInterval"/> and
/// publishes them to <see cref="StatusMetrics"/>, whose observable callbacks must not query the database.
/// </summary>
/// <remarks>
/// The tenant of a pipeline belongs to the API module (<c>pipelines.tenant_id</c>, behind row-level security). Rather than
/// join that table here under a platform-scope session setting — which would tie this module to another module's table
/// and to the name of its RLS setting — the tenants come through <see cref="IPipelineCatalog"/>, the contract the API
/// module already offers for reads across every tenant (the scheduler's). It also drops the status rows of pipelines
/// that were deleted. A process without the API module (no catalog) exports no per-pipeline figures.
/// </remarks>
internal sealed partial class PipelineMetricsRefresher(
    NpgsqlDataSource dataSource,
    IServiceProvider services,
    StatusMetrics metrics,
    IOptions<StatusMetricsOptions> options,
    TimeProvider time,
    ILogger<PipelineMetricsRefresher> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService(typeof(IPipelineCatalog)) is not IPipelineCatalog catalog)
        {
            LogNoCatalog(logger);
            return;
        }

        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await RefreshAsync(catalog, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception exception) when (exception is NpgsqlException or InvalidOperationException or TimeoutException)
            {
                // The figures published last stay; the next round tries again.
                LogRefreshFailed(logger, exception);
            }

            try
            {
                await Task.Delay(options.Value.RefreshInterval, time, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One round: the latest report of every pipeline that still exists, with its tenant.</summary>
    public async Task RefreshAsync(IPipelineCatalog catalog, CancellationToken cancellationToken)
    {
        var tenants = (await catalog.ReadDemandsAsync(cancellationToken).ConfigureAwait(false)).ToDictionary(p => p.PipelineId, p => p.TenantId);
        var figures = new List<PipelineFigures>(tenants.Count);
        // The figures are taken out of the stored report (StatusStore.ReportJson: camelCase, enums by name) in SQL, so
        // per-table counts, which the metrics do not show, are never read or deserialized.
        await using var command = dataSource.CreateCommand(
            """
            SELECT pipeline_id, received_at, report->>'state', (report->>'lagSeconds')::double precision, (report->>'lagBytes')::bigint,
                   (report->>'rowsPerSecond')::double precision, (report->>'bytesPerSecond')::double precision,
                   (report->>'retainedWalBytes')::bigint, (report->>'rowsDelivered')::bigint, (report->>'batches')::bigint,
                   (report->>'retries')::bigint, (report->>'errors')::bigint
            FROM pipeline_status
            """);
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var pipelineId = reader.GetGuid(0);
            if (!tenants.TryGetValue(pipelineId, out var tenantId) || !Enum.TryParse<PipelineRunState>(reader.GetString(2), out var state))
            {
                continue;
            }

            figures.Add(new PipelineFigures(
                tenantId,
                pipelineId,
                state,
                reader.GetDouble(3),
                reader.IsDBNull(4) ? null : reader.GetInt64(4),
                reader.GetDouble(5),
                reader.GetDouble(6),
                reader.IsDBNull(7) ? null : reader.GetInt64(7),
                reader.GetInt64(8),
                reader.GetInt64(9),
                reader.GetInt64(10),
                reader.GetInt64(11),
                reader.GetFieldValue<DateTimeOffset>(1)));
        }

        metrics.Publish(figures);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "No pipeline catalog in this process (the api role is off): the per-pipeline metrics stay empty")]
    private static partial void LogNoCatalog(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refreshing the per-pipeline metrics failed; the last figures stay until the next round")]
    private static partial void LogRefreshFailed(ILogger logger, Exception exception);
}
