using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Freshet.DataPlane.Worker.Messaging;

/// <summary>
/// The message bus a control-plane worker listens on for assignment hints (section <c>Freshet:Messaging</c>). Without a
/// transport configured there is no bus: the worker polls its assignments only.
/// </summary>
internal sealed class MessagingOptions
{
    public const string Section = "Freshet:Messaging";

    /// <summary><c>rabbitmq</c>, or empty for none.</summary>
    public string? Transport { get; set; }

    public RabbitMqOptions RabbitMq { get; set; } = new();

    internal sealed class RabbitMqOptions
    {
        public string Host { get; set; } = "127.0.0.1";

        public ushort Port { get; set; } = 5672;

        public string Username { get; set; } = "guest";

        public string Password { get; set; } = "guest";

        public string VirtualHost { get; set; } = "/";
    }
}

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
