using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Components.Admin;
using Microsoft.Extensions.DependencyInjection;
using MudBlazor.Services;

namespace Freshet.Console.Tests.Components.Admin;

public sealed class AdminFormTests
{
    private static BunitContext NewContext()
    {
        var context = new BunitContext();
        context.Services.AddMudServices();
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        return context;
    }

    private static void Type<T>(IRenderedComponent<T> cut, string testId, string value)
        where T : Microsoft.AspNetCore.Components.IComponent =>
        cut.Find($"input[data-testid={testId}]").Input(value);

    [Fact]
    public async Task MemberForm_ChecksTheAddressAndTheName_BeforeItSendsAnything()
    {
        await using var context = NewContext();
        var sent = new List<MemberDraft>();
        var cut = context.Render<MemberForm>(p => p
            .Add(f => f.Roles, TenantRoles.GrantableToMembers("admin"))
            .Add(f => f.OnSubmit, draft => { sent.Add(draft); return Task.FromResult(true); }));

        cut.Find("[data-testid=member-add]").Click();
        Assert.Contains("Enter the person's e-mail address.", cut.Markup, StringComparison.Ordinal);

        Type(cut, "member-email", "ana at example.com");
        cut.Find("[data-testid=member-add]").Click();
        Assert.Contains("This is not an e-mail address.", cut.Markup, StringComparison.Ordinal);

        Type(cut, "member-email", "ana@example.com");
        Type(cut, "member-display-name", new string('a', 201));
        cut.Find("[data-testid=member-add]").Click();
        Assert.Contains("At most 200 characters (this is 201).", cut.Markup, StringComparison.Ordinal);
        Assert.DoesNotContain("This is not an e-mail address.", cut.Markup, StringComparison.Ordinal);
        Assert.Empty(sent);

        Type(cut, "member-display-name", "  Ana Lyst ");
        cut.Find("[data-testid=member-add]").Click();
        cut.WaitForAssertion(() => Assert.Equal([new MemberDraft("ana@example.com", "Ana Lyst", "viewer")], sent));
        // Added: the form is empty for the next one.
        cut.WaitForAssertion(() => Assert.Equal("", cut.Find("input[data-testid=member-email]").GetAttribute("value") ?? ""));
    }

    [Fact]
    public async Task MemberForm_KeepsWhatWasTyped_WhenTheApiRefused()
    {
        await using var context = NewContext();
        var cut = context.Render<MemberForm>(p => p
            .Add(f => f.Roles, TenantRoles.GrantableToMembers("owner"))
            .Add(f => f.OnSubmit, _ => Task.FromResult(false)));

        Type(cut, "member-email", "ana@example.com");
        cut.Find("[data-testid=member-add]").Click();
        Assert.Equal("ana@example.com", cut.Find("input[data-testid=member-email]").GetAttribute("value"));
    }

    [Fact]
    public void Roles_FollowTheControlPlanesRules()
    {
        // Only owners make owners; clients are at most admin and never above their creator.
        Assert.Equal(["viewer", "editor", "admin"], TenantRoles.GrantableToMembers("admin"));
        Assert.Equal(["viewer", "editor", "admin", "owner"], TenantRoles.GrantableToMembers("owner"));
        Assert.Equal(["viewer", "editor", "admin"], TenantRoles.GrantableToClients("owner"));
        Assert.Equal(["viewer", "editor", "admin"], TenantRoles.GrantableToClients("admin"));
        Assert.False(TenantRoles.CanAdminister("editor"));
        Assert.True(TenantRoles.CanAdminister("admin"));
    }

    [Fact]
    public async Task ApiClientForm_RequiresAName_AndSendsTheTrimmedNameAndRole()
    {
        await using var context = NewContext();
        var sent = new List<(string Name, string Role)>();
        var cut = context.Render<ApiClientForm>(p => p
            .Add(f => f.Roles, TenantRoles.GrantableToClients("admin"))
            .Add(f => f.OnSubmit, (name, role) => { sent.Add((name, role)); return Task.FromResult(true); }));

        cut.Find("[data-testid=client-create]").Click();
        Assert.Contains("Enter a name.", cut.Markup, StringComparison.Ordinal);
        Type(cut, "client-name", "   ");
        cut.Find("[data-testid=client-create]").Click();
        Assert.Contains("Enter a name.", cut.Markup, StringComparison.Ordinal);
        Type(cut, "client-name", "line\u0001break");
        cut.Find("[data-testid=client-create]").Click();
        Assert.Contains("Must not contain control characters.", cut.Markup, StringComparison.Ordinal);
        Assert.Empty(sent);

        Type(cut, "client-name", " Terraform ");
        cut.Find("[data-testid=client-create]").Click();
        cut.WaitForAssertion(() => Assert.Equal([("Terraform", "viewer")], sent));
        Assert.DoesNotContain("Enter a name.", cut.Markup, StringComparison.Ordinal);
    }
}
