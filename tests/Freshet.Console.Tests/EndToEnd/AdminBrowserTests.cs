using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// Members, API clients, the audit log, tenant switching, session expiry, viewers and narrow screens, in real headless
/// Chromium against the shared installation (<see cref="ConsoleInstallationCollection"/>).
/// </summary>
[Collection(ConsoleInstallationCollection.Name)]
public sealed class AdminBrowserTests(ConsoleInstallationFixture fixture)
{
    private const string DemoPipelineName = "Demo shop to warehouse";

    private ConsoleInstallation Installation => fixture.Installation;

    [Fact]
    public async Task Owner_ManagesMembersAndApiClients_AndReadsWhatTheyDidInTheAuditLog()
    {
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync();
        await page.Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"], new BrowserContextGrantPermissionsOptions { Origin = browser.ConsoleUrl });
        await browser.RecordingFailureAsync(page, "admin-members", async () =>
        {
            var (ownerEmail, ownerPassword) = Installation.DemoAdmin;
            await browser.SignInAsync(page, ownerEmail, ownerPassword, "/members");

            // Add a new person: the form checks the address first, then the account's first password is shown once.
            await Expect(page.GetByTestId("members")).ToBeVisibleAsync();
            var email = $"analyst-{Guid.NewGuid():N}"[..20] + "@demo.freshet.local";
            await Field(page, "member-email").FillAsync("not an address");
            await page.GetByTestId("member-add").ClickAsync();
            await Expect(page.GetByTestId("member-form")).ToContainTextAsync("This is not an e-mail address.");
            await Field(page, "member-email").FillAsync(email);
            await Field(page, "member-display-name").FillAsync("Ana Lyst");
            await page.GetByTestId("member-add").ClickAsync();
            var shown = page.GetByTestId("secret-once");
            await Expect(shown).ToContainTextAsync($"Account created for {email}");
            var firstPassword = (await page.GetByTestId("secret-value").TextContentAsync())!.Trim();
            Assert.StartsWith("Fr-", firstPassword, StringComparison.Ordinal);
            var row = MemberRow(page, email);
            await Expect(row.GetByTestId("member-role-cell")).ToHaveTextAsync("viewer");
            await ConsoleBrowser.ScreenshotAsync(page, "10-members-added");
            await page.GetByTestId("secret-done").ClickAsync();
            await Expect(shown).ToHaveCountAsync(0);
            Assert.DoesNotContain(firstPassword, await page.ContentAsync(), StringComparison.Ordinal);

            // Change the role, after a confirmation; "Cancel" changes nothing.
            await row.GetByTestId("member-change-role").ClickAsync();
            await page.Locator("[data-testid=make-admin]:visible").ClickAsync();
            await Dialog(page).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Cancel" }).ClickAsync();
            await Expect(row.GetByTestId("member-role-cell")).ToHaveTextAsync("viewer");
            await row.GetByTestId("member-change-role").ClickAsync();
            await page.Locator("[data-testid=make-admin]:visible").ClickAsync();
            await Expect(Dialog(page)).ToContainTextAsync("becomes admin instead of viewer");
            await Dialog(page).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Change role" }).ClickAsync();
            await Expect(row.GetByTestId("member-role-cell")).ToHaveTextAsync("admin");

            // The tenant's only owner cannot step down: the control plane refuses, and the page says why in words.
            var ownerRow = MemberRow(page, ownerEmail);
            await ownerRow.GetByTestId("member-change-role").ClickAsync();
            await page.Locator("[data-testid=make-admin]:visible").ClickAsync();
            await Dialog(page).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Change role" }).ClickAsync();
            await Expect(page.GetByTestId("problem")).ToContainTextAsync("This is the tenant's last owner; make someone else owner first.");
            await Expect(ownerRow.GetByTestId("member-role-cell")).ToHaveTextAsync("owner");
            await ConsoleBrowser.ScreenshotAsync(page, "11-members-last-owner");

            // Remove, after a confirmation.
            await row.GetByTestId("member-remove").ClickAsync();
            await Dialog(page).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Remove" }).ClickAsync();
            await Expect(MemberRow(page, email)).ToHaveCountAsync(0);

            // An API client: its secret is shown once, copies to the clipboard, and signs the client in.
            await page.GetByTestId("nav-api-clients").ClickAsync();
            await page.WaitForURLAsync(browser.ConsoleUrl + "/api-clients");
            var clientName = $"Nightly export {Guid.NewGuid():N}"[..24];
            await page.GetByTestId("client-create").ClickAsync();
            await Expect(page.GetByTestId("client-form")).ToContainTextAsync("Enter a name.");
            await Field(page, "client-name").FillAsync(clientName);
            await page.GetByTestId("client-create").ClickAsync();
            await Expect(shown).ToContainTextAsync($"Secret of {clientName}");
            var clientId = (await page.GetByTestId("secret-field").First.TextContentAsync())!.Trim();
            var secret = (await page.GetByTestId("secret-value").TextContentAsync())!.Trim();
            await page.GetByTestId("copy-secret").ClickAsync();
            // The console says so once the browser's clipboard write has finished.
            await Expect(page.GetByText("Client secret copied to the clipboard.")).ToBeVisibleAsync();
            Assert.Equal(secret, await page.EvaluateAsync<string>("() => navigator.clipboard.readText()"));
            Assert.NotNull(await Installation.ClientCredentialsTokenAsync(clientId, secret));
            await ConsoleBrowser.ScreenshotAsync(page, "12-api-client-secret");
            await page.GetByTestId("secret-done").ClickAsync();
            await Expect(shown).ToHaveCountAsync(0);
            Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
            var clientRow = page.GetByRole(AriaRole.Row).Filter(new LocatorFilterOptions { HasText = clientName });
            await Expect(clientRow).ToContainTextAsync(clientId);

            // Rotate: a new secret, once; the old one stops working.
            await clientRow.GetByTestId("client-rotate").ClickAsync();
            await Dialog(page).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Rotate" }).ClickAsync();
            await Expect(shown).ToContainTextAsync($"Secret of {clientName}");
            var rotated = (await page.GetByTestId("secret-value").TextContentAsync())!.Trim();
            Assert.NotEqual(secret, rotated);
            Assert.Null(await Installation.ClientCredentialsTokenAsync(clientId, secret));
            Assert.NotNull(await Installation.ClientCredentialsTokenAsync(clientId, rotated));
            await page.GetByTestId("secret-done").ClickAsync();

            // Revoke: gone from the list, and the client cannot sign in any more.
            await clientRow.GetByTestId("client-revoke").ClickAsync();
            await Expect(Dialog(page)).ToContainTextAsync("This cannot be undone.");
            await Dialog(page).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Revoke" }).ClickAsync();
            await Expect(clientRow).ToHaveCountAsync(0);
            Assert.Null(await Installation.ClientCredentialsTokenAsync(clientId, rotated));

            // The audit log, filtered to API-client actions, two to a page: newest first, then older.
            await browser.OpenAsync(page, "/audit-log?page_size=2");
            await Expect(page.GetByTestId("audit-events")).ToBeVisibleAsync();
            await Field(page, "filter-action").FillAsync("api_client.");
            await page.GetByTestId("filter-apply").ClickAsync();
            var actions = page.GetByTestId("audit-action");
            await Expect(actions).ToHaveTextAsync(["api_client.revoked", "api_client.secret_rotated"]);
            await Expect(page.GetByTestId("audit-events")).ToContainTextAsync(clientId);
            await ConsoleBrowser.ScreenshotAsync(page, "13-audit-log");
            await page.GetByTestId("audit-next").ClickAsync();
            await Expect(page.GetByTestId("audit-page-number")).ToHaveTextAsync("Page 2");
            await Expect(actions.First).ToHaveTextAsync("api_client.created");
            await page.GetByTestId("audit-previous").ClickAsync();
            await Expect(actions).ToHaveTextAsync(["api_client.revoked", "api_client.secret_rotated"]);

            // Filtered by actor and action: the member changes made above, by the owner.
            await page.GetByTestId("filter-clear").ClickAsync();
            await Field(page, "filter-actor").FillAsync(ownerEmail);
            await Field(page, "filter-action").FillAsync("member.role_changed");
            await page.GetByTestId("filter-apply").ClickAsync();
            await Expect(actions.First).ToHaveTextAsync("member.role_changed");
            await Expect(page.GetByTestId("audit-events")).ToContainTextAsync("\"viewer\"");
            await browser.SignOutAsync(page);
        });
    }

