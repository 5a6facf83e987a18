using Grpc.AspNetCore.Server;
using Grpc.Core;
using Landmark.Contracts.Api;
using Grpc.Core.Interceptors;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// Deny by default: when <see cref="AuthOptions.Required"/> is set, every call needs a key (header <c>x-api-key</c>)
/// that holds the scope <see cref="MethodAccessPolicy"/> names for the method, except gRPC health and (when
/// <see cref="AuthOptions.ReflectionIsOpen"/>) reflection. The method is the one routing chose — read from the
/// endpoint's <see cref="GrpcMethodMetadata"/>, not from the request path, which routing matches case-insensitively.
/// A call whose endpoint carries no gRPC method metadata is refused.
/// </summary>
public sealed class ApiKeyInterceptor(IOptionsMonitor<AuthOptions> options, ApiKeyRing keys, IHostEnvironment environment) : Interceptor
{
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
        if (!current.Required)
        {
            return;
        }
        var method = context.GetHttpContext().GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method
            ?? throw ApiErrors.Create(StatusCode.PermissionDenied, ErrorReasons.ScopeMissing, "Unknown method.");
        var access = MethodAccessPolicy.For(method.ServiceName, method.FullName);
        if (access.Kind == AccessKind.Open ||
            (access.Kind == AccessKind.Reflection && current.ReflectionIsOpen(environment.IsDevelopment())))
        {
            return;
        }
        var presented = context.RequestHeaders.GetValue(AuthOptions.ApiKeyHeader);
        if (string.IsNullOrEmpty(presented))
        {
            throw ApiErrors.Create(StatusCode.Unauthenticated, ErrorReasons.ApiKeyMissing, $"Missing API key: send it in the '{AuthOptions.ApiKeyHeader}' header.",
                new Dictionary<string, string> { ["header"] = AuthOptions.ApiKeyHeader });
        }
        var scopes = keys.Find(presented)
            ?? throw ApiErrors.Create(StatusCode.Unauthenticated, ErrorReasons.ApiKeyInvalid, "Invalid API key.");
        if (access.Kind == AccessKind.Scoped && !scopes.Contains(access.Scope!))
        {
            throw ApiErrors.Create(StatusCode.PermissionDenied, ErrorReasons.ScopeMissing, $"This API key lacks the '{access.Scope}' scope that {method.FullName} needs.",
                new Dictionary<string, string> { ["scope"] = access.Scope!, ["method"] = method.FullName });
        }
    }
}
