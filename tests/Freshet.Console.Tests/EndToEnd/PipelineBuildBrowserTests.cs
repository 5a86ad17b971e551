using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Freshet.Console.Tests.EndToEnd;

/// <summary>
/// An installation with a worker and a customer's source database, for the test that builds a pipeline from nothing.
/// Its own installation: the shared one has no worker, and its tests expect the demo pipeline to wait for one.
/// </summary>
public sealed class WorkerInstallationFixture : IAsyncLifetime
{
    public ConsoleInstallation Installation { get; private set; } = null!;

    public async Task InitializeAsync() => Installation = await ConsoleInstallation.StartAsync(new ConsoleInstallationOptions(WithWorker: true));

    public async Task DisposeAsync() => await Installation.DisposeAsync();
}

/// <summary>
/// Runs after the parallel part of the run, alone: two installations starting at once on two cores made a control plane
/// miss its readiness deadline.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WorkerInstallationCollection
{
    public const string Name = "console with a worker";
}

/// <summary>The headline flow of the console in real headless Chromium, against the control plane, PostgreSQL and a worker.</summary>
[Collection(WorkerInstallationCollection.Name)]
public sealed class PipelineBuildBrowserTests(WorkerInstallationFixture fixture) : IClassFixture<WorkerInstallationFixture>
{
    private const string SourceName = "Shop orders (e2e)";
    private const string DestinationName = "Warehouse file (e2e)";
    private const string PipelineName = "Orders to warehouse (e2e)";

    private ConsoleInstallation Installation => fixture.Installation;

    private string ConsoleUrl => Installation.ConsoleUrl.ToString().TrimEnd('/');