    [Fact]
    public async Task MemberOfTwoTenants_SwitchesWithThePicker_AndEveryPageReloadsForTheChosenTenant()
    {
        var email = $"switcher-{Guid.NewGuid():N}@demo.freshet.local";
        var password = (await Installation.AddMemberAsync("demo", email, "viewer"))!;
        Assert.Null(await Installation.AddMemberAsync("acme", email, "admin"));
        var acmePipeline = $"Acme clicks {Guid.NewGuid():N}"[..20];
        await Installation.CreatePipelineInTenantAsync("acme", acmePipeline);

        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(page, "tenant-switch", async () =>
        {
            await browser.SignInAsync(page, email, password);
            var pipelines = page.GetByTestId("pipeline-link");

            await SwitchTenantAsync(page, "Acme Analytics");
            await Expect(Named(pipelines, acmePipeline)).ToBeVisibleAsync();
            await Expect(Named(pipelines, DemoPipelineName)).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("user-name")).ToContainTextAsync("admin");
            await ConsoleBrowser.ScreenshotAsync(page, "14-tenant-acme");

            await SwitchTenantAsync(page, "Demo Co");
            await Expect(Named(pipelines, DemoPipelineName)).ToBeVisibleAsync();
            await Expect(Named(pipelines, acmePipeline)).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("user-name")).ToContainTextAsync("viewer");

            // The members page reads the chosen tenant's members with the role there: read-only in Demo Co, managed in Acme.
            await page.GetByTestId("nav-members").ClickAsync();
            await Expect(page.GetByTestId("read-only-reason")).ToContainTextAsync("Your role in Demo Co is viewer");
            await Expect(page.GetByTestId("members")).ToContainTextAsync("owner@demo.freshet.local");
            await SwitchTenantAsync(page, "Acme Analytics");
            await Expect(page.GetByTestId("members")).ToContainTextAsync("owner@acme.freshet.local");
            await Expect(page.GetByTestId("members")).Not.ToContainTextAsync("owner@demo.freshet.local");
            await Expect(page.GetByTestId("read-only-reason")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("member-form")).ToBeVisibleAsync();

            // And back on the overview, the first tenant's pipelines again.
            await SwitchTenantAsync(page, "Demo Co");
            await page.GetByRole(AriaRole.Link, new PageGetByRoleOptions { Name = "Overview" }).ClickAsync();
            await Expect(Named(pipelines, DemoPipelineName)).ToBeVisibleAsync();
            await Expect(Named(pipelines, acmePipeline)).ToHaveCountAsync(0);
            await browser.SignOutAsync(page);
        });
    }

    [Fact]
    public async Task RefusedRefresh_ShowsSessionExpired_WithASignInLinkThatWorks()
    {
        var email = $"expiring-{Guid.NewGuid():N}@demo.freshet.local";
        var password = (await Installation.AddMemberAsync("demo", email, "editor"))!;
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(page, "session-expired", async () =>
        {
            await browser.SignInAsync(page, email, password);
            await Expect(Named(page.GetByTestId("pipeline-link"), DemoPipelineName)).ToBeVisibleAsync();

            // Their refresh tokens are revoked (as ending someone's sessions does); once the access token is due for a
            // refresh, the console's refresh is refused.
            Assert.True(await Installation.RevokeRefreshTokensAsync(email) > 0);
            await Task.Delay(ConsoleInstallation.AccessTokenUsableFor + TimeSpan.FromSeconds(1));
            await page.GotoAsync(browser.ConsoleUrl + "/members");
            var ended = page.GetByRole(AriaRole.Status).Filter(new LocatorFilterOptions { HasText = "Your session has expired. Sign in again." });
            await Expect(ended).ToBeVisibleAsync();
            await Expect(page.GetByTestId("problem")).ToHaveCountAsync(0);
            await ConsoleBrowser.ScreenshotAsync(page, "15-session-expired");

            // The link signs in again (the control plane still knows the browser, so no password) and returns to the page.
            await ended.GetByRole(AriaRole.Link, new LocatorGetByRoleOptions { Name = "Sign in" }).ClickAsync();
            await page.WaitForURLAsync(browser.ConsoleUrl + "/members");
            await Expect(page.GetByTestId("members")).ToContainTextAsync(email);
            await Expect(page.GetByTestId("read-only-reason")).ToContainTextAsync("Your role in Demo Co is editor");
            await browser.SignOutAsync(page);
        });
    }

    [Fact]
    public async Task Viewer_SeesMembersApiClientsAndAuditLog_WithoutChangeButtons_AndWhy()
    {
        var email = $"reader-{Guid.NewGuid():N}@demo.freshet.local";
        var password = (await Installation.AddMemberAsync("demo", email, "viewer"))!;
        var acmePipeline = await Installation.CreatePipelineInTenantAsync("acme", $"Acme only {Guid.NewGuid():N}"[..18]);
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(page, "viewer-admin-pages", async () =>
        {
            await browser.SignInAsync(page, email, password, "/members");
            await Expect(page.GetByTestId("members")).ToContainTextAsync(email);
            await Expect(page.GetByTestId("read-only-reason")).ToHaveTextAsync(
                "Your role in Demo Co is viewer: only an admin or owner can add members, change their roles or remove them.");
            await Expect(page.GetByTestId("member-form")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("member-change-role")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("member-remove")).ToHaveCountAsync(0);
            await ConsoleBrowser.ScreenshotAsync(page, "16-viewer-members");

            await page.GetByTestId("nav-api-clients").ClickAsync();
            await Expect(page.GetByTestId("clients")).ToContainTextAsync("demo-automation");
            await Expect(page.GetByTestId("read-only-reason")).ToHaveTextAsync(
                "Your role in Demo Co is viewer: only an admin or owner can create, rotate or revoke API clients.");
            await Expect(page.GetByTestId("client-form")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("client-rotate")).ToHaveCountAsync(0);
            await Expect(page.GetByTestId("client-revoke")).ToHaveCountAsync(0);
            await ConsoleBrowser.ScreenshotAsync(page, "17-viewer-api-clients");

            await page.GetByTestId("nav-audit-log").ClickAsync();
            await Expect(page.GetByTestId("read-only-reason")).ToHaveTextAsync("Your role in Demo Co is viewer: only an admin or owner can read the audit log.");
            await Expect(page.GetByTestId("audit-events")).ToHaveCountAsync(0);

            // Another tenant's pipeline, by its real address: not found, as if it did not exist.
            await browser.OpenAsync(page, $"/pipelines/{acmePipeline}");
            await Expect(page.GetByTestId("not-found")).ToContainTextAsync("Pipeline not found");
            await browser.SignOutAsync(page);
        });
    }

    [Fact]
    public async Task Overview_PipelineDetail_AndAdminPages_FitA390PxPhone_AndA1280PxScreen()
    {
        // A long address without a break opportunity, as real ones are: it must wrap, not widen the members table.
        await Installation.AddMemberAsync("demo", $"narrow-screen-{Guid.NewGuid():N}@demo.freshet.local", "viewer");
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync(390, 844);
        await browser.RecordingFailureAsync(page, "narrow", async () =>
        {
            await browser.SignInAsync(page, Installation.DemoAdmin.Email, Installation.DemoAdmin.Password);
            foreach (var (width, height) in new[] { (390, 844), (1280, 800) })
            {
                await page.SetViewportSizeAsync(width, height);
                var pages = new (string Path, string Ready, string Name)[]
                {
                    ("/", "pipeline-link", "overview"),
                    ($"/pipelines/{Installation.DemoPipelineId}", "pipeline-name", "pipeline-detail"),
                    ("/members", "members", "members"),
                    ("/api-clients", "clients", "api-clients"),
                    ("/audit-log", "audit-events", "audit-log"),
                };
                foreach (var (path, ready, name) in pages)
                {
                    await browser.OpenAsync(page, path);
                    await Expect(page.GetByTestId(ready).First).ToBeVisibleAsync();
                    var (scrollWidth, innerWidth) = await WidthsAsync(page);
                    await ConsoleBrowser.ScreenshotAsync(page, $"20-{width}px-{name}");
                    Assert.True(scrollWidth <= innerWidth, $"{path} at {width} px is {scrollWidth} px wide (the window is {innerWidth} px): something overflows.");
                    // A table wider than its box scrolls inside it instead of widening the page: its cells are cut off all the same.
                    var wideTables = await page.EvaluateAsync<string[]>(
                        "() => [...document.querySelectorAll('.mud-table-container')].filter(t => t.scrollWidth > t.clientWidth + 1).map(t => `${t.scrollWidth} px in ${t.clientWidth} px`)");
                    Assert.True(wideTables.Length == 0, $"{path} at {width} px has a table wider than its box: {string.Join(", ", wideTables)}.");
                }
            }

            // On the phone the menu is a drawer that opens over the page from the app bar's button.
            await page.SetViewportSizeAsync(390, 844);
            await browser.OpenAsync(page, "/");
            await page.GetByTestId("menu").ClickAsync();
            await page.GetByTestId("nav-members").ClickAsync();
            await page.WaitForURLAsync(browser.ConsoleUrl + "/members");
            await Expect(page.GetByTestId("members")).ToBeVisibleAsync();
            await browser.SignOutAsync(page);
        });
    }

    private static async Task<(int ScrollWidth, int InnerWidth)> WidthsAsync(IPage page)
    {
        var widths = await page.EvaluateAsync<int[]>("() => [document.documentElement.scrollWidth, window.innerWidth]");
        return (widths[0], widths[1]);
    }

    private static async Task SwitchTenantAsync(IPage page, string tenantName)
    {
        await page.GetByTestId("tenant-picker").ClickAsync();
        await page.Locator(".mud-popover-open").GetByText(tenantName, new LocatorGetByTextOptions { Exact = true }).ClickAsync();
        await Expect(page.GetByTestId("tenant-picker")).ToContainTextAsync(tenantName);
    }

    /// <summary>A form field by its test id, whether MudBlazor put the id on the input itself or on its wrapper.</summary>
    private static ILocator Field(IPage page, string testId) => page.Locator($"input[data-testid={testId}], [data-testid={testId}] input").First;

    private static ILocator MemberRow(IPage page, string email) =>
        page.GetByTestId("members").GetByRole(AriaRole.Row).Filter(new LocatorFilterOptions { HasText = email });

    private static ILocator Named(ILocator links, string name) => links.Filter(new LocatorFilterOptions { HasText = name });

    private static ILocator Dialog(IPage page) => page.GetByRole(AriaRole.Dialog);
}
