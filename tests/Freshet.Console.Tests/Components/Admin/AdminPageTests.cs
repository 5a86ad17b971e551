using System.Net;
using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Components.Pages;
using MudBlazor;

namespace Freshet.Console.Tests.Components.Admin;

public sealed class AdminPageTests
{
    private static readonly Guid ClientGuid = Guid.NewGuid();

    private static ApiClient Listed(string name) =>
        new(ClientGuid, name, "c_terraform", "editor", DateTimeOffset.UtcNow, "owner@demo.freshet.local", DateTimeOffset.UtcNow, null);

    [Fact]
    public async Task ApiClients_CreatedSecretIsShownOnce_AndGoneAfterClosing()
    {
        await using var page = new AdminPageContext("admin");
        var clients = new List<ApiClient>();
        page.Routes["GET /v1/api-clients"] = _ => (HttpStatusCode.OK, new Page<ApiClient>(clients, null));
        page.Routes["POST /v1/api-clients"] = _ =>
        {
            clients.Add(Listed("Terraform"));
            return (HttpStatusCode.Created, new ApiClientWithSecret(ClientGuid, "Terraform", "c_terraform", "s3cret-shown-once", "editor", DateTimeOffset.UtcNow, "http://cp/connect/token"));
        };
        var cut = page.Context.Render<ApiClients>();
        cut.WaitForAssertion(() => Assert.Contains("No API clients", cut.Markup, StringComparison.Ordinal));

        cut.Find("input[data-testid=client-name]").Input("Terraform");
        cut.Find("[data-testid=client-create]").Click();

        cut.WaitForAssertion(() => Assert.Equal("s3cret-shown-once", cut.Find("[data-testid=secret-value]").TextContent.Trim()));
        Assert.Single(cut.FindAll("[data-testid=copy-secret]"));
        Assert.Contains(page.Requests, r => r is { Method: "POST", PathAndQuery: "/v1/api-clients" } && r.Body == """{"name":"Terraform","role":"viewer"}""");
        cut.WaitForAssertion(() => Assert.Contains("c_terraform", cut.Find("[data-testid=clients]").TextContent, StringComparison.Ordinal));

        cut.Find("[data-testid=secret-done]").Click();
        cut.WaitForAssertion(() => Assert.Empty(cut.FindAll("[data-testid=secret-once]")));
        Assert.DoesNotContain("s3cret-shown-once", cut.Markup, StringComparison.Ordinal);
        // Still listed, without a secret.
        Assert.Contains("Terraform", cut.Find("[data-testid=clients]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ApiClients_RotateAsksFirst_ThenShowsTheNewSecretOnce()
    {
        await using var page = new AdminPageContext("owner");
        var dialogs = page.Context.Render<MudDialogProvider>();
        page.Routes["GET /v1/api-clients"] = _ => (HttpStatusCode.OK, new Page<ApiClient>([Listed("Terraform")], null));
        page.Routes[$"POST /v1/api-clients/{ClientGuid}/rotate-secret"] = _ =>
            (HttpStatusCode.OK, new ApiClientWithSecret(ClientGuid, "Terraform", "c_terraform", "rotated-secret", "editor", DateTimeOffset.UtcNow, "http://cp/connect/token"));
        var cut = page.Context.Render<ApiClients>();
        cut.WaitForAssertion(() => cut.Find("[data-testid=client-rotate]"));

        cut.Find("[data-testid=client-rotate]").Click();
        dialogs.WaitForAssertion(() => Assert.Contains("Rotate secret?", dialogs.Markup, StringComparison.Ordinal));
        dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Cancel").Click();
        dialogs.WaitForAssertion(() => Assert.DoesNotContain("Rotate secret?", dialogs.Markup, StringComparison.Ordinal));
        Assert.DoesNotContain(page.Requests, r => r.PathAndQuery.EndsWith("/rotate-secret", StringComparison.Ordinal));

        cut.Find("[data-testid=client-rotate]").Click();
        dialogs.WaitForAssertion(() => dialogs.FindAll("button").Single(b => b.TextContent.Trim() == "Rotate").Click());
        cut.WaitForAssertion(() => Assert.Equal("rotated-secret", cut.Find("[data-testid=secret-value]").TextContent.Trim()));
        cut.Find("[data-testid=secret-done]").Click();
        cut.WaitForAssertion(() => Assert.DoesNotContain("rotated-secret", cut.Markup, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Members_NewAccountsFirstPasswordIsShownOnce_AndTheApisRefusalIsReadable()
    {
        await using var page = new AdminPageContext("admin");
        var members = new List<Member> { new(Guid.NewGuid(), "owner@demo.freshet.local", "Owner", "owner", DateTimeOffset.UtcNow, 1) };
        page.Routes["GET /v1/members"] = _ => (HttpStatusCode.OK, new Page<Member>(members, null));
        page.Routes["POST /v1/members"] = body =>
        {
            if (body.Contains("taken@", StringComparison.Ordinal))
            {
                return (HttpStatusCode.Conflict, """{"title":"Conflict","status":409,"detail":"taken@demo.freshet.local is already a member of this tenant."}""");
            }

            members.Add(new Member(Guid.NewGuid(), "ana@demo.freshet.local", "Ana", "editor", DateTimeOffset.UtcNow, 1));
            return (HttpStatusCode.Created, new AddedMember(members[^1].UserId, "ana@demo.freshet.local", "Ana", "viewer", DateTimeOffset.UtcNow, true, "Fr-first-password-9a"));
        };
        var cut = page.Context.Render<Members>();
        cut.WaitForAssertion(() => Assert.Contains("owner@demo.freshet.local", cut.Find("[data-testid=members]").TextContent, StringComparison.Ordinal));
        // An admin cannot change an owner, and is told so instead of being offered buttons the API would refuse.
        Assert.Equal("Only an owner can change or remove an owner.", cut.Find("[data-testid=member-protected]").TextContent.Trim());

        cut.Find("input[data-testid=member-email]").Input("taken@demo.freshet.local");
        cut.Find("[data-testid=member-add]").Click();
        cut.WaitForAssertion(() => Assert.Contains("is already a member of this tenant.", cut.Find("[data-testid=problem]").TextContent, StringComparison.Ordinal));
        Assert.Empty(cut.FindAll("[data-testid=secret-once]"));

        cut.Find("input[data-testid=member-email]").Input("ana@demo.freshet.local");
        cut.Find("[data-testid=member-add]").Click();
        cut.WaitForAssertion(() => Assert.Equal("Fr-first-password-9a", cut.Find("[data-testid=secret-value]").TextContent.Trim()));
        Assert.Empty(cut.FindAll("[data-testid=problem]"));
        cut.Find("[data-testid=secret-done]").Click();
        cut.WaitForAssertion(() => Assert.DoesNotContain("Fr-first-password-9a", cut.Markup, StringComparison.Ordinal));
        Assert.Contains("ana@demo.freshet.local", cut.Find("[data-testid=members]").TextContent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Viewer_GetsNoChangeButtons_AndTheReason()
    {
        await using var page = new AdminPageContext("viewer");
        page.Routes["GET /v1/members"] = _ => (HttpStatusCode.OK, new Page<Member>([new(Guid.NewGuid(), "owner@demo.freshet.local", "Owner", "owner", DateTimeOffset.UtcNow, 1)], null));
        page.Routes["GET /v1/api-clients"] = _ => (HttpStatusCode.OK, new Page<ApiClient>([Listed("Terraform")], null));

        var members = page.Context.Render<Members>();
        members.WaitForAssertion(() => members.Find("[data-testid=members]"));
        Assert.Empty(members.FindAll("[data-testid=member-form]"));
        Assert.Empty(members.FindAll("[data-testid=member-remove]"));
        Assert.Contains("Your role in Demo Co is viewer", members.Find("[data-testid=read-only-reason]").TextContent, StringComparison.Ordinal);

        var clients = page.Context.Render<ApiClients>();
        clients.WaitForAssertion(() => clients.Find("[data-testid=clients]"));
        Assert.Empty(clients.FindAll("[data-testid=client-form]"));
        Assert.Empty(clients.FindAll("[data-testid=client-rotate]"));
        Assert.Empty(clients.FindAll("[data-testid=client-revoke]"));

        // The audit log is for admins only: the page says so and does not ask the API.
        var audit = page.Context.Render<AuditLog>();
        Assert.Contains("only an admin or owner can read the audit log", audit.Find("[data-testid=read-only-reason]").TextContent, StringComparison.Ordinal);
        Assert.DoesNotContain(page.Requests, r => r.PathAndQuery.StartsWith("/v1/audit-events", StringComparison.Ordinal));
    }
}
