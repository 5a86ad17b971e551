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

    public static NpgsqlDataSource DataSource(EndpointSpec endpoint, ILoggerFactory loggerFactory) =>
        new NpgsqlDataSourceBuilder(ConnectionString(endpoint).ConnectionString).UseLoggerFactory(loggerFactory).Build();

    public static NpgsqlConnectionStringBuilder ConnectionString(EndpointSpec endpoint) =>
        Sources.Postgres.PostgresEndpoint.ConnectionString(endpoint, ApplicationName);
}