    [Fact]
    public async Task Admin_BuildsAPipelineThroughTheForms_SeesItHealthyAndMoving_PausesAndResumes_AndSignsOut()
    {
        await Installation.ExecuteInSourceAsync(
            """
            CREATE TABLE public.orders (id bigint PRIMARY KEY, item text NOT NULL, qty integer NOT NULL);
            CREATE TABLE public.audit_log (at timestamptz NOT NULL DEFAULT now(), note text);
            INSERT INTO public.orders SELECT g, 'item ' || g, g % 7 FROM generate_series(1, 200) g;
            """);
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync(1280, 900);
        await browser.RecordingFailureAsync(page, "pipeline-build", async () =>
        {
            await browser.SignInAsync(page, Installation.DemoAdmin.Email, Installation.DemoAdmin.Password);

            // --- The source, through the form, then its test and its tables.
            await page.GetByRole(AriaRole.Link, new PageGetByRoleOptions { Name = "Connections" }).ClickAsync();
            await page.WaitForURLAsync(ConsoleUrl + "/connections");
            await Expect(page.GetByRole(AriaRole.Heading, new PageGetByRoleOptions { Name = "Connections" })).ToBeVisibleAsync();
            await page.GetByTestId("new-source").ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new PageGetByRoleOptions { Name = "New source" })).ToBeVisibleAsync();
            // PostgreSQL is the first source type, chosen already; a bad port is refused on its field before anything is sent.
            await FillAsync(page, "field-name", SourceName);
            await FillAsync(page, "field-host", "127.0.0.1");
            await FillAsync(page, "field-port", "99999");
            await FillAsync(page, "field-database", Installation.SourceDatabase!);
            await FillAsync(page, "field-username", "postgres");
            await FillAsync(page, "secret-password", "trust-auth-ignores-it");
            await page.GetByTestId("connection-save").ClickAsync();
            await Expect(page.GetByTestId("field-port")).ToContainTextAsync("Must be between 1 and 65535.");
            await ConsoleBrowser.ScreenshotAsync(page, "10-connection-form-invalid-port");
            await FillAsync(page, "field-port", Installation.Postgres.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await page.GetByTestId("connection-save").ClickAsync();
            await Expect(page.GetByTestId("connection-name")).ToHaveTextAsync(SourceName);
            // The password is write-only: the page says it is set, nothing more.
            await Expect(page.Locator("[data-secret=password]")).ToContainTextAsync("set (write-only)");
            await Expect(page.GetByText("trust-auth-ignores-it")).ToHaveCountAsync(0);
            await Expect(page.Locator("[data-table='public.orders']")).ToContainTextAsync("id");
            await Expect(page.Locator("[data-table='public.audit_log']").GetByTestId("no-key")).ToBeVisibleAsync();
            await TestConnectionAsync(page, "11-source-test");

            // --- The destination: DuckDB, chosen in the type list.
            await page.GotoAsync(ConsoleUrl + "/connections");
            await page.GetByTestId("new-destination").ClickAsync();
            await Expect(page.GetByRole(AriaRole.Heading, new PageGetByRoleOptions { Name = "New destination" })).ToBeVisibleAsync();
            await page.GetByTestId("type").Locator(".mud-select").First.ClickAsync();
            await page.GetByText("DuckDB file", new PageGetByTextOptions { Exact = true }).ClickAsync();
            await Expect(page.GetByTestId("field-path")).ToBeVisibleAsync();
            await FillAsync(page, "field-name", DestinationName);
            await FillAsync(page, "field-path", "e2e-warehouse.duckdb");
            await page.GetByTestId("connection-save").ClickAsync();
            await Expect(page.GetByTestId("connection-name")).ToHaveTextAsync(DestinationName);
            await TestConnectionAsync(page, "12-destination-test");

            await page.GotoAsync(ConsoleUrl + "/connections");
            await Expect(page.GetByTestId("connection-link").Filter(new LocatorFilterOptions { HasText = SourceName })).ToBeVisibleAsync();
            await Expect(page.GetByTestId("connection-link").Filter(new LocatorFilterOptions { HasText = DestinationName })).ToBeVisibleAsync();
            await ConsoleBrowser.ScreenshotAsync(page, "13-connections");

            // --- The wizard.
            await page.GetByRole(AriaRole.Link, new PageGetByRoleOptions { Name = "New pipeline" }).ClickAsync();
            await page.WaitForURLAsync(ConsoleUrl + "/pipelines/new");
            await Expect(Step(page)).ToHaveAttributeAsync("data-step", "Source");
            await page.GetByTestId("wizard-step").GetByText(SourceName).ClickAsync();
            await ConsoleBrowser.ScreenshotAsync(page, "20-wizard-source");
            await page.GetByTestId("wizard-next").ClickAsync();

            await Expect(Step(page)).ToHaveAttributeAsync("data-step", "Tables");
            await Expect(page.Locator("tr[data-table='public.audit_log']").GetByTestId("no-key")).ToBeVisibleAsync();
            await page.GetByTestId("wizard-next").ClickAsync();
            await Expect(page.GetByTestId("step-error")).ToHaveTextAsync("Select at least one table.");
            await page.GetByTestId("table-search").Locator("input").FillAsync("ord");
            await Expect(page.Locator("tr[data-table]")).ToHaveCountAsync(1);
            await page.Locator("tr[data-table='public.orders'] input[type=checkbox]").CheckAsync(new LocatorCheckOptions { Force = true });
            await Expect(page.GetByTestId("selected-count")).ToHaveTextAsync("1 selected");
            await ConsoleBrowser.ScreenshotAsync(page, "21-wizard-tables");
            await page.GetByTestId("wizard-next").ClickAsync();

            await Expect(Step(page)).ToHaveAttributeAsync("data-step", "Destination");
            await page.GetByTestId("wizard-step").GetByText(DestinationName).ClickAsync();
            await ConsoleBrowser.ScreenshotAsync(page, "22-wizard-destination");
            await page.GetByTestId("wizard-next").ClickAsync();

            await Expect(Step(page)).ToHaveAttributeAsync("data-step", "Options");
            await page.GetByTestId("pipeline-name-input").Locator("input").FillAsync(PipelineName);
            await page.GetByTestId("lag-threshold").Locator("input").FillAsync("120");
            await ConsoleBrowser.ScreenshotAsync(page, "23-wizard-options");
            await page.GetByTestId("wizard-next").ClickAsync();

            await Expect(Step(page)).ToHaveAttributeAsync("data-step", "Review");
            await Expect(page.GetByTestId("review")).ToContainTextAsync("public.orders");
            await Expect(page.GetByTestId("review")).ToContainTextAsync(DestinationName);
            await ConsoleBrowser.ScreenshotAsync(page, "24-wizard-review");
            await page.GetByTestId("wizard-submit").ClickAsync();

            // --- The pipeline runs on the worker: snapshot, then streaming, Healthy.
            await page.WaitForURLAsync(new Regex("/pipelines/[0-9a-f-]{36}$"));
            await Expect(page.GetByTestId("pipeline-name")).ToHaveTextAsync(PipelineName);
            await Expect(page.GetByTestId("health-badge")).ToHaveAttributeAsync("data-state", "healthy", new LocatorAssertionsToHaveAttributeOptions { Timeout = 180_000 });

            // Rows inserted at the source move the rows/s figure (the page reads the status every 5 s).
            using var stopInserting = new CancellationTokenSource();
            var inserting = InsertOrdersAsync(stopInserting.Token);
            try
            {
                await Expect(page.GetByTestId("rows-per-second")).ToHaveTextAsync(new Regex("[1-9]"), new LocatorAssertionsToHaveTextOptions { Timeout = 120_000 });
            }
            finally
            {
                await stopInserting.CancelAsync();
                await inserting;
            }

            await ConsoleBrowser.ScreenshotAsync(page, "25-pipeline-healthy");

            // --- Pause and resume, each after its confirmation.
            await page.GetByTestId("pause").ClickAsync();
            await Expect(page.GetByText("Pause pipeline?")).ToBeVisibleAsync();
            await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Pause" }).ClickAsync();
            await Expect(page.GetByTestId("resume")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("run-state")).ToHaveTextAsync(new Regex("Paused", RegexOptions.IgnoreCase), new LocatorAssertionsToHaveTextOptions { Timeout = 60_000 });
            await ConsoleBrowser.ScreenshotAsync(page, "26-pipeline-paused");
            await page.GetByTestId("resume").ClickAsync();
            await Expect(page.GetByText("Resume pipeline?")).ToBeVisibleAsync();
            await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Resume" }).ClickAsync();
            await Expect(page.GetByTestId("pause")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("health-badge")).ToHaveAttributeAsync("data-state", "healthy", new LocatorAssertionsToHaveAttributeOptions { Timeout = 180_000 });

            // --- Its revisions: one so far (created).
            await page.GetByTestId("revisions-link").ClickAsync();
            await Expect(page.Locator("[data-generation='1']")).ToContainTextAsync("Created.");
            await ConsoleBrowser.ScreenshotAsync(page, "27-pipeline-revisions");

            await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
            await page.WaitForURLAsync(ConsoleUrl + "/signed-out");
            await Expect(page.GetByRole(AriaRole.Heading, new PageGetByRoleOptions { Name = "You are signed out" })).ToBeVisibleAsync();
        });
    }

    [Fact]
    public async Task Viewer_SeesConnectionsAndTheWizardReadOnly_WithTheReason()
    {
        var email = $"viewer-{Guid.NewGuid():N}@demo.freshet.local";
        var password = await Installation.AddDemoMemberAsync(email, "viewer");
        const string reason = "Your role in Demo Co is viewer: only an editor, admin or owner can";
        await using var browser = await ConsoleBrowser.StartAsync(Installation);
        var page = await browser.NewPageAsync(1280, 900);
        await browser.RecordingFailureAsync(page, "viewer-connections", async () =>
        {
            await browser.SignInAsync(page, email, password);
            await page.GotoAsync(ConsoleUrl + "/connections");
            // The demo tenant's seeded connections are listed; nothing that changes them can be used.
            var first = page.GetByTestId("connection-link").First;
            await Expect(first).ToBeVisibleAsync();
            await Expect(page.GetByTestId("new-source")).ToBeDisabledAsync();
            await Expect(page.GetByTestId("read-only-reason")).ToContainTextAsync(reason + " create, change or test connections.");
            await ConsoleBrowser.ScreenshotAsync(page, "14-viewer-connections");

            await first.ClickAsync();
            await Expect(page.GetByTestId("connection-name")).ToBeVisibleAsync();
            await Expect(page.GetByTestId("test-connection")).ToBeDisabledAsync();
            await Expect(page.GetByTestId("delete-connection")).ToBeDisabledAsync();
            await Expect(page.GetByTestId("read-only-reason")).ToContainTextAsync(reason + " test, change or delete connections.");

            await page.GotoAsync(ConsoleUrl + "/pipelines/new");
            await Expect(page.GetByTestId("read-only-reason")).ToContainTextAsync(reason + " create or change pipelines.");
            await Expect(page.GetByTestId("wizard-step")).ToHaveCountAsync(0);
        });
    }

    private static ILocator Step(IPage page) => page.GetByTestId("wizard-step");

    private static async Task FillAsync(IPage page, string testId, string value)
    {
        var input = page.GetByTestId(testId).Locator("input, textarea").First;
        await input.FillAsync(value);
        // The form reads a field on change, which a blur fires.
        await input.BlurAsync();
    }

    private static async Task TestConnectionAsync(IPage page, string screenshot)
    {
        await page.GetByTestId("test-connection").ClickAsync();
        await Expect(page.GetByTestId("test-verdict")).ToContainTextAsync("All checks passed.");
        await Expect(page.Locator("[data-status=failed]")).ToHaveCountAsync(0);
        Assert.True(await page.Locator("[data-status=passed]").CountAsync() > 0);
        await ConsoleBrowser.ScreenshotAsync(page, screenshot);
    }

    /// <summary>A few orders a second until stopped, as the shop's application would.</summary>
    private async Task InsertOrdersAsync(CancellationToken stop)
    {
        var next = 1_000;
        while (!stop.IsCancellationRequested)
        {
            await Installation.ExecuteInSourceAsync($"INSERT INTO public.orders SELECT g, 'item ' || g, 1 FROM generate_series({next}, {next + 19}) g");
            next += 20;
            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
