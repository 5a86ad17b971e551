using Freshet.Contracts;
using Microsoft.Extensions.Options;
using MySqlConnector;
using Npgsql;

namespace Freshet.ControlPlane.Api.Connections;

internal sealed class DuckDbOptions
{
    public const string Section = "Freshet:DuckDb";

    /// <summary>Folder that holds each tenant's DuckDB files, one sub-folder per tenant; tenants cannot name paths outside it.</summary>
    public string Root { get; set; } = ".data/duckdb";
}

/// <summary>Turns stored settings and secrets into what a driver needs to reach the database.</summary>
internal sealed class ConnectionEndpoints(ConnectionSecrets secrets, IOptions<DuckDbOptions> duckDb)
{
    public NpgsqlConnectionStringBuilder Postgres(Connection connection)
    {
        var settings = connection.Settings;
        var builder = new NpgsqlConnectionStringBuilder
        {
            Host = settings["host"]!.GetValue<string>(),
            Port = (int)settings["port"]!.GetValue<long>(),
            Database = settings["database"]!.GetValue<string>(),
            Username = settings["username"]!.GetValue<string>(),
            SslMode = settings["ssl_mode"]!.GetValue<string>() switch
            {
                "disable" => SslMode.Disable,
                "allow" => SslMode.Allow,
                "require" => SslMode.Require,
                "verify-ca" => SslMode.VerifyCA,
                "verify-full" => SslMode.VerifyFull,
                _ => SslMode.Prefer,
            },
            Timeout = 5,
            CommandTimeout = 10,
            Pooling = false,
            ApplicationName = "freshet-control-plane",
        };
        if (secrets.Open(connection).TryGetValue("password", out var password))
        {
            builder.Password = password;
        }

        return builder;
    }

    /// <summary>
    /// A MySQL/MariaDB login that names no database: a login lacking rights on the connection's database still signs in,
    /// so the test can say that SELECT is missing rather than only that the login failed.
    /// </summary>
    public MySqlConnectionStringBuilder MySql(Connection connection)
    {
        var settings = connection.Settings;
        var builder = new MySqlConnectionStringBuilder
        {
            Server = settings["host"]!.GetValue<string>(),
            Port = settings["port"] is { } port ? (uint)port.GetValue<long>() : 3306,
            UserID = settings["username"]!.GetValue<string>(),
            SslMode = (settings["ssl_mode"]?.GetValue<string>() ?? "preferred") switch
            {
                "disabled" => MySqlSslMode.None,
                "required" => MySqlSslMode.Required,
                "verify_ca" => MySqlSslMode.VerifyCA,
                "verify_identity" => MySqlSslMode.VerifyFull,
                _ => MySqlSslMode.Preferred,
            },
            ConnectionTimeout = 5,
            DefaultCommandTimeout = 10,
            Pooling = false,
            ApplicationName = "freshet-control-plane",
        };
        if (settings["ssl_ca"]?.GetValue<string>() is { Length: > 0 } ca)
        {
            // The same CA the worker's source checks the server's certificate against.
            builder.SslCa = MySqlCaFile.For(ca);
        }

        if (secrets.Open(connection).TryGetValue("password", out var password))
        {
            builder.Password = password;
        }

        return builder;
    }

    public string DuckDbPath(Connection connection)
    {
        if (connection.Type != ConnectionType.Duckdb)
        {
            throw new InvalidOperationException("Not a DuckDB connection.");
        }

        var root = Path.GetFullPath(duckDb.Value.Root);
        var tenantFolder = Path.Combine(root, connection.TenantId.ToString());
        var path = Path.GetFullPath(Path.Combine(tenantFolder, connection.Settings["path"]!.GetValue<string>()));
        // Validation refuses '..' and absolute paths already; this guards against anything it missed.
        if (!path.StartsWith(tenantFolder + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new InvalidOperationException("The DuckDB path leaves the tenant's folder.");
        }

        return path;
    }
}
