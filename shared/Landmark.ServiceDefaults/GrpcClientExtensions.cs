using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Landmark.ServiceDefaults;

/// <summary>Typed gRPC clients for calls between services: address from <see cref="ServiceEndpointsOptions"/>,
/// retries of UNAVAILABLE calls (gRPC's own retry policy, safe for streaming), a Polly circuit breaker.</summary>
public static class GrpcClientExtensions
{
    public static IHttpClientBuilder AddInternalGrpcClient<TClient>(this IServiceCollection services,
        Func<ServiceEndpointsOptions, string> address)
        where TClient : class
    {
        var builder = services
            .AddGrpcClient<TClient>((sp, o) =>
                o.Address = new Uri(address(sp.GetRequiredService<IOptions<ServiceEndpointsOptions>>().Value)))
            .ConfigureChannel(channel =>
            {
                channel.MaxReceiveMessageSize = 64 * 1024 * 1024;
                channel.MaxSendMessageSize = 64 * 1024 * 1024;
                channel.ServiceConfig = new ServiceConfig
                {
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
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
                KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
            });
        services.TryAddSingleton<ApiKeyRing>();
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
