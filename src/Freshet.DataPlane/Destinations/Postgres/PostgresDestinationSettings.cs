using System.Globalization;
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

    public static NpgsqlConnectionStringBuilder ConnectionString(EndpointSpec endpoint)
    {
        var settings = endpoint.Settings;
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = Required(settings, "host"),
            Port = settings.TryGetValue("port", out var port) ? int.Parse(port, CultureInfo.InvariantCulture) : 5432,
            Database = Required(settings, "database"),
            Username = Required(settings, "username"),
            SslMode = SslModeFrom(settings.GetValueOrDefault("ssl_mode")),
            ApplicationName = ApplicationName,
            Timeout = 15,
            // Applying a 100k-row batch or copying a large snapshot chunk may take longer than any fixed limit;
            // the caller's cancellation token bounds it instead.
            CommandTimeout = 0,
            KeepAlive = 30,
        };
        if (endpoint.Secrets.TryGetValue("password", out var password))
        {
            builder.Password = password;
        }

        return builder;
    }

    private static string Required(IReadOnlyDictionary<string, string> settings, string name) =>
        settings.TryGetValue(name, out var value) && !string.IsNullOrEmpty(value)
            ? value
            : throw new ArgumentException($"The PostgreSQL destination needs the '{name}' setting.", nameof(settings));

    private static SslMode SslModeFrom(string? mode) => mode switch
    {
        null or "" or "prefer" => SslMode.Prefer,
        "disable" => SslMode.Disable,
        "allow" => SslMode.Allow,
        "require" => SslMode.Require,
        "verify-ca" => SslMode.VerifyCA,
        "verify-full" => SslMode.VerifyFull,
        _ => throw new ArgumentException($"Unknown ssl_mode '{mode}' (expected disable, allow, prefer, require, verify-ca or verify-full).", nameof(mode)),
    };
}
