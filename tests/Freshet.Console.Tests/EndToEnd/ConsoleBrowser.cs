using Freshet.Testing.Pool;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// Headless Chromium (Debian's <c>/usr/bin/chromium</c>) on the shared installation's console: one browser per test,
/// sign-in and sign-out as a person does them, screenshots under the git-ignored <c>TestResults/screenshots</c>.
/// </summary>
public sealed class ConsoleBrowser : IAsyncDisposable
{
    public static readonly string ScreenshotDirectory = Path.Combine(NodeProcess.RepositoryRoot(), "TestResults", "screenshots");

    private readonly IPlaywright _playwright;

    private ConsoleBrowser(IPlaywright playwright, IBrowser browser, ConsoleInstallation installation)
    {
        _playwright = playwright;
        Browser = browser;
        Installation = installation;
    }

    public IBrowser Browser { get; }

    public ConsoleInstallation Installation { get; }

    public string ConsoleUrl => Installation.ConsoleUrl.ToString().TrimEnd('/');

    public string ApiUrl => Installation.ApiUrl.ToString().TrimEnd('/');

    public static async Task<ConsoleBrowser> StartAsync(ConsoleInstallation installation)
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
        return new ConsoleBrowser(playwright, browser, installation);
    }

    /// <summary>A fresh browser context (no cookies) with one page of the given size.</summary>
    public async Task<IPage> NewPageAsync(int width = 1280, int height = 800)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        return await context.NewPageAsync();
    }

    public async Task SignInAsync(IPage page, string email, string password, string path = "/")
    {
        // The console sends a visitor without a session to the control plane's sign-in page, and back after it.
        await page.GotoAsync(ConsoleUrl + path);
        await page.WaitForURLAsync(url => url.StartsWith(ApiUrl + "/account/login", StringComparison.Ordinal));
        await page.FillAsync("#email", email);
        await page.FillAsync("#password", password);
        await page.ClickAsync("button[type=submit]");
        await page.WaitForURLAsync(url => url.StartsWith(ConsoleUrl + "/", StringComparison.Ordinal) && !url.Contains("signin-oidc", StringComparison.Ordinal));
        // The layout names who is signed in once /v1/me answered (hidden, not absent, on a narrow screen).
        await Expect(page.GetByTestId("user-name")).ToBeAttachedAsync();
    }

    public async Task SignOutAsync(IPage page)
    {
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync(ConsoleUrl + "/signed-out");
    }

    /// <summary>
    /// Opens a console page by its path. The console renders only over its interactive circuit (no prerendering), so once
    /// the layout shows who is signed in, the page's buttons work.
    /// </summary>
    public async Task OpenAsync(IPage page, string path)
    {
        await page.GotoAsync(ConsoleUrl + path);
        await Expect(page.GetByTestId("user-name")).ToBeAttachedAsync();
    }

    public static async Task ScreenshotAsync(IPage page, string name) =>
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, $"console-{name}.png"), FullPage = true });

    /// <summary>On a failure: a screenshot of where the browser was, and both servers' output.</summary>
    public async Task RecordingFailureAsync(IPage page, string name, Func<Task> steps)
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
            var worker = Installation.WorkerOutput.Length > 0 ? $"\n--- worker output ---\n{Installation.WorkerOutput}" : "";
            System.Console.Error.WriteLine($"--- console output ---\n{Installation.ConsoleOutput}\n--- control plane output ---\n{Installation.ControlPlaneOutput}{worker}");
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
    }
}
