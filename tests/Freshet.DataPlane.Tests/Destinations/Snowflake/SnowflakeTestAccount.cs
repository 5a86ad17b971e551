using Freshet.DataPlane.Destinations;
using System.Security.Cryptography;
using Freshet.DataPlane.Destinations.Snowflake;
using Freshet.Emulators.Snowflake;

namespace Freshet.DataPlane.Tests.Destinations.Snowflake;

/// <summary>An emulated account (locator XY12345 in us-east-1) with user LOADER holding a registered key pair, and clients of it.</summary>
internal sealed class SnowflakeTestAccount : IAsyncDisposable
{
    private readonly List<IDisposable> _owned = [];

    private SnowflakeTestAccount(SnowflakeEmulator emulator, RSA key)
    {
        Emulator = emulator;
        Key = key;
    }

    public SnowflakeEmulator Emulator { get; }

    public RSA Key { get; }

    public static SnowflakeAccount Account { get; } = SnowflakeAccount.Parse("xy12345.us-east-1");

    public static async Task<SnowflakeTestAccount> StartAsync(Action<SnowflakeEmulatorOptions>? configure = null)
    {
        var options = new SnowflakeEmulatorOptions { Account = Account.JwtAccountName };
        configure?.Invoke(options);
        var emulator = await SnowflakeEmulator.StartAsync(options);
        var key = RSA.Create(2048);
        emulator.RegisterPublicKey("LOADER", key);
        return new SnowflakeTestAccount(emulator, key);
    }

    public SnowflakeSqlClient Client(TimeProvider? time = null, Func<SnowflakeClientOptions, SnowflakeClientOptions>? configure = null, ISnowflakeTokenSource? tokens = null)
    {
        time ??= TimeProvider.System;
        var http = WarehouseHttp.CreateClient(Emulator.BaseAddress);
        _owned.Add(http);
        var options = new SnowflakeClientOptions
        {
            Endpoint = Emulator.BaseAddress,
            Database = "FRESHET",
            Schema = "PUBLIC",
            RetryDelay = TimeSpan.FromMilliseconds(50),
            PollInterval = TimeSpan.FromMilliseconds(20),
        };
        return new SnowflakeSqlClient(http, configure?.Invoke(options) ?? options, tokens ?? KeyPair(time), time);
    }

    public SnowflakeKeyPairTokenSource KeyPair(TimeProvider time)
    {
        var copy = RSA.Create();
        copy.ImportParameters(Key.ExportParameters(includePrivateParameters: true));
        var source = new SnowflakeKeyPairTokenSource(Account, "loader", copy, time);
        _owned.Add(source);
        return source;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }
        Key.Dispose();
        await Emulator.DisposeAsync();
    }
}
