using System.Globalization;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace Landmark.ServiceDefaults;

/// <summary>
/// The API key check ahead of gRPC, from the headers alone: a gRPC call (content type <c>application/grpc</c>) routed to
/// a gRPC method without a valid key for it is answered at once with the status of <see cref="ApiKeyAuthorizer"/>, and
/// its body is never read (gRPC itself buffers a unary request — up to the message cap — before any interceptor runs).
/// Calls without gRPC method metadata (unknown paths: gRPC answers UNIMPLEMENTED) and JSON/HTTP calls pass on to
/// <see cref="ApiKeyInterceptor"/>.
/// </summary>
public sealed class ApiKeyMiddleware(RequestDelegate next, ApiKeyAuthorizer authorizer)
{
    public Task InvokeAsync(HttpContext context)
    {
        var endpoint = context.GetEndpoint();
        if (GrpcResponses.IsGrpc(context.Request) && endpoint?.Metadata.GetMetadata<GrpcMethodMetadata>() is not null &&
            authorizer.Check(endpoint, context.Request.Headers[AuthOptions.ApiKeyHeader]) is { } denied)
        {
            return GrpcResponses.WriteStatusAsync(context, denied);
        }
        return next(context);
    }
}

/// <summary>gRPC answers written outside gRPC's own handlers (by middleware).</summary>
public static class GrpcResponses
{
    public const string ContentType = "application/grpc";

    /// <summary>Whether the request is a gRPC call (<c>application/grpc</c>, <c>application/grpc+proto</c>, ...).</summary>
    public static bool IsGrpc(HttpRequest request) =>
        request.ContentType is { } type && type.StartsWith(ContentType, StringComparison.OrdinalIgnoreCase);

    /// <summary>A trailers-only gRPC response (HTTP 200, <c>grpc-status</c> and <c>grpc-message</c> in the headers, no
    /// body), as gRPC sends for a call that fails before any message. The request body is left unread.</summary>
    public static Task WriteStatusAsync(HttpContext context, Status status)
    {
        var response = context.Response;
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = ContentType;
        response.Headers["grpc-status"] = ((int)status.StatusCode).ToString(CultureInfo.InvariantCulture);
        response.Headers["grpc-message"] = Uri.EscapeDataString(status.Detail);
        return response.CompleteAsync();
    }

    /// <summary>As <see cref="WriteStatusAsync(HttpContext, Status)"/>, with the error's trailers (its
    /// <c>grpc-status-details-bin</c>) in the headers.</summary>
    public static Task WriteStatusAsync(HttpContext context, RpcException error)
    {
        foreach (var entry in error.Trailers)
        {
            context.Response.Headers[entry.Key] = entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes).TrimEnd('=') : entry.Value;
        }
        return WriteStatusAsync(context, error.Status);
    }
}
