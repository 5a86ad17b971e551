using Freshet.Testing.Pool;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>The console in real headless Chromium (Debian's <c>chromium</c>) against a real control plane.</summary>
public sealed class ConsoleBrowserTests
{
    private static readonly string ScreenshotDirectory = Path.Combine(NodeProcess.RepositoryRoot(), "TestResults", "screenshots");

    [Fact]
    public async Task DemoAdmin_SignsIn_SeesDemoPipeline_OpensIt_AndSignsOut()
    {
        // A failure screenshot of an earlier run would pass for this run's.
        Directory.CreateDirectory(ScreenshotDirectory);
        File.Delete(Path.Combine(ScreenshotDirectory, "console-failure.png"));
        await using var installation = await ConsoleInstallation.StartAsync();
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            // Without the networking flags Chromium keeps trying hosts this machine cannot reach.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        SetDefaultExpectTimeout(30_000);
        var console = installation.ConsoleUrl.ToString().TrimEnd('/');
        var api = installation.ApiUrl.ToString().TrimEnd('/');
        try
        {
            // The console sends a visitor without a session to the control plane's sign-in page.
            await page.GotoAsync(console + "/");
            await page.WaitForURLAsync(url => url.StartsWith(api + "/account/login", StringComparison.Ordinal));
            await page.FillAsync("#email", installation.DemoAdmin.Email);
            await page.FillAsync("#password", installation.DemoAdmin.Password);
            await ScreenshotAsync(page, "01-sign-in");
            await page.ClickAsync("button[type=submit]");
            var signedInAt = DateTime.UtcNow;

            // Back in the console: the overview lists the demo pipeline, waiting for a worker (none runs here).
            await page.WaitForURLAsync(url => url.StartsWith(console + "/", StringComparison.Ordinal) && !url.Contains("signin-oidc", StringComparison.Ordinal));
            var link = page.GetByTestId("pipeline-link").Filter(new LocatorFilterOptions { HasText = "Demo shop to warehouse" });
            await Expect(link).ToBeVisibleAsync();
            await Expect(page.GetByTestId("tenant-name")).ToHaveTextAsync("Demo Co");
            await Expect(page.GetByTestId("health-badge")).ToHaveAttributeAsync("data-state", "pending");
            await Expect(page.GetByTestId("count")).ToHaveTextAsync("Pending: 1");
            await Expect(page.GetByTestId("live")).ToBeVisibleAsync();
            await ScreenshotAsync(page, "02-overview");

            // The detail page: its health and why, the event log (empty), and pause available to the tenant's owner. By
            // now the first access token counts as expiring, so the console reads this page with a refreshed one.
            var untilExpiring = signedInAt + ConsoleInstallation.AccessTokenUsableFor + TimeSpan.FromSeconds(1) - DateTime.UtcNow;
            if (untilExpiring > TimeSpan.Zero)
            {
                await Task.Delay(untilExpiring);
            }

            await link.ClickAsync();
            await page.WaitForURLAsync(console + $"/pipelines/{installation.DemoPipelineId}");
            await Expect(page.GetByTestId("pipeline-name")).ToHaveTextAsync("Demo shop to warehouse");
            await Expect(page.GetByTestId("reasons").Locator("[data-code=waiting_for_worker]")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("no-events")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("pause")).ToBeEnabledAsync();
            await ScreenshotAsync(page, "03-pipeline-detail");

            // A pipeline the tenant does not have (the API answers 404, as for another tenant's) is a page that says so.
            await page.GotoAsync(console + $"/pipelines/{Guid.NewGuid()}");
            await Expect(page.GetByTestId("not-found")).ToContainTextAsync("Pipeline not found");
            await ScreenshotAsync(page, "03b-pipeline-not-found");

            // Signing out revokes the refresh token and ends the control plane's session as well as the console's.
            await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
            await page.WaitForURLAsync(console + "/signed-out");
            await Expect(page.GetByRole(AriaRole.Heading, new PageGetByRoleOptions { Name = "You are signed out" })).ToBeVisibleAsync();
            await ScreenshotAsync(page, "04-signed-out");
            // "redeemed": the console spent a refresh token for a new access token (OpenIddict's rolling refresh tokens);
            // "revoked": sign-out revoked the one it held last.
            var refreshTokens = await installation.RefreshTokenStatusesAsync();
            Assert.Contains("redeemed", refreshTokens);
            Assert.Equal("revoked", refreshTokens[^1]);

            await page.GotoAsync(console + "/");
            await page.WaitForURLAsync(url => url.StartsWith(api + "/account/login", StringComparison.Ordinal));
        }
        catch
        {
            await ScreenshotAsync(page, "failure");
            System.Console.Error.WriteLine($"--- console output ---\n{installation.ConsoleOutput}\n--- control plane output ---\n{installation.ControlPlaneOutput}");
            throw;
        }
    }

    private static async Task ScreenshotAsync(IPage page, string name)
    {
        Directory.CreateDirectory(ScreenshotDirectory);
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, $"console-{name}.png"), FullPage = true });
    }
}
