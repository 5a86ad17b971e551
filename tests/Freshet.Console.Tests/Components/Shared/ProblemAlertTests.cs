using System.Net;
using System.Text;
using Bunit;
using Freshet.Console.Api;
using Freshet.Console.Components.Shared;
using MudBlazor.Services;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.Console.Tests.Components.Shared;

public sealed class ProblemAlertTests
{
    /// <summary>bUnit with MudBlazor's services; disposed asynchronously, as MudBlazor's services require.</summary>
    private static BunitContext NewContext()
    {
        var context = new BunitContext();
        context.Services.AddMudServices();
        // MudBlazor calls into its JavaScript for focus and popovers; there is no browser here, and nothing asserted depends on it.
        context.JSInterop.Mode = JSRuntimeMode.Loose;
        return context;
    }

    [Fact]
    public async Task ValidationProblem_ShowsTitleDetailAndEveryFieldMessage()
    {
        await using var context = NewContext();
        // A problem body as the control plane writes it (RFC 9457, snake_case field paths).
        using var response = new HttpResponseMessage(HttpStatusCode.BadRequest)
        {
            Content = new StringContent(
                """{"type":"https://tools.ietf.org/html/rfc9110#section-15.5.1","title":"One or more validation errors occurred.","status":400,"detail":"Fix the fields below.","errors":{"settings.port":["Must be between 1 and 65535."],"name":["Required.","Too short."]}}""",
                Encoding.UTF8,
                "application/problem+json"),
        };
        var problem = await ApiProblem.ReadAsync(response, CancellationToken.None);

        var cut = context.Render<ProblemAlert>(p => p.Add(a => a.Problem, problem));

        Assert.Contains("One or more validation errors occurred.", cut.Markup, StringComparison.Ordinal);
        Assert.Contains("Fix the fields below.", cut.Markup, StringComparison.Ordinal);
        var items = cut.FindAll("li").Select(li => li.TextContent.Trim()).ToList();
        Assert.Equal(["settings.port: Must be between 1 and 65535.", "name: Required.", "name: Too short."], items);
    }

    [Fact]
    public async Task ErrorWithoutProblemBody_ShowsWhatTheStatusMeans_NotTheBody()
    {
        await using var context = NewContext();
        using var response = new HttpResponseMessage(HttpStatusCode.InternalServerError)
        {
            Content = new StringContent("System.InvalidOperationException: boom\n   at Freshet.Something()", Encoding.UTF8, "text/plain"),
        };
        var problem = await ApiProblem.ReadAsync(response, CancellationToken.None);

        var cut = context.Render<ProblemAlert>(p => p.Add(a => a.Problem, problem));

        Assert.Contains("The control plane answered 500", cut.Markup, StringComparison.Ordinal);
        Assert.DoesNotContain("InvalidOperationException", cut.Markup, StringComparison.Ordinal);
    }
}
