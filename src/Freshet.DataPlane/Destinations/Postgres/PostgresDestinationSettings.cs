using Freshet.Contracts;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Freshet.DataPlane.Destinations.Postgres;

/// <summary>A PostgreSQL destination's endpoint settings: the connection and the schema target tables live in.</summary>
internal static class PostgresDestinationSettings
{
    public const string ApplicationName = "freshet-worker";

    /// <summary>The target schema (setting <c>schema</c>, default <c>public</c>).</summary>
    public static string Schema(EndpointSpec endpoint) =>
        endpoint.Settings.GetValueOrDefault("schema") is { Length: > 0 } schema ? schema : "public";

    /// <summary>
    /// Connections of one pipeline run carry <c>freshet/PIPELINE/EPOCH</c> as their application name, so a run that
    /// claims the pipeline under a higher epoch can find — and end — a predecessor's connections that still hold locks.
    /// </summary>
    public static NpgsqlDataSource DataSource(EndpointSpec endpoint, Guid pipelineId, long epoch, ILoggerFactory loggerFactory)
    {
        var builder = ConnectionString(endpoint);
        builder.ApplicationName = RunApplicationName(pipelineId, epoch);
        return new NpgsqlDataSourceBuilder(builder.ConnectionString).UseLoggerFactory(loggerFactory).Build();
    }

    public static string RunApplicationName(Guid pipelineId, long epoch) => FormattableString.Invariant($"{RunApplicationPrefix(pipelineId)}{epoch}");

    public static string RunApplicationPrefix(Guid pipelineId) => $"freshet/{pipelineId:N}/";

    public static NpgsqlConnectionStringBuilder ConnectionString(EndpointSpec endpoint) =>
        Sources.Postgres.PostgresEndpoint.ConnectionString(endpoint, ApplicationName);
}
