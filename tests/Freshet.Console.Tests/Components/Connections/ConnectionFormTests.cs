using System.Text.Json.Nodes;
using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Components.Shared;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor;
using MudBlazor.Services;

namespace Freshet.Console.Tests.Components.Connections;

public sealed class ConnectionFormTests
{
    private static BunitContext NewContext()
    {
        var context = new BunitContext();
        context.Services.AddMudServices();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        context.Render<MudPopoverProvider>();
        return context;
    }

    private static IRenderedComponent<ConnectionForm> RenderForm(
        BunitContext context, string type, string kind, List<ConnectionDraft> sent, Connection? existing = null, Func<ConnectionDraft, ApiProblem?>? answer = null) =>
        context.Render<ConnectionForm>(p => p
            .Add(f => f.Type, ConnectionTypesFixture.Type(type))
            .Add(f => f.Kind, kind)
            .Add(f => f.Existing, existing)
            .Add(f => f.OnSubmit, draft =>
            {
                sent.Add(draft);
                return Task.FromResult(answer?.Invoke(draft));
            }));

    private static void Type(IRenderedComponent<ConnectionForm> cut, string field, string value) =>
        cut.Find($"[data-testid=field-{field}] input, [data-testid=field-{field}] textarea, [data-testid=secret-{field}] input, [data-testid=secret-{field}] textarea").Change(value);

    private static string FieldText(IRenderedComponent<ConnectionForm> cut, string testId) => cut.Find($"[data-testid={testId}]").TextContent;

    [Theory]
    [InlineData("postgres", "source", new[] { "Host is required.", "Database is required.", "Username is required." })]
    [InlineData("mysql", "source", new[] { "Host is required.", "Database is required.", "Username is required." })]
    [InlineData("snowflake", "destination", new[] { "Account is required.", "User is required.", "Warehouse is required.", "Database is required.", "Private key (PEM) is required." })]
    [InlineData("bigquery", "destination", new[] { "Project ID is required.", "Dataset is required.", "Service account key (JSON) is required." })]
    [InlineData("duckdb", "destination", new[] { "Path is required." })]
    public async Task EmptyForm_ShowsEachRequiredFieldOfItsType_AndSendsNothing(string type, string kind, string[] expected)
    {
        await using var context = NewContext();
        var sent = new List<ConnectionDraft>();
        var cut = RenderForm(context, type, kind, sent);

        cut.Find("[data-testid=connection-save]").Click();

        cut.WaitForAssertion(() =>
        {
            Assert.Contains("A name is required.", cut.Markup, StringComparison.Ordinal);
            foreach (var message in expected)
            {
                Assert.Contains(message, cut.Markup, StringComparison.Ordinal);
            }
        });
        Assert.Empty(sent);
    }

    [Fact]
    public async Task PostgresSource_WithDefaults_SendsTypedSettingsAndTheSecret()
    {
        await using var context = NewContext();
        var sent = new List<ConnectionDraft>();
        var cut = RenderForm(context, "postgres", "source", sent);

        // Port and SSL mode come prefilled with the type's defaults; the source-only WAL budget is offered (not to a destination, below).
        Assert.Equal("5432", cut.Find("[data-testid=field-port] input").GetAttribute("value"));
        Assert.Single(cut.FindAll("[data-testid=field-wal_disk_budget_mb]"));
        Type(cut, "name", "Orders");
        Type(cut, "host", "db.example.com");
        Type(cut, "database", "shop");
        Type(cut, "username", "replicator");
        Type(cut, "password", "s3cret");
        cut.Find("[data-testid=connection-save]").Click();

        cut.WaitForAssertion(() => Assert.Single(sent));
        var draft = sent[0];
        Assert.Equal(("Orders", "source", "postgres"), (draft.Name, draft.Kind, draft.Type));
        Assert.Equal(5432, draft.Settings["port"]!.GetValue<long>());
        Assert.Equal("db.example.com", draft.Settings["host"]!.GetValue<string>());
        Assert.Equal("prefer", draft.Settings["ssl_mode"]!.GetValue<string>());
        Assert.Equal(new Dictionary<string, string> { ["password"] = "s3cret" }, draft.Secrets);
    }

    [Fact]
    public async Task PostgresDestination_IsNotOfferedSourceOnlySettings()
    {
        await using var context = NewContext();
        var cut = RenderForm(context, "postgres", "destination", []);

        Assert.Empty(cut.FindAll("[data-testid=field-wal_disk_budget_mb]"));
        Assert.Single(cut.FindAll("[data-testid=field-host]"));
    }

    [Theory]
    [InlineData("70000", "Must be between 1 and 65535.")]
    [InlineData("0", "Must be between 1 and 65535.")]
    [InlineData("54x", "Must be a whole number.")]
    public async Task BadPort_IsRefusedOnTheField(string port, string message)
    {
        await using var context = NewContext();
        var sent = new List<ConnectionDraft>();
        var cut = RenderForm(context, "postgres", "source", sent);
        Type(cut, "name", "Orders");
        Type(cut, "host", "db.example.com");
        Type(cut, "database", "shop");
        Type(cut, "username", "replicator");
        Type(cut, "port", port);

        cut.Find("[data-testid=connection-save]").Click();

        cut.WaitForAssertion(() => Assert.Contains(message, FieldText(cut, "field-port"), StringComparison.Ordinal));
        Assert.Empty(sent);
    }

