using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Landmark.Storage;

/// <summary>Creates every platform bucket at start-up (idempotent), retrying while the store is unreachable, so
/// that no write ever meets a missing bucket. Start-up waits for it.</summary>
public sealed class BucketInitializer(IObjectStore store, ILogger<BucketInitializer> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                foreach (var bucket in Buckets.All)
                {
                    await store.EnsureBucketAsync(bucket, cancellationToken);
                }
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && attempt < 30)
            {
                logger.LogWarning(ex, "Object store not ready (attempt {Attempt}); retrying", attempt);
                await Task.Delay(TimeSpan.FromSeconds(Math.Min(10, attempt)), cancellationToken);
            }
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
