using Freshet.Testing.Pool;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>One installation (PostgreSQL, control plane, console) for the browser tests (<see cref="ConsoleInstallationCollection"/>).</summary>
public sealed class ConsoleInstallationFixture : IAsyncLifetime
{
    public ConsoleInstallation Installation { get; private set; } = null!;

    public async Task InitializeAsync() => Installation = await ConsoleInstallation.StartAsync();

    public async Task DisposeAsync() => await Installation.DisposeAsync();
}

/// <summary>The console in real headless Chromium (Debian's <c>chromium</c>) against a real control plane.</summary>
[Collection(ConsoleInstallationCollection.Name)]
public sealed class ConsoleBrowserTests(ConsoleInstallationFixture fixture)
{
    private const string DemoPipelineName = "Demo shop to warehouse";

    private static readonly string ScreenshotDirectory = Path.Combine(NodeProcess.RepositoryRoot(), "TestResults", "screenshots");

    private ConsoleInstallation Installation => fixture.Installation;

    private string ConsoleUrl => Installation.ConsoleUrl.ToString().TrimEnd('/');

    private string ApiUrl => Installation.ApiUrl.ToString().TrimEnd('/');

    [Fact]
    public async Task DemoAdmin_SignsIn_SeesDemoPipeline_OpensIt_AndSignsOut()
    {
        await using var browser = await BrowserAsync();
        var page = await browser.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        await RecordingFailureAsync(page, "admin", async () =>
        {
            await SignInAsync(page, Installation.DemoAdmin.Email, Installation.DemoAdmin.Password, "01-sign-in");
            var signedInAt = DateTime.UtcNow;

            // The overview lists the demo pipeline, waiting for a worker (none runs here), with the live feed open.
            var link = page.GetByTestId("pipeline-link").Filter(new LocatorFilterOptions { HasText = DemoPipelineName });
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
            await page.WaitForURLAsync(ConsoleUrl + $"/pipelines/{Installation.DemoPipelineId}");
            await Expect(page.GetByTestId("pipeline-name")).ToHaveTextAsync(DemoPipelineName);
            await Expect(page.GetByTestId("reasons").Locator("[data-code=waiting_for_worker]")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("no-events")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("pause")).ToBeEnabledAsync();
            await ScreenshotAsync(page, "03-pipeline-detail");

            // A pipeline the tenant does not have (the API answers 404, as for another tenant's) is a page that says so.
            await page.GotoAsync(ConsoleUrl + $"/pipelines/{Guid.NewGuid()}");
            await Expect(page.GetByTestId("not-found")).ToContainTextAsync("Pipeline not found");
            await ScreenshotAsync(page, "03b-pipeline-not-found");

            // Signing out revokes the refresh token and ends the control plane's session as well as the console's.
            await SignOutAsync(page, "04-signed-out");
            // "redeemed": the console spent a refresh token for a new access token (OpenIddict's rolling refresh tokens);
            // "revoked": sign-out revoked the one it held last.
            var refreshTokens = await Installation.RefreshTokenStatusesAsync(Installation.DemoAdmin.Email);
            Assert.Contains("redeemed", refreshTokens);
            Assert.Equal("revoked", refreshTokens[^1]);

            await page.GotoAsync(ConsoleUrl + "/");
            await page.WaitForURLAsync(url => url.StartsWith(ApiUrl + "/account/login", StringComparison.Ordinal));
        });
    }

    [Fact]
    public async Task Viewer_SeesThePipeline_ButPauseIsDisabledWithTheReason()
    {
        var email = $"viewer-{Guid.NewGuid():N}@demo.freshet.local";
        var password = await Installation.AddDemoMemberAsync(email, "viewer");
        await using var browser = await BrowserAsync();
        var page = await browser.Browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        await RecordingFailureAsync(page, "viewer", async () =>
        {
            await SignInAsync(page, email, password, screenshot: null);
            await Expect(page.GetByTestId("user-name")).ToContainTextAsync("viewer");
            await page.GetByTestId("pipeline-link").Filter(new LocatorFilterOptions { HasText = DemoPipelineName }).ClickAsync();

            await Expect(page.GetByTestId("pipeline-name")).ToHaveTextAsync(DemoPipelineName);
            await Expect(page.GetByTestId("pause")).ToBeDisabledAsync();
            await Expect(page.GetByTestId("actions-disabled-reason")).ToHaveTextAsync(
                "Your role in Demo Co is viewer: only an editor, admin or owner can pause or resume pipelines.");
            await ScreenshotAsync(page, "05-viewer-pipeline-detail");
            await SignOutAsync(page, screenshot: null);
        });
    }

    private async Task SignInAsync(IPage page, string email, string password, string? screenshot)
    {
        // The console sends a visitor without a session to the control plane's sign-in page, and back after it.
        await page.GotoAsync(ConsoleUrl + "/");
        await page.WaitForURLAsync(url => url.StartsWith(ApiUrl + "/account/login", StringComparison.Ordinal));
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        if (screenshot is not null)
        {
            await ScreenshotAsync(page, screenshot);
        }

        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(url => url.StartsWith(ConsoleUrl + "/", StringComparison.Ordinal) && !url.Contains("signin-oidc", StringComparison.Ordinal));
    }

    private async Task SignOutAsync(IPage page, string? screenshot)
    {
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync(ConsoleUrl + "/signed-out");
        await Expect(page.GetByRole(AriaRole.Heading, new PageGetByRoleOptions { Name = "You are signed out" })).ToBeVisibleAsync();
        if (screenshot is not null)
        {
            await ScreenshotAsync(page, screenshot);
        }
    }

    /// <summary>On a failure: a screenshot of where the browser was, and both servers' output.</summary>
    private async Task RecordingFailureAsync(IPage page, string name, Func<Task> steps)
    {
        var failure = Path.Combine(ScreenshotDirectory, $"console-failure-{name}.png");
        // A failure screenshot of an earlier run would pass for this run's.
        Directory.CreateDirectory(ScreenshotDirectory);
        File.Delete(failure);
        try
        {
            await steps();
        }
        catch
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = failure, FullPage = true });
            System.Console.Error.WriteLine($"--- console output ---\n{Installation.ConsoleOutput}\n--- control plane output ---\n{Installation.ControlPlaneOutput}");
            throw;
        }
    }

    private static async Task<HeadlessChromium> BrowserAsync()
    {
        SetDefaultExpectTimeout(30_000);
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            // Without the networking flags Chromium keeps trying hosts this machine cannot reach.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        return new HeadlessChromium(playwright, browser);
    }

    private static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, $"console-{name}.png"), FullPage = true });

    private sealed record HeadlessChromium(IPlaywright Playwright, IBrowser Browser) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Browser.DisposeAsync();
            Playwright.Dispose();
        }
    }
}
