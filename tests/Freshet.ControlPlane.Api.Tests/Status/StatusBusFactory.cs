using Freshet.Contracts;
using Freshet.ControlPlane.Api.Tests.Infrastructure;
using Freshet.Testing;
using MassTransit;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Freshet.ControlPlane.Api.Tests.Status;

/// <summary>
/// A control plane with the roles <c>api,status</c> and no scheduler, on RabbitMQ: it receives no heartbeats, so the
/// reports it shows came over the bus. Placements are written into the scheduler's tables as its leader would.
/// </summary>
public sealed class StatusBusFactory : ControlPlaneFactory
{
    private IBusControl? _workers;

    public RabbitMqServer RabbitMq { get; private set; } = null!;

    protected override IEnumerable<KeyValuePair<string, string?>> ExtraSettings =>
    [
        new("Freshet:Roles", "api,status"),
        new("Freshet:Messaging:Transport", "rabbitmq"),
        new("Freshet:Messaging:RabbitMq:Port", RabbitMq.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        // Nothing re-judged by the clock meanwhile: what the API shows was ingested.
        new("Freshet:Status:StreamTick", "00:10:00"),
    ];

    protected override async Task StartDependenciesAsync() => RabbitMq = await RabbitMqServer.SharedAsync();

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        // The host does not wait for the broker (status must come up without it); a test publishes only once its queue is bound.
        builder.ConfigureTestServices(services => services.Configure<MassTransitHostOptions>(o => o.WaitUntilStarted = true));
    }

    /// <summary>Publishes as a worker does, on a bus of the test's own.</summary>
    public async Task PublishAsync(Guid workerId, params PipelineProgressReport[] reports)
    {
        if (_workers is null)
        {
            var bus = Bus.Factory.CreateUsingRabbitMq(rabbit => rabbit.Host("127.0.0.1", (ushort)RabbitMq.Port, "/", host =>
            {
                host.Username("guest");
                host.Password("guest");
            }));
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await bus.StartAsync(timeout.Token);
            _workers = bus;
        }

        await _workers.Publish(new PipelineStatusReported(workerId, reports));
    }

    /// <summary>Places the pipeline on the worker under the epoch, as the leading scheduler commits a placement.</summary>
    public async Task PlaceAsync(Guid pipelineId, Guid workerId, long epoch)
    {
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using (var worker = new NpgsqlCommand(
            """
            INSERT INTO workers (id, name, labels, capacity, version, registered_at, last_heartbeat_at, lease_expires_at, draining, drain_requested, assignments_version)
            VALUES ($1, 'w-' || left($1::text, 8), '{}', 10, 'test', now(), now(), now() + interval '1 hour', false, false, 1)
            ON CONFLICT (id) DO NOTHING
            """,
            connection))
        {
            worker.Parameters.Add(new() { Value = workerId });
            await worker.ExecuteNonQueryAsync();
        }

        await using var place = new NpgsqlCommand(
            """
            INSERT INTO assignments (pipeline_id, tenant_id, worker_id, epoch, generation, assigned_at, drop_requested)
            SELECT $1, p.tenant_id, $2, $3, p.generation, now(), false FROM pipelines p WHERE p.id = $1
            ON CONFLICT (pipeline_id) DO UPDATE SET worker_id = excluded.worker_id, epoch = excluded.epoch, assigned_at = now(), report = NULL, reported_at = NULL
            """,
            connection);
        place.Parameters.Add(new() { Value = pipelineId });
        place.Parameters.Add(new() { Value = workerId });
        place.Parameters.Add(new() { Value = epoch });
        Assert.Equal(1, await place.ExecuteNonQueryAsync());
    }

    public override async ValueTask DisposeAsync()
    {
        if (_workers is not null)
        {
            await _workers.StopAsync();
        }

        await base.DisposeAsync();
    }
}
