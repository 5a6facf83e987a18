using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Landmark.VectorIndex;

/// <summary>
/// Readiness of the configured <see cref="IVectorIndex"/>: healthy when it lists its collections within
/// <see cref="Timeout"/> (for Qdrant this is a gRPC round trip to the server, retries included), unhealthy with the error otherwise.
/// Registered by <see cref="VectorIndexServiceCollectionExtensions.AddVectorIndex"/> as <see cref="Name"/> with tag <see cref="ReadyTag"/>.
/// </summary>
public sealed class VectorIndexHealthCheck(IVectorIndex index, IOptions<VectorIndexOptions> options, ILogger<VectorIndexHealthCheck> logger) : IHealthCheck
{
    /// <summary>Registration name.</summary>
    public const string Name = "vector-index";

    /// <summary>Tag of readiness checks (the platform's <c>/readyz</c> runs checks with this tag).</summary>
    public const string ReadyTag = "ready";

    /// <summary>Longest the check waits for the index.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var provider = options.Value.Provider;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            var collections = await index.ListCollectionsAsync(timeout.Token).WaitAsync(timeout.Token);
            return HealthCheckResult.Healthy($"{provider} index answers ({collections.Count} collections).",
                new Dictionary<string, object> { ["provider"] = provider.ToString(), ["collections"] = collections.Count });
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "Vector index ({Provider}) health check failed", provider);
            return new HealthCheckResult(context.Registration?.FailureStatus ?? HealthStatus.Unhealthy,
                $"{provider} index does not answer: {e.Message}", e, new Dictionary<string, object> { ["provider"] = provider.ToString() });
        }
    }
}
