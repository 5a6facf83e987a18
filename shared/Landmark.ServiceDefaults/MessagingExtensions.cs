using System.Security.Authentication;
using MassTransit;
using Microsoft.Extensions.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Landmark.ServiceDefaults;

/// <summary>MassTransit set-up shared by every service: transport by configuration, retries, error queues.</summary>
public static class MessagingExtensions
{
    /// <summary>
    /// Registers MassTransit with the consumers added by <paramref name="configureConsumers"/>, on the transport named
    /// by <c>Landmark:Messaging:Transport</c>. Each consumer comes with its definition
    /// (<see cref="ConsumerRegistrationExtensions.AddLandmarkConsumer{TConsumer,TDefinition}"/>), which owns its queue,
    /// retry, prefetch and concurrency; a message that exhausted its retries moves to <c>&lt;queue&gt;_error</c> with the
    /// exception details in its headers. Start-up waits until the bus and its receive endpoints (queues and bindings)
    /// are ready (<see cref="MessagingOptions.WaitUntilStarted"/>).
    /// </summary>
    public static WebApplicationBuilder AddLandmarkMessaging(this WebApplicationBuilder builder,
        Action<IBusRegistrationConfigurator> configureConsumers)
    {
        builder.Services.AddSingleton<IValidateOptions<MessagingOptions>, MessagingOptionsValidator>();
        builder.Services.AddSingleton<IValidateOptions<MessagingOptions>, RabbitMqTlsValidator>();
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddOptions<MessagingOptions>().Bind(builder.Configuration.GetSection(MessagingOptions.SectionName)).ValidateOnStart();
        var options = builder.Configuration.GetSection(MessagingOptions.SectionName).Get<MessagingOptions>() ?? new MessagingOptions();

        // MassTransit's hosted service starts the bus in the background unless told to wait: the host would be
        // "started" before the consumers' queues are bound, and messages published in that window are lost.
        builder.Services.AddOptions<MassTransitHostOptions>().Configure(host =>
        {
            host.WaitUntilStarted = options.WaitUntilStarted;
            host.StartTimeout = TimeSpan.FromSeconds(options.StartTimeoutSeconds);
        });

        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddConsumeObserver<QueueWaitObserver>();
        builder.Services.AddMassTransit(x =>
        {
            // No anonymous usage reports to MassTransit's servers: a platform's egress is the operator's decision.
            x.ConfigureUsageTelemetryOptions(o => o.Enabled = false);
            x.SetKebabCaseEndpointNameFormatter();
            configureConsumers(x);
            switch (options.Transport)
            {
                case MessagingTransport.InMemory:
                    x.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
                    break;
                case MessagingTransport.RabbitMq:
                    x.UsingRabbitMq((context, cfg) =>
                    {
                        var rabbit = options.RabbitMq;
                        cfg.Host(rabbit.Host, (ushort)rabbit.Port, rabbit.VirtualHost, h =>
                        {
                            h.Username(rabbit.Username);
                            h.Password(rabbit.Password);
                            if (rabbit.Tls.Enabled)
                            {
                                h.UseSsl(ssl => ConfigureTls(ssl, rabbit));
                            }
                        });
                        if (options.DelayedRedelivery)
                        {
                            cfg.UseDelayedMessageScheduler();
                        }
                        cfg.ConfigureEndpoints(context);
                    });
                    break;
                default:
                    throw new InvalidOperationException($"Unknown messaging transport '{options.Transport}'.");
            }
        });
        return builder;
    }

    /// <summary>AMQPS: TLS 1.2+, the broker's name checked, its certificate chained to the configured CA (or the
    /// system's roots), and a client certificate read from its files at each connection.</summary>
    public static void ConfigureTls(IRabbitMqSslConfigurator ssl, RabbitMqOptions rabbit)
    {
        var tls = rabbit.Tls;
        ssl.Protocol = SslProtocols.Tls12 | SslProtocols.Tls13;
        ssl.ServerName = string.IsNullOrWhiteSpace(tls.ServerName) ? rabbit.Host : tls.ServerName;
        if (!string.IsNullOrWhiteSpace(tls.CaPath))
        {
            var authorities = PemCertificates.LoadAuthorities(tls.CaPath);
            ssl.CertificateValidationCallback = (_, certificate, chain, errors) => PemCertificates.IsTrusted(certificate, chain, errors, authorities);
        }
        if (!string.IsNullOrWhiteSpace(tls.ClientCertificatePath))
        {
            ssl.CertificateSelectionCallback = (_, _, _, _, _) => PemCertificates.Load(tls.ClientCertificatePath, tls.ClientKeyPath).Certificate;
        }
    }
}
