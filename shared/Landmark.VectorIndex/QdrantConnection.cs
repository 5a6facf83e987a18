using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.Logging;
using Qdrant.Client;
using Qdrant.Client.Grpc;

namespace Landmark.VectorIndex;

/// <summary>
/// The gRPC connection to Qdrant that <see cref="VectorIndexServiceCollectionExtensions.AddVectorIndex"/> registers: one
/// long-lived <see cref="GrpcChannel"/> to <see cref="QdrantOptions.Url"/> (HTTP/2, keep-alive pings, several connections
/// under load) that sends <see cref="QdrantOptions.ApiKey"/> as <c>api-key</c> metadata and retries calls answered
/// <c>UNAVAILABLE</c> up to <see cref="QdrantOptions.MaxAttempts"/> times with exponential back-off, and the official
/// <see cref="QdrantClient"/> over it with a deadline of <see cref="QdrantOptions.TimeoutSeconds"/> per call.
/// Disposing it closes the channel.
/// </summary>
public sealed class QdrantConnection : IDisposable
{
    /// <summary>Metadata key carrying <see cref="QdrantOptions.ApiKey"/> (what Qdrant expects).</summary>
    public const string ApiKeyHeader = "api-key";

    public QdrantConnection(QdrantOptions options, ILoggerFactory? loggerFactory = null)
        : this(options, loggerFactory, handler: null)
    {
    }

    /// <summary>As the public constructor; <paramref name="handler"/> replaces the HTTP/2 handler (tests answer calls with it).</summary>
    internal QdrantConnection(QdrantOptions options, ILoggerFactory? loggerFactory, HttpMessageHandler? handler)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.TryGetEndpoint(out var endpoint))
        {
            throw new ArgumentException($"Qdrant URL '{options.Url}' is not an absolute http(s) URL.", nameof(options));
        }
        Endpoint = endpoint;
        var channelOptions = new GrpcChannelOptions
        {
            HttpHandler = handler ?? new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                KeepAlivePingDelay = TimeSpan.FromSeconds(60),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
                PooledConnectionIdleTimeout = System.Threading.Timeout.InfiniteTimeSpan,
            },
            ThrowOperationCanceledOnCancellation = true,
            LoggerFactory = loggerFactory,
            MaxRetryAttempts = options.MaxAttempts,
        };
        if (options.MaxAttempts > 1)
        {
            channelOptions.ServiceConfig = new ServiceConfig
            {
                MethodConfigs =
                {
                    new MethodConfig
                    {
                        Names = { MethodName.Default },
                        RetryPolicy = new RetryPolicy
                        {
                            MaxAttempts = options.MaxAttempts,
                            InitialBackoff = TimeSpan.FromMilliseconds(200),
                            MaxBackoff = TimeSpan.FromSeconds(2),
                            BackoffMultiplier = 2,
                            RetryableStatusCodes = { StatusCode.Unavailable },
                        },
                    },
                },
            };
        }
        Channel = GrpcChannel.ForAddress(endpoint, channelOptions);
        var apiKey = string.IsNullOrEmpty(options.ApiKey) ? null : options.ApiKey;
        var invoker = Channel.Intercept(metadata =>
        {
            if (apiKey is not null)
            {
                metadata.Add(ApiKeyHeader, apiKey);
            }
            return metadata;
        });
        Client = new QdrantClient(new QdrantGrpcClient(invoker), TimeSpan.FromSeconds(options.TimeoutSeconds), loggerFactory);
    }

    /// <summary>The address the channel connects to (scheme, host, gRPC port).</summary>
    public Uri Endpoint { get; }

    public GrpcChannel Channel { get; }

    public QdrantClient Client { get; }

    public void Dispose()
    {
        Client.Dispose();
        Channel.Dispose();
    }
}