    [Theory]
    [InlineData("duckdb", "path", "../other-tenant/x.duckdb", "no absolute path, no '..'")]
    [InlineData("postgres", "host", "postgres://db.example.com:5432", "without scheme, port or path")]
    [InlineData("bigquery", "project_id", "My Project", "6 to 30 lowercase letters")]
    [InlineData("snowflake", "account", "xy12345.snowflakecomputing.com", "without .snowflakecomputing.com")]
    public async Task BadFormat_IsRefusedOnTheField(string type, string field, string value, string message)
    {
        await using var context = NewContext();
        var sent = new List<ConnectionDraft>();
        var cut = RenderForm(context, type, type is "postgres" ? "source" : "destination", sent);
        Type(cut, field, value);

        cut.Find("[data-testid=connection-save]").Click();

        cut.WaitForAssertion(() => Assert.Contains(message, FieldText(cut, $"field-{field}"), StringComparison.Ordinal));
        Assert.Empty(sent);
    }

    [Fact]
    public async Task BigQueryKey_MustBeTheServiceAccountJson()
    {
        await using var context = NewContext();
        var sent = new List<ConnectionDraft>();
        var cut = RenderForm(context, "bigquery", "destination", sent);
        Type(cut, "service_account_json", """{"type":"service_account","client_email":"x@y.iam.gserviceaccount.com"}""");

        cut.Find("[data-testid=connection-save]").Click();

        cut.WaitForAssertion(() => Assert.Contains("The key file lacks private_key, token_uri.", FieldText(cut, "secret-service_account_json"), StringComparison.Ordinal));
        Type(cut, "service_account_json", "{ not json");
        cut.Find("[data-testid=connection-save]").Click();
        cut.WaitForAssertion(() => Assert.Contains("Not valid JSON", FieldText(cut, "secret-service_account_json"), StringComparison.Ordinal));
        Assert.Empty(sent);
    }

    [Fact]
    public async Task Editing_ShowsASetSecretAsSetWithReplace_NeverItsValue_AndDoesNotResendIt()
    {
        await using var context = NewContext();
        var sent = new List<ConnectionDraft>();
        var existing = new Connection(
            Guid.NewGuid(), "Orders", "source", "postgres",
            new JsonObject { ["host"] = "db.example.com", ["port"] = 6543, ["database"] = "shop", ["username"] = "replicator", ["ssl_mode"] = "require" },
            new Dictionary<string, SecretState> { ["password"] = new(true) },
            DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, 3);
        var cut = RenderForm(context, "postgres", "source", sent, existing);

        // Settings come back for editing; the secret only as "set", with no input holding anything.
        Assert.Equal("6543", cut.Find("[data-testid=field-port] input").GetAttribute("value"));
        Assert.Equal("set", cut.Find("[data-testid=secret-password] [data-testid=secret-state]").TextContent.Trim());
        Assert.Contains("Replace", cut.Find("[data-testid=secret-password]").TextContent, StringComparison.Ordinal);
        Assert.Empty(cut.FindAll("[data-testid=secret-password] input"));

        Type(cut, "database", "shop2");
        cut.Find("[data-testid=connection-save]").Click();
        cut.WaitForAssertion(() => Assert.Single(sent));
        Assert.Empty(sent[0].Secrets);
        Assert.Equal("shop2", sent[0].Settings["database"]!.GetValue<string>());

        // Replace opens an empty field; what is typed there is sent, once.
        cut.Find("[data-testid=secret-replace]").Click();
        var input = cut.Find("[data-testid=secret-password] input");
        Assert.True(string.IsNullOrEmpty(input.GetAttribute("value")));
        Assert.Equal("password", input.GetAttribute("type"));
        Type(cut, "password", "n3w");
        cut.Find("[data-testid=connection-save]").Click();
        cut.WaitForAssertion(() => Assert.Equal(2, sent.Count));
        Assert.Equal(new Dictionary<string, string> { ["password"] = "n3w" }, sent[1].Secrets);
    }

    [Fact]
    public async Task ApiFieldProblems_ShowOnTheirFields_UntilTheValueChanges()
    {
        await using var context = NewContext();
        var sent = new List<ConnectionDraft>();
        const string hostError = "127.0.0.1 resolves to 127.0.0.1, an internal address that connections may not reach on this installation.";
        var cut = RenderForm(context, "postgres", "source", sent, answer: _ => new ApiProblem(
            400,
            "One or more validation errors occurred.",
            null,
            new Dictionary<string, string[]>
            {
                ["settings.host"] = [hostError],
                ["name"] = ["A connection named \"Orders\" already exists."],
                ["kind"] = ["Something about the kind."],
            }));
        Type(cut, "name", "Orders");
        Type(cut, "host", "127.0.0.1");
        Type(cut, "database", "shop");
        Type(cut, "username", "replicator");

        cut.Find("[data-testid=connection-save]").Click();

        cut.WaitForAssertion(() =>
        {
            Assert.Contains(hostError, FieldText(cut, "field-host"), StringComparison.Ordinal);
            Assert.Contains("already exists", FieldText(cut, "field-name"), StringComparison.Ordinal);
            // What has no field of the form is in the alert; what has one is not repeated there.
            var alert = cut.Find("[data-testid=problem]").TextContent;
            Assert.Contains("Something about the kind.", alert, StringComparison.Ordinal);
            Assert.DoesNotContain(hostError, alert, StringComparison.Ordinal);
        });

        Type(cut, "host", "db.example.com");
        cut.WaitForAssertion(() => Assert.DoesNotContain(hostError, FieldText(cut, "field-host"), StringComparison.Ordinal));
    }
}
