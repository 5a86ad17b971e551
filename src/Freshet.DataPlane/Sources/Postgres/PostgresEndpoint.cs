using System.Globalization;
using Freshet.Contracts;
using Npgsql;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>Builds Npgsql connection strings from a PostgreSQL connection's settings and secrets (source or destination).</summary>
internal static class PostgresEndpoint
{
    public static NpgsqlConnectionStringBuilder ConnectionString(EndpointSpec endpoint, string applicationName)
    {
        var settings = endpoint.Settings;
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = Required(settings, "host"),
            Port = settings.TryGetValue("port", out var port) ? int.Parse(port, CultureInfo.InvariantCulture) : 5432,
            Database = Required(settings, "database"),
            Username = Required(settings, "username"),
            SslMode = SslModeFrom(settings.GetValueOrDefault("ssl_mode")),
            ApplicationName = applicationName,
            Timeout = 15,
            // Snapshot COPYs, large applies and catalog reads can run longer than any fixed limit; cancellation bounds them.
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
            : throw new ArgumentException($"The PostgreSQL connection needs the '{name}' setting.", nameof(settings));

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
