using Microsoft.Extensions.Options;

namespace Landmark.Ingest;

/// <summary>Loads the catalog at start-up and resumes images whose pipeline never finished.</summary>
public sealed class CatalogStartup(ImageCatalog catalog, IServiceScopeFactory scopes, IOptions<IngestOptions> options,
    ILogger<CatalogStartup> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await catalog.LoadAsync(stoppingToken);
        if (!options.Value.ResumePendingOnStart)
        {
            return;
        }
        var pending = catalog.All.Where(r => !r.IsTerminal).ToList();
        if (pending.Count == 0)
        {
            return;
        }
        logger.LogInformation("Resuming {Count} images whose pipeline had not finished", pending.Count);
        using var scope = scopes.CreateScope();
        var ingestor = scope.ServiceProvider.GetRequiredService<ImageIngestor>();
        foreach (var record in pending)
        {
            await ingestor.PublishAsync(record, stoppingToken);
        }
    }
}
