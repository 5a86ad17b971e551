using Freshet.Testing.Pool;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// The operations pages in real headless Chromium against a real control plane: the support view, the tenant wall seen
/// from the console, and alert rules.
/// </summary>
[Collection(ConsoleInstallationCollection.Name)]
public sealed class OpsBrowserTests(ConsoleInstallationFixture fixture)
{
    private const string DemoPipelineName = "Demo shop to warehouse";

    private ConsoleInstallation Installation => fixture.Installation;

    private string ConsoleUrl => Installation.ConsoleUrl.ToString().TrimEnd('/');

    [Fact]
    public async Task SupportUser_SeesBothTenantsWorstFirst_DrillsIntoOne_ReadOnlyUnderTheAuditedBanner()
    {
        // Acme gets a paused pipeline: its worst health (paused) ranks below Demo Co's pending one, so worst-first puts
        // Demo Co before Acme, the reverse of their names' order.
        await Installation.CreatePipelineInTenantAsync("acme", $"Acme paused {Guid.NewGuid():N}"[..20], desiredState: "paused");
        var support = await Installation.SeededSignInAsync();
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(page, "ops-support", async () =>
        {
            // Support staff belong to no tenant: the console opens on the support view instead of an empty overview.
            await browser.SignInAsync(page, support.Email, support.Password);
            await page.WaitForURLAsync(ConsoleUrl + "/support");
            await Expect(page.GetByTestId("audited-banner")).ToContainTextAsync("audited");
            var tenants = page.GetByTestId("support-tenant-link");
            await Expect(tenants.First).ToBeVisibleAsync();
            // Other tests of the run may add pipelines, never tenants: both seeded tenants, Demo Co (pending or worse) first.
            Assert.Equal(["demo", "acme"], await tenants.EvaluateAllAsync<string[]>("links => links.map(l => l.dataset.slug)"));
            await ConsoleBrowser.ScreenshotAsync(page, "ops-01-support-tenants");

            // Any other address of the console leads back to the support view.
            await page.GotoAsync(ConsoleUrl + "/alerts");
            await page.WaitForURLAsync(ConsoleUrl + "/support");

            await tenants.Filter(new LocatorFilterOptions { HasText = "Demo Co" }).ClickAsync();
            await Expect(page.GetByTestId("support-tenant-name")).ToHaveTextAsync("Demo Co");
            await Expect(page.GetByTestId("audited-banner")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("pipeline-link").Filter(new LocatorFilterOptions { HasText = DemoPipelineName })).ToBeVisibleAsync();
            await ConsoleBrowser.ScreenshotAsync(page, "ops-02-support-tenant");

            await page.GetByTestId("pipeline-link").Filter(new LocatorFilterOptions { HasText = DemoPipelineName }).ClickAsync();
            await Expect(page.GetByTestId("pipeline-name")).ToHaveTextAsync(DemoPipelineName);
            await Expect(page.GetByTestId("audited-banner")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("events")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("charts")).ToBeVisibleAsync();
            // Read-only: no action is offered at all, not even disabled.
            await Expect(page.GetByTestId("pause")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("resume")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("resnapshot")).ToHaveCountAsync(0);
            await Expect(page.Locator("main button:not([aria-label]):visible").Filter(new LocatorFilterOptions { HasTextRegex = new System.Text.RegularExpressions.Regex("Pause|Resume|Re-snapshot|Delete|Save") })).ToHaveCountAsync(0);
            await ConsoleBrowser.ScreenshotAsync(page, "ops-03-support-pipeline");
            await browser.SignOutAsync(page);
        });
    }

