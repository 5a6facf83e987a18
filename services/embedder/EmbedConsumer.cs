using System.Diagnostics.Metrics;
using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Storage;
using MassTransit;

namespace Landmark.Embedder;

/// <summary>Embeds preprocessed gallery images (queue <see cref="QueueNames.Embed"/>) and publishes <see cref="ImageEmbedded"/>.
/// Messages are consumed concurrently and meet in the <see cref="BatchingEmbedder"/>, which runs the model on batches.
/// (Not a MassTransit batch consumer: a failing batch of one is not moved to the error queue — MassTransit issue 3542.)
/// Idempotent: embedding the same variant again yields the same vector.</summary>
public sealed class EmbedConsumer(IObjectStore store, BatchingEmbedder embedder, ModelHost models, ILogger<EmbedConsumer> logger)
    : IConsumer<ImagePreprocessed>
{
    public const string Stage = "embed";

    private static readonly Meter Meter = new("Landmark.Embedder.Gallery");
    private static readonly Counter<long> Embedded = Meter.CreateCounter<long>("landmark.embedder.gallery_images");

    public async Task Consume(ConsumeContext<ImagePreprocessed> context)
    {
        await models.Ready;
        var m = context.Message;
        var ct = context.CancellationToken;
        var variant = VariantSpec.ChooseEmbed(m.Variants, v => v.Name, v => (long)v.Width * v.Height)
            ?? throw new InvalidOperationException($"image {m.ImageId} arrived without a stored variant");
        var bytes = await store.GetBytesAsync(Buckets.Variants, variant.ObjectKey, ct);
        try
        {
            var (vector, version) = await embedder.EmbedWithVersionAsync(bytes, ct, EmbedPriority.Bulk);
            await context.Publish(new ImageEmbedded(m.ImageId, m.Role, m.LandmarkId, m.FileName, m.ExternalId, version, vector), ct);
            Embedded.Add(1);
        }
        catch (ImageRejectedException error)
        {
            logger.LogWarning("Variant of {ImageId} cannot be embedded: {Reason}", m.ImageId, error.Message);
            await context.Publish(new ImageRejected(m.ImageId, Stage, error.Code, error.Reason), ct);
        }
    }
}
