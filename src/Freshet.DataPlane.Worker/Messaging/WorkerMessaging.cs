using Freshet.DataPlane;
using Freshet.DataPlane.Runtime;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Freshet.DataPlane.Worker.Messaging;

/// <summary>
/// The bus a control-plane worker listens on for assignment hints and publishes its progress reports on
/// (<see cref="MessagingOptions"/>). Without a transport there is no bus: the worker polls its assignments only, and its
/// reports reach the status module with its heartbeats only.
/// </summary>
internal static class WorkerMessaging
{
    public static void Add(HostApplicationBuilder builder)
    {
        var options = builder.Configuration.GetSection(MessagingOptions.Section).Get<MessagingOptions>() ?? new MessagingOptions();
        if (string.IsNullOrWhiteSpace(options.Transport))
        {
            return;
        }

        if (!string.Equals(options.Transport, "rabbitmq", StringComparison.OrdinalIgnoreCase))
        {
            throw new InvalidOperationException($"Invalid worker settings: {MessagingOptions.Section}:Transport must be 'rabbitmq' or empty; it is '{options.Transport}'.");
        }

        var rabbit = options.RabbitMq;
        builder.Services.AddSingleton<IProgressReportPublisher, BusProgressReportPublisher>();
        builder.Services.AddMassTransit(bus =>
        {
            bus.AddConsumer<WorkerAssignmentsChangedConsumer>();
            bus.UsingRabbitMq((context, rabbitMq) =>
            {
                rabbitMq.Host(rabbit.Host, rabbit.Port, rabbit.VirtualHost, host =>
                {
                    host.Username(rabbit.Username);
                    host.Password(rabbit.Password);
                });
                // A queue of this process's own (unique name, auto-deleted, not durable): every worker receives every
                // published hint, and a worker that goes away leaves no queue behind.
                rabbitMq.ReceiveEndpoint(new TemporaryEndpointDefinition(), KebabCaseEndpointNameFormatter.Instance, endpoint =>
                    endpoint.ConfigureConsumer<WorkerAssignmentsChangedConsumer>(context));
            });
        });
    }
}
