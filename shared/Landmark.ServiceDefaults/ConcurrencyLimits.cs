using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Threading.RateLimiting;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Landmark.ServiceDefaults;

/// <summary>
/// How many gRPC calls a host runs at once, bound from <c>Landmark:Concurrency</c> (ASP.NET Core's concurrency
/// limiter). Calls past <see cref="PermitLimit"/> wait in a queue of <see cref="QueueLimit"/> (oldest first); past that
/// they are refused at once with <c>RESOURCE_EXHAUSTED</c> (HTTP 429 for JSON/HTTP calls), before their body is read.
/// The platform's own calls between services (those presenting an internal key) have limits of their own, so that
/// public calls waiting on them can never starve them. gRPC health and the HTTP endpoints (<c>/healthz</c>,
/// <c>/readyz</c>, <c>/metrics</c>) are never limited.
/// </summary>
public sealed class ConcurrencyOptions
{
    public const string SectionName = "Landmark:Concurrency";

    /// <summary>Limit calls at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Public calls running at once (a long stream, such as WatchTraining, holds one for its life).</summary>
    [Range(1, 1_000_000)]
    public int PermitLimit { get; set; } = 64;

    /// <summary>Public calls waiting for a permit; beyond it calls are refused.</summary>
    [Range(0, 1_000_000)]
    public int QueueLimit { get; set; } = 128;

    /// <summary>Calls between the platform's services running at once.</summary>
    [Range(1, 1_000_000)]
    public int InternalPermitLimit { get; set; } = 256;

    /// <summary>Calls between the platform's services waiting for a permit.</summary>
    [Range(0, 1_000_000)]
    public int InternalQueueLimit { get; set; } = 512;
}

/// <summary>The per-host concurrency limiter of <see cref="ConcurrencyOptions"/>.</summary>
public static class ConcurrencyLimits
{
    private const string Exempt = "exempt";
    private const string Public = "public";
    private const string Internal = "internal";

    public static IServiceCollection AddConcurrencyLimits(this IServiceCollection services)
    {
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            o.OnRejected = (context, _) => RejectAsync(context.HttpContext);
        });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<ConcurrencyOptions>, ApiKeyRing>((o, limits, keys) =>
        {
            var options = limits.Value;
            if (options.Enabled)
            {
                o.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context => Partition(context, options, keys));
            }
        });
        return services;
    }

    /// <summary>Which limiter a request waits on: none for health and non-gRPC endpoints, the internal one for calls
    /// with an internal key, the public one otherwise.</summary>
    private static RateLimitPartition<string> Partition(HttpContext context, ConcurrencyOptions options, ApiKeyRing keys)
    {
        var method = context.GetEndpoint()?.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method;
        if (method is null || string.Equals(method.ServiceName, MethodAccessPolicy.HealthService, StringComparison.Ordinal))
        {
            return RateLimitPartition.GetNoLimiter(Exempt);
        }
        var key = context.Request.Headers[AuthOptions.ApiKeyHeader].ToString();
        var isInternal = key.Length > 0 && keys.Find(key) is { } scopes && scopes.Contains(ApiScopes.Internal);
        return isInternal
            ? RateLimitPartition.GetConcurrencyLimiter(Internal, _ => Limiter(options.InternalPermitLimit, options.InternalQueueLimit))
            : RateLimitPartition.GetConcurrencyLimiter(Public, _ => Limiter(options.PermitLimit, options.QueueLimit));
    }

    private static ConcurrencyLimiterOptions Limiter(int permits, int queue) => new()
    {
        PermitLimit = permits,
        QueueLimit = queue,
        QueueProcessingOrder = QueueProcessingOrder.OldestFirst,
    };

    private static async ValueTask RejectAsync(HttpContext context)
    {
        var limits = context.RequestServices.GetRequiredService<IOptions<ConcurrencyOptions>>().Value;
        var message = string.Create(CultureInfo.InvariantCulture,
            $"The server is at its concurrency limit ({ConcurrencyOptions.SectionName}: {limits.PermitLimit} public calls running, {limits.QueueLimit} queued); retry with back-off.");
        if (GrpcResponses.IsGrpc(context.Request))
        {
            await GrpcResponses.WriteStatusAsync(context, new Status(StatusCode.ResourceExhausted, message));
            return;
        }
        context.Response.ContentType = "text/plain; charset=utf-8";
        await context.Response.WriteAsync(message, context.RequestAborted);
    }
}