    [Fact]
    public async Task TenantAUser_OpeningTenantBsRealPipelineUrl_SeesNotFound()
    {
        // Paused, like every pipeline these tests give Acme, so the support test's worst-first order holds whichever runs first.
        var acmePipeline = await Installation.CreatePipelineInTenantAsync("acme", $"Acme orders {Guid.NewGuid():N}"[..20], desiredState: "paused");
        await using var browser = await ConsoleBrowser.StartAsync(Installation);

        // The address is real: Acme's owner opens it.
        var acme = await Installation.SeededSignInAsync("acme");
        var acmePage = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(acmePage, "ops-tenant-wall-acme", async () =>
        {
            await browser.SignInAsync(acmePage, acme.Email, acme.Password);
            await acmePage.GotoAsync(ConsoleUrl + $"/pipelines/{acmePipeline}");
            await Expect(acmePage.GetByTestId("pipeline-name")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^Acme orders"));
            await browser.SignOutAsync(acmePage);
        });

        // Demo Co's owner, at the same address, sees what a pipeline that does not exist shows.
        var demoPage = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(demoPage, "ops-tenant-wall-demo", async () =>
        {
            await browser.SignInAsync(demoPage, Installation.DemoAdmin.Email, Installation.DemoAdmin.Password);
            await demoPage.GotoAsync(ConsoleUrl + $"/pipelines/{acmePipeline}");
            await Expect(demoPage.GetByTestId("not-found")).ToContainTextAsync("Pipeline not found");
            await Expect(demoPage.GetByTestId("pipeline-name")).ToHaveCountAsync(0);
            await ConsoleBrowser.ScreenshotAsync(demoPage, "ops-04-other-tenants-pipeline-not-found");
            await browser.SignOutAsync(demoPage);
        });
    }

    [Fact]
    public async Task AlertRule_CreatedInTheConsole_ShowsItsSecretOnce_TestSendReports_AndHistoryLoads()
    {
        var ruleName = $"Demo lag {Guid.NewGuid():N}"[..16];
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(page, "ops-alerts", async () =>
        {
            await browser.SignInAsync(page, Installation.DemoAdmin.Email, Installation.DemoAdmin.Password);
            await page.GetByRole(AriaRole.Link, new PageGetByRoleOptions { Name = "Alerts", Exact = true }).ClickAsync();
            await page.WaitForURLAsync(ConsoleUrl + "/alerts");
            await page.GetByTestId("new-rule").ClickAsync();
            await page.WaitForURLAsync(ConsoleUrl + "/alerts/new");

            // The form checks before it sends: nothing filled in, nothing sent, each field says what it needs.
            await page.GetByTestId("save-rule").ClickAsync();
            await Expect(page.GetByText("Give the rule a name.")).ToBeVisibleAsync();
            await Expect(page.GetByText("This condition needs a threshold, in seconds.")).ToBeVisibleAsync();

            await Field(page, "field-name").FillAsync(ruleName);
            await Field(page, "field-threshold").FillAsync("120");
            // .invalid never resolves (RFC 6761): the test send below fails, and says why.
            await Field(page, "field-webhook-url").FillAsync("https://hooks.freshet.invalid/alerts");
            await ConsoleBrowser.ScreenshotAsync(page, "ops-05-alert-rule-form");
            await page.GetByTestId("save-rule").ClickAsync();

            var secret = page.GetByTestId("secret-value");
            await Expect(secret).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^whsec_"));
            var firstSecret = await secret.TextContentAsync();
            await ConsoleBrowser.ScreenshotAsync(page, "ops-06-alert-rule-secret-once");

            // Once: the rule's own page does not show it again.
            await page.GetByTestId("open-rule").ClickAsync();
            await Expect(page.GetByTestId("rule-name")).ToHaveTextAsync(ruleName);
            await Expect(page.GetByTestId("secret-value")).ToHaveCountAsync(0);
            Assert.DoesNotContain(firstSecret!, await page.ContentAsync(), StringComparison.Ordinal);

            // A test send reports its delivery attempt: the receiver's host does not resolve.
            await page.GetByTestId("test-send").ClickAsync();
            await Expect(page.GetByTestId("test-result")).ToHaveAttributeAsync("data-state", "failed");
            await Expect(page.GetByTestId("test-result")).ToContainTextAsync("1 attempt");
            await Expect(page.GetByTestId("delivery-state")).ToHaveCountAsync(1);

            // Rotating shows the new secret once, and it is another one.
            await page.GetByTestId("rotate-secret").ClickAsync();
            await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Rotate", Exact = true }).ClickAsync();
            await Expect(page.GetByTestId("secret-value")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^whsec_"));
            Assert.NotEqual(firstSecret, await page.GetByTestId("secret-value").TextContentAsync());
            await ConsoleBrowser.ScreenshotAsync(page, "ops-07-alert-rule");

            await page.GotoAsync(ConsoleUrl + "/alerts");
            await Expect(page.GetByTestId("rule-link").Filter(new LocatorFilterOptions { HasText = ruleName })).ToBeVisibleAsync();
            await ConsoleBrowser.ScreenshotAsync(page, "ops-08-alert-rules");

            await page.GetByTestId("history-link").ClickAsync();
            await page.WaitForURLAsync(ConsoleUrl + "/alerts/history");
            await Expect(page.GetByTestId("no-alerts")).ToContainTextAsync("No alerts");
            await Expect(page.GetByTestId("problem")).ToHaveCountAsync(0);
            await ConsoleBrowser.ScreenshotAsync(page, "ops-09-alert-history");

            // The demo pipeline's detail: charts over a window, re-snapshot offered to the owner.
            await page.GotoAsync(ConsoleUrl + $"/pipelines/{Installation.DemoPipelineId}");
            // No worker reports here, unless another test of the run started one: then the charts have figures.
            var figures = page.GetByTestId("no-metrics").Or(page.GetByTestId("lag-summary"));
            await Expect(figures).ToContainTextAsync("1 h");
            await page.Locator("[data-window='24 h']").ClickAsync();
            await Expect(figures).ToContainTextAsync("24 h");
            await Expect(page.GetByTestId("resnapshot-button")).ToBeDisabledAsync();
            await page.Locator("[data-table='public.orders'] input, input[data-table='public.orders']").First.CheckAsync();
            await Expect(page.GetByTestId("resnapshot-button")).ToBeEnabledAsync();
            await ConsoleBrowser.ScreenshotAsync(page, "ops-10-pipeline-detail");
            await browser.SignOutAsync(page);
        });
    }

    private static ILocator Field(IPage page, string testId) =>
        page.Locator($"[data-testid={testId}] input, input[data-testid={testId}]").First;
}
