using System.Globalization;
using Freshet.Contracts;
using Npgsql;

namespace Freshet.DataPlane.Sources.Postgres;

/// <summary>Builds Npgsql connection strings from a PostgreSQL connection's settings and secrets.</summary>
internal static class PostgresEndpoint
{
    public static NpgsqlConnectionStringBuilder ConnectionString(EndpointSpec endpoint, string applicationName)
    {
        var settings = endpoint.Settings;
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = settings["host"],
            Port = settings.TryGetValue("port", out var port) ? int.Parse(port, CultureInfo.InvariantCulture) : 5432,
            Database = settings["database"],
            Username = settings["username"],
            SslMode = (settings.TryGetValue("ssl_mode", out var mode) ? mode : "prefer") switch
            {
                "disable" => SslMode.Disable,
                "allow" => SslMode.Allow,
                "require" => SslMode.Require,
                "verify-ca" => SslMode.VerifyCA,
                "verify-full" => SslMode.VerifyFull,
                _ => SslMode.Prefer,
            },
            ApplicationName = applicationName,
            Timeout = 15,
            // Snapshot COPYs and catalog reads on large databases can run for a long time; cancellation stops them.
            CommandTimeout = 0,
            KeepAlive = 30,
        };
        if (endpoint.Secrets.TryGetValue("password", out var password))
        {
            builder.Password = password;
        }

        return builder;
    }
}
