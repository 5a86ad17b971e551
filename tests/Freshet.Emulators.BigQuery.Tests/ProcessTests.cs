using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Freshet.Emulators.BigQuery.Tests;

/// <summary>The emulator started as its own process, set up through its /emulator control endpoints.</summary>
public sealed class ProcessTests
{
    [Fact]
    public async Task Process_ListensOnItsPorts_IssuesKeys_AndServesTokensAndTables()
    {
        var restPort = FreePort();
        var storagePort = FreePort();
        var dll = Path.Combine(AppContext.BaseDirectory, "Freshet.Emulators.BigQuery.dll");
        using var process = Process.Start(new ProcessStartInfo("dotnet",
            [dll, "--rest-port", restPort.ToString(CultureInfo.InvariantCulture), "--storage-port", storagePort.ToString(CultureInfo.InvariantCulture), "--project", "proc-project", "--dataset", "analytics"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        try
        {
            var banner = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromMinutes(1));
            Assert.Contains($"REST on http://127.0.0.1:{restPort}/", banner, StringComparison.Ordinal);
            Assert.Contains($"Storage Write on http://127.0.0.1:{storagePort}/", banner, StringComparison.Ordinal);
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{restPort}/") };
            using var keyResponse = await http.PostAsync("/emulator/service-accounts/proc@proc-project.iam.gserviceaccount.com/keys", null);
            var key = JsonNode.Parse(await keyResponse.Content.ReadAsStringAsync())!;

            Assert.Equal($"http://127.0.0.1:{restPort}/token", key["token_uri"]!.GetValue<string>());
            Assert.Equal("proc-project", key["project_id"]!.GetValue<string>());
            using var dataset = await http.GetAsync("/bigquery/v2/projects/proc-project/datasets/analytics");
            Assert.Equal(401, (int)dataset.StatusCode);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
