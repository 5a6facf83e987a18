using System.Diagnostics.Metrics;
using Landmark.Contracts.Messages;
using MassTransit;

namespace Landmark.Retrieval;

/// <summary>Adds embedded images to the gallery index in batches (queue <see cref="QueueNames.Index"/>).
/// Idempotent: points are keyed by content hash, so a redelivered batch replaces the same points.</summary>
public sealed class IndexConsumer(GalleryIndex gallery) : IConsumer<Batch<ImageEmbedded>>
{
    private static readonly Meter Meter = new("Landmark.Retrieval");
    private static readonly Counter<long> Indexed = Meter.CreateCounter<long>("landmark.retrieval.indexed");

    public async Task Consume(ConsumeContext<Batch<ImageEmbedded>> context)
    {
        foreach (var group in context.Message.Select(m => m.Message).GroupBy(m => m.ModelVersion))
        {
            // Last write wins for an image that appears twice in one batch.
            var images = group.GroupBy(m => m.ImageId).Select(g => g.Last()).ToList();
            var collection = await gallery.UpsertAsync(group.Key, images, context.CancellationToken);
            foreach (var image in images)
            {
                await context.Publish(new ImageIndexed(image.ImageId, group.Key, collection), context.CancellationToken);
            }
            Indexed.Add(images.Count);
        }
    }
}
