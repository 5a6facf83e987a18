using Grpc.AspNetCore.Server;
using Grpc.Core;
using Landmark.Contracts.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// Deny by default: when <see cref="AuthOptions.Required"/> is set, every call needs a key (header <c>x-api-key</c>)
/// that holds the scope <see cref="MethodAccessPolicy"/> names for the method, except gRPC health and (when
/// <see cref="AuthOptions.ReflectionIsOpen"/>) reflection. The method is the one routing chose — read from the
/// endpoint's <see cref="GrpcMethodMetadata"/>, not from the request path, which routing matches case-insensitively.
/// A call whose endpoint carries no gRPC method metadata is refused. Used from the headers alone by
/// <see cref="ApiKeyMiddleware"/> (before the body is read) and again by <see cref="ApiKeyInterceptor"/>.
/// </summary>
public sealed class ApiKeyAuthorizer(IOptionsMonitor<AuthOptions> options, ApiKeyRing keys, IHostEnvironment environment)
{
    /// <summary>Null when the call may proceed, else the error that refuses it (a <c>google.rpc.Status</c> with an
    /// <c>ErrorInfo</c> reason).</summary>
    public RpcException? Check(Endpoint? endpoint, string? presentedKey)
    {
        var current = options.CurrentValue;
        if (!current.Required)
        {
            return null;
        }
        var method = endpoint?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method;
        if (method is null)
        {
            return ApiErrors.Create(StatusCode.PermissionDenied, ErrorReasons.ScopeMissing, "Unknown method.");
        }
        var access = MethodAccessPolicy.For(method.ServiceName, method.FullName);
        if (access.Kind == AccessKind.Open ||
            (access.Kind == AccessKind.Reflection && current.ReflectionIsOpen(environment.IsDevelopment())))
        {
            return null;
        }
        if (string.IsNullOrEmpty(presentedKey))
        {
            return ApiErrors.Create(StatusCode.Unauthenticated, ErrorReasons.ApiKeyMissing, $"Missing API key: send it in the '{AuthOptions.ApiKeyHeader}' header.",
                new Dictionary<string, string> { ["header"] = AuthOptions.ApiKeyHeader });
        }
        var scopes = keys.Find(presentedKey);
        if (scopes is null)
        {
            return ApiErrors.Create(StatusCode.Unauthenticated, ErrorReasons.ApiKeyInvalid, "Invalid API key.");
        }
        if (access.Kind == AccessKind.Scoped && !scopes.Contains(access.Scope!))
        {
            return ApiErrors.Create(StatusCode.PermissionDenied, ErrorReasons.ScopeMissing, $"This API key lacks the '{access.Scope}' scope that {method.FullName} needs.",
                new Dictionary<string, string> { ["scope"] = access.Scope!, ["method"] = method.FullName });
        }
        return null;
    }
}
