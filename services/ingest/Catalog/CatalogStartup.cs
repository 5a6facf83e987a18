using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.Ingest;

/// <summary>Loads the catalog at start-up, resumes images whose pipeline never finished and a model roll-out in
/// progress, then reconciles the roll-out periodically (<see cref="IngestOptions.RolloutReconcileSeconds"/>).</summary>
public sealed class CatalogStartup(ImageCatalog catalog, CatalogRollout rollout, IServiceScopeFactory scopes, IOptions<IngestOptions> options,
    ILogger<CatalogStartup> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await catalog.LoadAsync(stoppingToken);
        var rolloutPending = await rollout.LoadAsync(stoppingToken);
        using (var scope = scopes.CreateScope())
        {
            if (options.Value.ResumePendingOnStart)
            {
                await ResumeAsync(scope.ServiceProvider, rolloutPending, stoppingToken);
            }
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.Value.RolloutReconcileSeconds));
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken))
            {
                try
                {
                    using var scope = scopes.CreateScope();
                    await rollout.ReconcileAsync(scope.ServiceProvider.GetRequiredService<IPublishEndpoint>(), stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogError(ex, "Reconciling the model roll-out failed; retrying");
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private async Task ResumeAsync(IServiceProvider services, IReadOnlyList<CatalogRecord> rolloutPending, CancellationToken stoppingToken)
    {
        var pending = (await catalog.ListAsync(stoppingToken)).Where(r => !r.IsTerminal).ToList();
        if (pending.Count > 0)
        {
            logger.LogInformation("Resuming {Count} images whose pipeline had not finished", pending.Count);
            var ingestor = services.GetRequiredService<ImageIngestor>();
            foreach (var record in pending)
            {
                await ingestor.PublishAsync(record, stoppingToken);
            }
        }
        await rollout.ResumeAsync(rolloutPending, services.GetRequiredService<IPublishEndpoint>(), stoppingToken);
    }
}
