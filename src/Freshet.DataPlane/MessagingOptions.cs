namespace Freshet.DataPlane;

/// <summary>
/// The message bus between the scheduler and the workers (section <c>Freshet:Messaging</c>), read by both the
/// control-plane host and the standalone worker so the two sides agree on the broker and its defaults. Messages are
/// only hints (the control database is the truth), so neither side needs the bus to be correct.
/// </summary>
public sealed class MessagingOptions
{
    public const string Section = "Freshet:Messaging";

    /// <summary><c>rabbitmq</c>, <c>inmemory</c> (control plane only: everything in one process), or empty.</summary>
    public string? Transport { get; set; }

    public RabbitMqOptions RabbitMq { get; set; } = new();

    /// <summary>Where the RabbitMQ broker is and how to sign in.</summary>
    public sealed class RabbitMqOptions
    {
        public string Host { get; set; } = "127.0.0.1";

        public ushort Port { get; set; } = 5672;

        public string Username { get; set; } = "guest";

        public string Password { get; set; } = "guest";

        public string VirtualHost { get; set; } = "/";
    }
}
