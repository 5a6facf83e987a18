using System.ComponentModel.DataAnnotations;

namespace Landmark.ServiceDefaults;

public enum MessagingTransport
{
    /// <summary>MassTransit's in-memory transport: one process, no broker (embedded mode).</summary>
    InMemory,
    /// <summary>RabbitMQ broker (distributed mode).</summary>
    RabbitMq,
}

/// <summary>Bound from <c>Landmark:Messaging</c>. Prefetch, concurrency and retry here are the defaults of every
/// consumer; each consumer's definition may set its own default and <see cref="ConsumerOptions"/>
/// (<c>Landmark:Messaging:Consumers:&lt;consumer&gt;</c>) overrides both.</summary>
public sealed class MessagingOptions
{
    public const string SectionName = "Landmark:Messaging";

    public MessagingTransport Transport { get; set; } = MessagingTransport.InMemory;

    [Microsoft.Extensions.Options.ValidateObjectMembers]
    public RabbitMqOptions RabbitMq { get; set; } = new();

    /// <summary>Messages a consumer endpoint fetches ahead (default of consumers that set none).</summary>
    [Range(1, 10000)]
    public int PrefetchCount { get; set; } = 32;

    /// <summary>Messages one endpoint processes at once (0 = MassTransit's default), for consumers that set none.</summary>
    [Range(0, 1000)]
    public int ConcurrencyLimit { get; set; }

    /// <summary>Immediate retries before a message goes to the error queue (default of every consumer).</summary>
    [Range(0, 100)]
    public int RetryLimit { get; set; } = 5;

    /// <summary>First retry delay; doubles each attempt.</summary>
    [Range(1, 600_000)]
    public int RetryInitialDelayMs { get; set; } = 200;

    /// <summary>Use the broker's delayed redelivery (needs the RabbitMQ delayed-message-exchange plugin).</summary>
    public bool DelayedRedelivery { get; set; }

    /// <summary>
    /// Start-up (and so the service's gRPC and HTTP ports) waits until the bus is connected and every receive endpoint
    /// is ready, i.e. has declared its queue and bound it to the exchanges of the messages it consumes. Without the
    /// wait the host reports "started" while MassTransit still connects in the background, and a message published
    /// meanwhile reaches an exchange without bindings, which RabbitMQ drops: no consumer, no retry, no error queue.
    /// </summary>
    public bool WaitUntilStarted { get; set; } = true;

    /// <summary>How long start-up waits for the bus (with <see cref="WaitUntilStarted"/>) before it fails, so that an
    /// unreachable broker stops the process (and its supervisor restarts it) instead of hanging start-up.</summary>
    [Range(1, 3600)]
    public int StartTimeoutSeconds { get; set; } = 120;
}

public sealed class RabbitMqOptions
{
    public string Host { get; set; } = "localhost";

    [Range(1, 65535)]
    public int Port { get; set; } = 5672;

    public string VirtualHost { get; set; } = "/";

    public string Username { get; set; } = "guest";

    public string Password { get; set; } = "guest";

    /// <summary>TLS to the broker (AMQPS, usually port 5671).</summary>
    public RabbitMqTlsOptions Tls { get; set; } = new();
}

/// <summary>TLS to RabbitMQ, bound from <c>Landmark:Messaging:RabbitMq:Tls</c> (MassTransit's <c>UseSsl</c>).</summary>
public sealed class RabbitMqTlsOptions
{
    /// <summary>Connect with TLS (set <see cref="RabbitMqOptions.Port"/> to the broker's AMQPS port, usually 5671).</summary>
    public bool Enabled { get; set; }

    /// <summary>The name the broker's certificate must carry; empty: <see cref="RabbitMqOptions.Host"/>.</summary>
    public string ServerName { get; set; } = "";

    /// <summary>The authorities (PEM) that the broker's certificate must chain to instead of the system's roots.</summary>
    public string CaPath { get; set; } = "";

    /// <summary>A client certificate (PEM) for brokers that require one (<c>ssl_options.fail_if_no_peer_cert</c>);
    /// read again at each connection, so a rotated certificate applies from the next reconnect.</summary>
    public string ClientCertificatePath { get; set; } = "";

    /// <summary>The private key of <see cref="ClientCertificatePath"/>.</summary>
    public string ClientKeyPath { get; set; } = "";
}

/// <summary>Start-up checks of <see cref="RabbitMqTlsOptions"/> when the RabbitMQ transport is used with TLS: the CA
/// bundle and the client certificate's files present and loadable, the key the certificate's.</summary>
public sealed class RabbitMqTlsValidator(TimeProvider time) : Microsoft.Extensions.Options.IValidateOptions<MessagingOptions>
{
    private const string Section = MessagingOptions.SectionName + ":RabbitMq:Tls";

    public Microsoft.Extensions.Options.ValidateOptionsResult Validate(string? name, MessagingOptions options)
    {
        var tls = options.RabbitMq.Tls;
        var failures = new List<string>();
        if (options.Transport == MessagingTransport.RabbitMq && tls.Enabled)
        {
            if (!string.IsNullOrWhiteSpace(tls.CaPath))
            {
                PemCertificates.CheckAuthorities($"{Section}:CaPath", tls.CaPath, failures);
            }
            if (!string.IsNullOrWhiteSpace(tls.ClientCertificatePath))
            {
                PemCertificates.CheckPair($"{Section}:ClientCertificatePath", tls.ClientCertificatePath, $"{Section}:ClientKeyPath",
                    tls.ClientKeyPath, time, failures);
            }
        }
        else if (options.Transport == MessagingTransport.RabbitMq &&
                 (!string.IsNullOrWhiteSpace(tls.CaPath) || !string.IsNullOrWhiteSpace(tls.ClientCertificatePath)))
        {
            failures.Add($"{Section}: CaPath or ClientCertificatePath is set but {Section}:Enabled is not: set Enabled=true (and the AMQPS port).");
        }
        return failures.Count == 0 ? Microsoft.Extensions.Options.ValidateOptionsResult.Success
            : Microsoft.Extensions.Options.ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>The data annotations of <see cref="MessagingOptions"/> including its <see cref="RabbitMqOptions"/> section
/// (generated; DataAnnotations alone do not reach nested objects).</summary>
[Microsoft.Extensions.Options.OptionsValidator]
public sealed partial class MessagingOptionsValidator : Microsoft.Extensions.Options.IValidateOptions<MessagingOptions>;
