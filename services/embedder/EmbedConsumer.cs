using System.Diagnostics.Metrics;
using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Storage;
using MassTransit;

namespace Landmark.Embedder;

/// <summary>Embeds preprocessed gallery images in batches (queue <see cref="QueueNames.Embed"/>) and publishes
/// <see cref="ImageEmbedded"/>. Idempotent: embedding the same variant again yields the same vector.</summary>
public sealed class EmbedConsumer(IObjectStore store, BatchingEmbedder embedder, ModelHost models, ILogger<EmbedConsumer> logger)
    : IConsumer<Batch<ImagePreprocessed>>
{
    public const string Stage = "embed";
    public const string EmbedVariant = "embed";

    private static readonly Meter Meter = new("Landmark.Embedder.Gallery");
    private static readonly Counter<long> Embedded = Meter.CreateCounter<long>("landmark.embedder.gallery_images");

    public async Task Consume(ConsumeContext<Batch<ImagePreprocessed>> context)
    {
        await models.Ready;
        var ct = context.CancellationToken;
        var messages = context.Message.Select(m => m.Message).DistinctBy(m => m.ImageId).ToList();
        var embeddings = await Task.WhenAll(messages.Select(async m =>
        {
            var variant = m.Variants.FirstOrDefault(v => v.Name == EmbedVariant) ?? m.Variants.OrderByDescending(v => v.Width * v.Height).First();
            var bytes = await store.GetBytesAsync(Buckets.Variants, variant.ObjectKey, ct);
            try
            {
                var (vector, version) = await embedder.EmbedWithVersionAsync(bytes, ct);
                return (Message: m, Vector: vector, Version: version, Error: (ImageRejectedException?)null);
            }
            catch (ImageRejectedException ex)
            {
                return (Message: m, Vector: Array.Empty<float>(), Version: "", Error: ex);
            }
        }));

        foreach (var e in embeddings)
        {
            if (e.Error is { } error)
            {
                logger.LogWarning("Variant of {ImageId} cannot be embedded: {Reason}", e.Message.ImageId, error.Message);
                await context.Publish(new ImageRejected(e.Message.ImageId, Stage, error.Code, error.Reason), ct);
                continue;
            }
            var m = e.Message;
            await context.Publish(new ImageEmbedded(m.ImageId, m.Role, m.LandmarkId, m.FileName, m.ExternalId, e.Version, e.Vector), ct);
        }
        Embedded.Add(embeddings.Length);
    }
}
