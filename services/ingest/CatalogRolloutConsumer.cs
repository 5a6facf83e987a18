using Landmark.Contracts.Messages;
using MassTransit;

namespace Landmark.Ingest;

/// <summary>Model roll-out events for the catalog (queue <see cref="QueueNames.CatalogRollout"/>): a published model
/// starts the gallery's re-embedding, an activated one ends it, an image that cannot be re-embedded is skipped.
/// Idempotent (see <see cref="RolloutTracker"/>).</summary>
public sealed class CatalogRolloutConsumer(ImageCatalog catalog, CatalogRollout rollout) :
    IConsumer<ModelPublished>,
    IConsumer<ModelActivated>,
    IConsumer<GalleryReembedFailed>
{
    public async Task Consume(ConsumeContext<ModelPublished> context)
    {
        await catalog.Loaded;
        await rollout.BeginAsync(context.Message.ModelVersion, context, context.CancellationToken);
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
