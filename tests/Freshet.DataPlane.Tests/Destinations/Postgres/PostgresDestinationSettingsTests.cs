using Freshet.Contracts;
using Freshet.DataPlane.Destinations.Postgres;
using Npgsql;

namespace Freshet.DataPlane.Tests.Destinations.Postgres;

public sealed class PostgresDestinationSettingsTests
{
    [Theory]
    [InlineData(null, SslMode.Prefer)]
    [InlineData("disable", SslMode.Disable)]
    [InlineData("allow", SslMode.Allow)]
    [InlineData("prefer", SslMode.Prefer)]
    [InlineData("require", SslMode.Require)]
    [InlineData("verify-ca", SslMode.VerifyCA)]
    [InlineData("verify-full", SslMode.VerifyFull)]
    public void ConnectionString_LibpqSslModes_MapToNpgsql(string? sslMode, SslMode expected)
    {
        var builder = PostgresDestinationSettings.ConnectionString(Endpoint(sslMode is null ? [] : new() { ["ssl_mode"] = sslMode }));

        Assert.Equal(expected, builder.SslMode);
        Assert.Equal(("db.internal", 6432, "analytics", "loader", "s3cret", "freshet-worker"),
            (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password, builder.ApplicationName));
    }

    [Fact]
    public void Schema_DefaultsToPublic()
    {
        Assert.Equal("public", PostgresDestinationSettings.Schema(Endpoint([])));
        Assert.Equal("Raw Data", PostgresDestinationSettings.Schema(Endpoint(new() { ["schema"] = "Raw Data" })));
    }

    [Fact]
    public void ConnectionString_UnknownSslModeOrMissingHost_IsRefused()
    {
        Assert.Throws<ArgumentException>(() => PostgresDestinationSettings.ConnectionString(Endpoint(new() { ["ssl_mode"] = "sometimes" })));
        Assert.Throws<ArgumentException>(() => PostgresDestinationSettings.ConnectionString(Endpoint(new() { ["host"] = "" })));
    }

    private static EndpointSpec Endpoint(Dictionary<string, string> overrides)
    {
        var settings = new Dictionary<string, string> { ["host"] = "db.internal", ["port"] = "6432", ["database"] = "analytics", ["username"] = "loader" };
        foreach (var (name, value) in overrides)
        {
            settings[name] = value;
        }

        return new EndpointSpec(ConnectionType.Postgres, settings, new Dictionary<string, string> { ["password"] = "s3cret" });
    }
}
