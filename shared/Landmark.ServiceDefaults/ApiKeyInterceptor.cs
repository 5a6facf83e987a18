using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// Rejects calls to the public API (<c>landmark.v1.*</c>) without a valid API key when
/// <see cref="AuthOptions.Required"/> is set. Health, reflection and internal services are not guarded here
/// (internal traffic is confined by NetworkPolicies).
/// </summary>
public sealed class ApiKeyInterceptor(IOptionsMonitor<AuthOptions> options) : Interceptor
{
    private const string PublicApiPrefix = "/landmark.v1.";

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authorize(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authorize(ServerCallContext context)
    {
        var current = options.CurrentValue;
        if (!current.Required || !context.Method.StartsWith(PublicApiPrefix, StringComparison.Ordinal))
        {
            return;
        }
        var presented = context.RequestHeaders.GetValue(AuthOptions.ApiKeyHeader);
        if (string.IsNullOrEmpty(presented))
        {
            throw new RpcException(new Status(StatusCode.Unauthenticated, $"Missing API key: send it in the '{AuthOptions.ApiKeyHeader}' header."));
        }
        var presentedBytes = Encoding.UTF8.GetBytes(presented);
        foreach (var key in current.ApiKeys)
        {
            if (CryptographicOperations.FixedTimeEquals(presentedBytes, Encoding.UTF8.GetBytes(key)))
            {
                return;
            }
        }
        throw new RpcException(new Status(StatusCode.Unauthenticated, "Invalid API key."));
    }
}
