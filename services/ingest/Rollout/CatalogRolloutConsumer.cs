using Landmark.Contracts.Messages;
using MassTransit;

namespace Landmark.Ingest;

/// <summary>Starts the gallery's re-embedding when a model is published (shared queue
/// <see cref="QueueNames.CatalogRollout"/>: one ingest replica enumerates the catalog and tracks completion).
/// Idempotent (see <see cref="RolloutTracker"/>).</summary>
public sealed class CatalogRolloutConsumer(ImageCatalog catalog, CatalogRollout rollout) : IConsumer<ModelPublished>
{
    public async Task Consume(ConsumeContext<ModelPublished> context)
    {
        await catalog.Loaded;
        await rollout.BeginAsync(context.Message.ModelVersion, context, context.CancellationToken);
    }
}

/// <summary>Roll-out events every ingest replica must see (a temporary queue per replica,
/// <see cref="QueueNames.CatalogRolloutWatch"/> plus an instance id): the target of a roll-out started elsewhere, the
/// activated model, and images that cannot be re-embedded. Idempotent.</summary>
public sealed class CatalogRolloutWatcher(ImageCatalog catalog, CatalogRollout rollout) :
    IConsumer<ModelPublished>,
    IConsumer<ModelActivated>,
    IConsumer<GalleryReembedFailed>
{
    public async Task Consume(ConsumeContext<ModelPublished> context)
    {
        await catalog.Loaded;
        await rollout.FollowAsync(context.Message.ModelVersion, context.CancellationToken);
    }

    public async Task Consume(ConsumeContext<ModelActivated> context)
    {
        await catalog.Loaded;
        await rollout.OnActivatedAsync(context.Message, context.CancellationToken);
    }

    public async Task Consume(ConsumeContext<GalleryReembedFailed> context)
    {
        await catalog.Loaded;
        await rollout.OnSkippedAsync(context.Message, context, context.CancellationToken);
    }
}
