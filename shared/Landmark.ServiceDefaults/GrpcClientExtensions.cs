using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Landmark.ServiceDefaults;

/// <summary>Typed gRPC clients for calls between services: address from <see cref="ServiceEndpointsOptions"/>,
/// retries of UNAVAILABLE calls (gRPC's own retry policy, safe for streaming), a Polly circuit breaker, and client-side
/// round-robin over every replica the address resolves to:
/// <list type="bullet">
/// <item><c>http://host:port</c> — one address (behind a Kubernetes ClusterIP Service, one connection lands on one pod);</item>
/// <item><c>dns:///host:port</c> — every A/AAAA record of the name (a headless Service: one per ready pod), re-resolved
/// every <see cref="DnsRefresh"/> and on connection failures, calls spread round-robin;</item>
/// <item><c>static:///host1:port1,host2:port2</c> — a fixed list of replicas (hosts without Kubernetes).</item>
/// </list></summary>
public static class GrpcClientExtensions
{
    /// <summary>How often <c>dns:///</c> addresses are re-resolved, so new replicas receive calls.</summary>
    public static readonly TimeSpan DnsRefresh = TimeSpan.FromSeconds(15);

    public static IHttpClientBuilder AddInternalGrpcClient<TClient>(this IServiceCollection services,
        Func<ServiceEndpointsOptions, string> address)
        where TClient : class
    {
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ResolverFactory>(new DnsResolverFactory(DnsRefresh)));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<ResolverFactory>(new StaticResolverFactory(StaticReplicas)));
        var builder = services
            .AddGrpcClient<TClient>((sp, o) =>
                o.Address = new Uri(address(sp.GetRequiredService<IOptions<ServiceEndpointsOptions>>().Value)))
            .ConfigureChannel((sp, channel) =>
            {
                var target = new Uri(address(sp.GetRequiredService<IOptions<ServiceEndpointsOptions>>().Value));
                if (target.Scheme is "dns" or "static")
                {
                    // Resolver schemes say nothing of TLS: it follows Landmark:Tls (h2c without it, as with http://).
                    channel.Credentials = sp.GetRequiredService<IOptions<TlsOptions>>().Value.Enabled
                        ? ChannelCredentials.SecureSsl
                        : ChannelCredentials.Insecure;
                }
                var limit = sp.GetRequiredService<IOptions<HostingOptions>>().Value.MaxInternalMessageBytes;
                channel.MaxReceiveMessageSize = limit;
                channel.MaxSendMessageSize = limit;
                channel.ServiceConfig = new ServiceConfig
                {
                    LoadBalancingConfigs = { new RoundRobinConfig() },
                    MethodConfigs =
                    {
                        new MethodConfig
                        {
                            Names = { MethodName.Default },
                            RetryPolicy = new RetryPolicy
                            {
                                MaxAttempts = 5,
                                InitialBackoff = TimeSpan.FromMilliseconds(200),
                                MaxBackoff = TimeSpan.FromSeconds(3),
                                BackoffMultiplier = 2,
                                RetryableStatusCodes = { StatusCode.Unavailable },
                            },
                        },
                    },
                };
            })
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var handler = new SocketsHttpHandler
                {
                    EnableMultipleHttp2Connections = true,
                    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                    KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                    KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
                };
                var tls = sp.GetRequiredService<IOptions<TlsOptions>>().Value;
                if (tls.ClientCertificateFiles() is not null || !string.IsNullOrWhiteSpace(tls.CaPath))
                {
                    // mTLS: present the platform's client certificate; trust the configured CA for the services' ones.
                    sp.GetRequiredService<TlsCertificates>().ConfigureClient(handler.SslOptions);
                }
                return handler;
            });
        services.TryAddSingleton<ApiKeyRing>();
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<TlsCertificates>();
        services.AddTransient<InternalApiKeyHandler>();
        builder.AddHttpMessageHandler<InternalApiKeyHandler>();
        builder.AddResilienceHandler("circuit-breaker", pipeline =>
            pipeline.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = 0.5,
                MinimumThroughput = 20,
                SamplingDuration = TimeSpan.FromSeconds(30),
                BreakDuration = TimeSpan.FromSeconds(5),
            }));
        return builder;
    }

    /// <summary>The replicas of a <c>static:///host1:port1,host2:port2</c> address.</summary>
    public static IReadOnlyList<BalancerAddress> StaticReplicas(Uri address)
    {
        var replicas = new List<BalancerAddress>();
        foreach (var entry in address.AbsolutePath.Trim('/').Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = entry.LastIndexOf(':');
            if (colon <= 0 || !int.TryParse(entry[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            {
                throw new FormatException($"'{entry}' in '{address}' is not host:port.");
            }
            replicas.Add(new BalancerAddress(entry[..colon], port));
        }
        return replicas.Count > 0 ? replicas : throw new FormatException($"'{address}' names no replicas (static:///host1:port1,host2:port2).");
    }

    /// <summary>Call options with the configured deadline.</summary>
    public static CallOptions Deadline(this ServiceEndpointsOptions options, CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow.AddSeconds(options.CallTimeoutSeconds), cancellationToken: cancellationToken);
}

/// <summary>The platform's own gRPC clients present its internal credential (<see cref="ApiKeyRing.InternalKey"/>:
/// the first of <see cref="AuthOptions.InternalKeys"/>, or the key generated for the embedded platform), which the
/// internal services (<c>landmark.internal.v1.*</c>) require and the public ones accept.</summary>
public sealed class InternalApiKeyHandler(ApiKeyRing keys) : DelegatingHandler
{
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (keys.InternalKey is { } key && !request.Headers.Contains(AuthOptions.ApiKeyHeader))
        {
            request.Headers.TryAddWithoutValidation(AuthOptions.ApiKeyHeader, key);
        }
        return base.SendAsync(request, cancellationToken);
    }
}
