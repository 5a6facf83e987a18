using System.ComponentModel.DataAnnotations;

namespace Landmark.ServiceDefaults;

public enum MessagingTransport
{
    /// <summary>MassTransit's in-memory transport: one process, no broker (embedded mode).</summary>
    InMemory,
    /// <summary>RabbitMQ broker (distributed mode).</summary>
    RabbitMq,
}

/// <summary>Bound from <c>Landmark:Messaging</c>.</summary>
public sealed class MessagingOptions
{
    public const string SectionName = "Landmark:Messaging";

    public MessagingTransport Transport { get; set; } = MessagingTransport.InMemory;

    public RabbitMqOptions RabbitMq { get; set; } = new();

    /// <summary>Messages a consumer endpoint fetches ahead.</summary>
    [Range(1, 10000)]
    public int PrefetchCount { get; set; } = 32;

    /// <summary>Messages one endpoint processes at once (0 = MassTransit's default).</summary>
    [Range(0, 1000)]
    public int ConcurrencyLimit { get; set; }

    /// <summary>Immediate retries before a message goes to the error queue.</summary>
    [Range(0, 100)]
    public int RetryLimit { get; set; } = 5;

    /// <summary>First retry delay; doubles each attempt.</summary>
    [Range(1, 600_000)]
    public int RetryInitialDelayMs { get; set; } = 200;

    /// <summary>Use the broker's delayed redelivery (needs the RabbitMQ delayed-message-exchange plugin).</summary>
    public bool DelayedRedelivery { get; set; }
}

public sealed class RabbitMqOptions
{
    public string Host { get; set; } = "localhost";

    [Range(1, 65535)]
    public int Port { get; set; } = 5672;

    public string VirtualHost { get; set; } = "/";

    public string Username { get; set; } = "guest";

    public string Password { get; set; } = "guest";
}
