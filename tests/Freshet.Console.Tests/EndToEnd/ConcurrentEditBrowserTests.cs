using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// Two people (or a person and automation) editing one resource: the console sends the version its form was filled from
/// (<c>If-Match</c>), so the later save is refused with words a person understands instead of silently undoing the
/// earlier change. Real headless Chromium against the shared installation (<see cref="ConsoleInstallationCollection"/>).
/// </summary>
[Collection(ConsoleInstallationCollection.Name)]
public sealed class ConcurrentEditBrowserTests(ConsoleInstallationFixture fixture)
{
    private ConsoleInstallation Installation => fixture.Installation;

    [Fact]
    public async Task ConnectionRenamedByAutomationWhileOpenInTheConsole_SaveIsRefused_TheirChangeStands_AndAfterReloadTheSaveWorks()
    {
        using var api = await Installation.TenantApiAsync("demo");
        var created = await api.PostAsJsonAsync("v1/connections", new { name = "Edited twice", kind = "destination", type = "duckdb", settings = new { path = "edited-twice.duckdb" } });
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var id = JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetGuid();

        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync();
        await browser.RecordingFailureAsync(page, "concurrent-connection-edit", async () =>
        {
            var (email, password) = Installation.DemoAdmin;
            await browser.SignInAsync(page, email, password, $"/connections/{id}/edit");
            await Expect(NameInput(page)).ToHaveValueAsync("Edited twice");

            // Meanwhile automation renames it through the API, without any precondition of its own.
            var renamed = await api.PatchAsync($"v1/connections/{id}", JsonContent.Create(new { name = "Renamed by automation" }));
            Assert.True(renamed.IsSuccessStatusCode, await renamed.Content.ReadAsStringAsync());

            // The form still shows the older version; saving it would undo the rename, so the save is refused.
            await FillNameAsync(page, "Renamed in the console");
            await page.GetByTestId("connection-save").ClickAsync();
            await Expect(page.GetByTestId("problem")).ToContainTextAsync("Someone else changed this since you opened it");
            await Expect(page.GetByTestId("problem")).ToContainTextAsync("Reload the page");
            await ConsoleBrowser.ScreenshotAsync(page, "60-connection-changed-meanwhile");
            Assert.Equal("Renamed by automation", await NameThroughApiAsync(api, id));

            // After a reload the form holds the current version, and the save goes through.
            await page.ReloadAsync();
            await Expect(NameInput(page)).ToHaveValueAsync("Renamed by automation");
            await FillNameAsync(page, "Renamed in the console");
            await page.GetByTestId("connection-save").ClickAsync();
            await Expect(page.GetByTestId("connection-name")).ToHaveTextAsync("Renamed in the console");
            Assert.Equal("Renamed in the console", await NameThroughApiAsync(api, id));
        });

        Assert.Equal(HttpStatusCode.NoContent, (await api.DeleteAsync($"v1/connections/{id}")).StatusCode);
    }

    private static ILocator NameInput(IPage page) => page.GetByTestId("field-name").Locator("input").First;

    private static async Task FillNameAsync(IPage page, string name)
    {
        await NameInput(page).FillAsync(name);
        // The form reads a field on change, which a blur fires.
        await NameInput(page).BlurAsync();
    }

    private static async Task<string?> NameThroughApiAsync(HttpClient api, Guid id) =>
        JsonDocument.Parse(await api.GetStringAsync($"v1/connections/{id}")).RootElement.GetProperty("name").GetString();
}
