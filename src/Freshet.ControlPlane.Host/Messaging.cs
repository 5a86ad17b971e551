using Freshet.DataPlane;
using MassTransit;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Freshet.ControlPlane.Host;

/// <summary>
/// The message bus between the scheduler and the workers (section <c>Freshet:Messaging</c>): <c>inmemory</c> (default)
/// when everything runs in one process, <c>rabbitmq</c> when workers run as their own processes. It carries the
/// scheduler's hints to workers and workers' progress reports to status processes that run no scheduler. Messages are
/// hints or repeated views — the control database is the truth — so the bus is not part of readiness: a broker that is
/// down slows workers to their poll interval, delays such a status process's reports, and breaks nothing.
/// </summary>
internal static class Messaging
{
    /// <summary><c>inmemory</c> or <c>rabbitmq</c>, as configured; anything else stops the process at start.</summary>
    public static string Transport(IConfiguration configuration)
    {
        var options = configuration.GetSection(MessagingOptions.Section).Get<MessagingOptions>() ?? new MessagingOptions();
        var transport = string.IsNullOrWhiteSpace(options.Transport) ? "inmemory" : options.Transport.Trim().ToLowerInvariant();
        return transport is "inmemory" or "rabbitmq"
            ? transport
            : throw new InvalidOperationException($"{MessagingOptions.Section}:Transport must be 'inmemory' or 'rabbitmq'; it is '{options.Transport}'.");
    }

    public static void Add(WebApplicationBuilder builder, Action<IBusRegistrationConfigurator>? consumers = null)
    {
        var options = builder.Configuration.GetSection(MessagingOptions.Section).Get<MessagingOptions>() ?? new MessagingOptions();
        var transport = Transport(builder.Configuration);

        builder.Services.AddMassTransit(bus =>
        {
            bus.ConfigureHealthCheckOptions(health =>
            {
                health.Tags.Clear();
                health.Tags.Add("masstransit");
            });
            consumers?.Invoke(bus);
            if (transport == "rabbitmq")
            {
                var rabbit = options.RabbitMq;
                bus.UsingRabbitMq((context, rabbitMq) =>
                {
                    rabbitMq.Host(rabbit.Host, rabbit.Port, rabbit.VirtualHost, host =>
                    {
                        host.Username(rabbit.Username);
                        host.Password(rabbit.Password);
                    });
                    rabbitMq.ConfigureEndpoints(context);
                });
            }
            else
            {
                bus.UsingInMemory((context, inMemory) => inMemory.ConfigureEndpoints(context));
            }
        });
    }
}
