using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Freshet.ControlPlane.Api.Tests.Workers;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Api.Tests.Pipelines;

/// <summary>A re-snapshot request reaches the worker in a new spec generation and leaves it once completed.</summary>
public sealed class ResnapshotTests(WorkerPoolFactory factory) : IClassFixture<WorkerPoolFactory>
{
    [Fact]
    public async Task Resnapshot_BumpsTheGeneration_PutsTheRequestInTheSpec_AndCompletingItTakesItOut()
    {
        var pipelineId = await factory.CreateDemoPipelineAsync($"pw-{Guid.NewGuid():N}");
        var catalog = factory.Services.GetRequiredService<IPipelineCatalog>();
        using var admin = await factory.DemoAdminClientAsync();
        Assert.Null((await catalog.ReadSpecAsync(pipelineId, 3, CancellationToken.None))!.Resnapshots);

        var response = await admin.PostAsJsonAsync($"/v1/pipelines/{pipelineId}/resnapshot", new { tables = new[] { new { schema = "public", name = "orders" } } });
        var accepted = await HttpAssert.OkAsync(response, HttpStatusCode.Accepted);
        var requestId = accepted[0].GetProperty("id").GetGuid();
        Assert.Equal(JsonValueKind.Null, accepted[0].GetProperty("completed_at").ValueKind);

        var spec = await catalog.ReadSpecAsync(pipelineId, 3, CancellationToken.None);
        Assert.Equal(2, spec!.Generation);
        Assert.Equal([new SnapshotRequestSpec(requestId, "public", "orders")], spec.Resnapshots!);
        var pipeline = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}"));
        Assert.Equal(2, pipeline.GetProperty("generation").GetInt64());
        var revisions = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/revisions"));
        Assert.Equal("Re-snapshot requested: public.orders.", revisions.GetProperty("items")[0].GetProperty("change").GetString());

        // Another pipeline's id completes nothing; the same report twice is harmless.
        await catalog.CompleteSnapshotRequestsAsync(Guid.NewGuid(), [requestId], CancellationToken.None);
        Assert.Single((await catalog.ReadSpecAsync(pipelineId, 3, CancellationToken.None))!.Resnapshots!);
        await catalog.CompleteSnapshotRequestsAsync(pipelineId, [requestId], CancellationToken.None);
        var listed = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/resnapshots"));
        var completedAt = listed.GetProperty("items")[0].GetProperty("completed_at").GetDateTimeOffset();
        await catalog.CompleteSnapshotRequestsAsync(pipelineId, [requestId], CancellationToken.None);

        spec = await catalog.ReadSpecAsync(pipelineId, 3, CancellationToken.None);
        Assert.Null(spec!.Resnapshots);
        Assert.Equal(2, spec.Generation);
        listed = await HttpAssert.OkAsync(await admin.GetAsync($"/v1/pipelines/{pipelineId}/resnapshots"));
        var item = Assert.Single(listed.GetProperty("items").EnumerateArray());
        Assert.Equal(requestId, item.GetProperty("id").GetGuid());
        Assert.Equal(completedAt, item.GetProperty("completed_at").GetDateTimeOffset());
    }
}
