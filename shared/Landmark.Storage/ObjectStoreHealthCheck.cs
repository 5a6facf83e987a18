using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Landmark.Storage;

/// <summary>
/// Readiness of the configured <see cref="IObjectStore"/>: healthy when, within <see cref="Timeout"/>, the bucket
/// <see cref="StorageOptions.HealthCheckBucket"/> exists and answers a listing of one object and a stat (for S3 these
/// are round trips that also check the credentials); unhealthy with the error otherwise. Registered by
/// <see cref="ObjectStoreServiceCollectionExtensions.AddObjectStore"/> as <see cref="Name"/> with tag <see cref="ReadyTag"/>.
/// </summary>
public sealed class ObjectStoreHealthCheck(IObjectStore store, IOptions<StorageOptions> options, ILogger<ObjectStoreHealthCheck> logger) : IHealthCheck
{
    /// <summary>Registration name.</summary>
    public const string Name = "object-store";

    /// <summary>Tag of readiness checks (the platform's <c>/readyz</c> runs checks with this tag).</summary>
    public const string ReadyTag = "ready";

    /// <summary>Key that is stat-ed; it need not exist.</summary>
    public const string ProbeKey = ".health/probe";

    /// <summary>Longest the check waits for the store.</summary>
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var provider = options.Value.Provider;
        var bucket = options.Value.HealthCheckBucket;
        var data = new Dictionary<string, object> { ["provider"] = provider.ToString(), ["bucket"] = bucket };
        var failure = context.Registration?.FailureStatus ?? HealthStatus.Unhealthy;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            var exists = store switch
            {
                S3ObjectStore s3 => await s3.BucketExistsAsync(bucket, timeout.Token).WaitAsync(timeout.Token),
                LocalDiskObjectStore local => await local.BucketExistsAsync(bucket, timeout.Token),
                _ => true,
            };
            if (!exists)
            {
                return new HealthCheckResult(failure, $"{provider} store answers but bucket '{bucket}' does not exist.", data: data);
            }
            await foreach (var _ in store.ListAsync(bucket, "", timeout.Token).WithCancellation(timeout.Token))
            {
                break;
            }
            await store.StatAsync(bucket, ProbeKey, timeout.Token).WaitAsync(timeout.Token);
            return HealthCheckResult.Healthy($"{provider} store answers (bucket '{bucket}').", data);
        }
        catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(e, "Object store ({Provider}) health check failed", provider);
            var reason = e is OperationCanceledException ? $"no answer within {Timeout.TotalSeconds:0} s" : e.Message;
            return new HealthCheckResult(failure, $"{provider} store does not answer: {reason}", e, data);
        }
    }
}
