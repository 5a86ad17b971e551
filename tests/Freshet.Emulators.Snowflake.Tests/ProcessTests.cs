using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Freshet.Emulators.Snowflake.Tests;

/// <summary>The emulator started as its own process, set up through its /emulator control endpoints.</summary>
public sealed class ProcessTests
{
    [Fact]
    public async Task Process_ListensOnItsPort_AcceptsARegisteredKey_AndRunsStatements()
    {
        var port = FreePort();
        var dll = Path.Combine(AppContext.BaseDirectory, "Freshet.Emulators.Snowflake.dll");
        using var process = Process.Start(new ProcessStartInfo("dotnet", [dll, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--account", "MYORG-MYACCOUNT"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var banner = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Contains($"listening on http://127.0.0.1:{port}/", banner, StringComparison.Ordinal);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/") };
            using var key = RSA.Create(2048);
            using var registration = await http.PostAsync("/emulator/users/LOADER/public-keys", new StringContent(key.ExportSubjectPublicKeyInfoPem()));
            var fingerprint = JsonNode.Parse(await registration.Content.ReadAsStringAsync())!["fingerprint"]!.GetValue<string>();

            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v2/statements")
            {
                Content = new StringContent("""{"statement": "SELECT 'from a process'", "database": "FRESHET"}""", Encoding.UTF8, "application/json"),
            };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Jwt(key, "MYORG-MYACCOUNT.LOADER", fingerprint));
            request.Headers.Add("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT");
            request.Headers.Accept.ParseAdd("application/json");
            request.Headers.UserAgent.ParseAdd("emulator-tests/1.0");
            using var response = await http.SendAsync(request);
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

            Assert.Equal(RawApi.Fingerprint(key), fingerprint);
            Assert.Equal(200, (int)response.StatusCode);
            Assert.Equal("from a process", body["data"]![0]![0]!.GetValue<string>());
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static string Jwt(RSA key, string qualifiedUser, string fingerprint)
    {
        var now = DateTimeOffset.UtcNow;
        var header = B64(JsonSerializer.SerializeToUtf8Bytes(new { alg = "RS256", typ = "JWT" }));
        var payload = B64(JsonSerializer.SerializeToUtf8Bytes(new { iss = $"{qualifiedUser}.{fingerprint}", sub = qualifiedUser, iat = now.ToUnixTimeSeconds(), exp = now.AddMinutes(30).ToUnixTimeSeconds() }));
        var signature = key.SignData(Encoding.ASCII.GetBytes(header + "." + payload), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return header + "." + payload + "." + B64(signature);
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
