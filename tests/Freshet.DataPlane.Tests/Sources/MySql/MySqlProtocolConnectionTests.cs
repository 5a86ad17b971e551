using Freshet.DataPlane.Sources.MySql;

namespace Freshet.DataPlane.Tests.Sources.MySql;

public sealed class MySqlProtocolConnectionTests
{
    [Fact]
    public async Task Open_NativePasswordUser_SignsInAndRunsQueries()
    {
        var source = await MariaDbSource.CreateAsync("conn");
        await using var connection = await MySqlProtocolConnection.OpenAsync(source.Endpoint, CancellationToken.None);

        Assert.True(connection.IsMariaDb);
        Assert.Equal(MySqlAuthentication.NativePassword, connection.AuthPlugin);
        var rows = await connection.QueryAsync("SELECT CURRENT_USER(), NULL, 'ü😀'", CancellationToken.None);
        var row = Assert.Single(rows);
        Assert.Equal($"{source.Endpoint.User}@127.0.0.1", row[0]);
        Assert.Null(row[1]);
        Assert.Equal("ü😀", row[2]);
    }

    [Fact]
    public async Task Open_WrongPassword_FailsWithAccessDeniedNamingTheUser()
    {
        var source = await MariaDbSource.CreateAsync("conn");
        var wrong = source.Endpoint with { Password = source.Endpoint.Password + "x" };

        var error = await Assert.ThrowsAsync<MySqlServerException>(() => MySqlProtocolConnection.OpenAsync(wrong, CancellationToken.None));

        Assert.Equal(MySqlServerException.AccessDenied, error.ErrorCode);
        Assert.Contains($"Signing in to {source.Endpoint.User}@127.0.0.1", error.Message, StringComparison.Ordinal);
        Assert.Contains("Access denied", error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(wrong.Password, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Execute_FailingStatement_CarriesTheServersError()
    {
        var source = await MariaDbSource.CreateAsync("conn");
        await using var connection = await MySqlProtocolConnection.OpenAsync(source.Endpoint, CancellationToken.None);

        var error = await Assert.ThrowsAsync<MySqlServerException>(() => connection.ExecuteAsync("SET @x = (", CancellationToken.None));

        Assert.Equal(1064, error.ErrorCode);
        Assert.Equal("42000", error.SqlState);
        // The connection stays usable.
        Assert.Equal("1", (await connection.QueryAsync("SELECT 1", CancellationToken.None))[0][0]);
    }
}
