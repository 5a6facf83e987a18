using System.Diagnostics.Metrics;
using Landmark.Contracts.Messages;
using MassTransit;

namespace Landmark.Retrieval;

/// <summary>Adds embedded images to the gallery index (queue <see cref="QueueNames.Index"/>). Idempotent: points are
/// keyed by content hash, so a redelivered message replaces the same point.</summary>
public sealed class IndexConsumer(GalleryIndex gallery) : IConsumer<ImageEmbedded>
{
    private static readonly Meter Meter = new("Landmark.Retrieval");
    private static readonly Counter<long> Indexed = Meter.CreateCounter<long>("landmark.retrieval.indexed");

    public async Task Consume(ConsumeContext<ImageEmbedded> context)
    {
        var m = context.Message;
        var collection = await gallery.UpsertAsync(m.ModelVersion, [m], context.CancellationToken);
        await context.Publish(new ImageIndexed(m.ImageId, m.ModelVersion, collection), context.CancellationToken);
        Indexed.Add(1);
    }
}
