using System.Diagnostics.Metrics;
using System.Text.Json;
using Landmark.Contracts.Messages;
using Landmark.Embedding;
using Landmark.Imaging;
using Landmark.Storage;
using MassTransit;

namespace Landmark.Embedder;

/// <summary>Re-embeds a gallery image with the model named in the message (queue <see cref="QueueNames.Reembed"/>):
/// the model being rolled out, loaded beside the live one. Reads the image's stored variant manifest and its
/// <c>embed</c> variant, and publishes <see cref="ImageEmbedded"/> for that model, which retrieval adds to the model's
/// own collection without touching the live alias. An image whose variant is gone or unusable is reported with
/// <see cref="GalleryReembedFailed"/> so that the roll-out does not wait for it. Idempotent.</summary>
public sealed class ReembedConsumer(IObjectStore store, ModelHost models, ILogger<ReembedConsumer> logger) : IConsumer<GalleryReembedRequested>
{
    private static readonly Meter Meter = new("Landmark.Embedder.Rollout");
    private static readonly Counter<long> Reembedded = Meter.CreateCounter<long>("landmark.embedder.reembedded_images");

    public async Task Consume(ConsumeContext<GalleryReembedRequested> context)
    {
        var m = context.Message;
        var ct = context.CancellationToken;
        var manifestBytes = await store.TryGetBytesAsync(Buckets.Variants, VariantManifest.ObjectKeyFor(m.ImageId), ct);
        var manifest = manifestBytes is null ? null : JsonSerializer.Deserialize<VariantManifest>(manifestBytes);
        var variant = manifest is null ? null : VariantSpec.ChooseEmbed(manifest.Variants, v => v.Name, v => (long)v.Width * v.Height);
        var bytes = variant is null ? null : await store.TryGetBytesAsync(Buckets.Variants, variant.ObjectKey, ct);
        if (bytes is null)
        {
            await FailAsync(context, "missing_variant", $"no stored variant for image '{m.ImageId}'");
            return;
        }

        var embedder = await models.GetEmbedderAsync(m.ModelVersion, ct);
        float[] vector;
        string version;
        try
        {
            (vector, version) = await embedder.EmbedWithVersionAsync(bytes, ct, EmbedPriority.Bulk);
        }
        catch (ImageRejectedException error)
        {
            await FailAsync(context, error.Code, error.Reason);
            return;
        }
        if (version != m.ModelVersion)
        {
            // The live model switched while the shared embedder had the image; the retry embeds it with the right one.
            throw new InvalidOperationException($"image {m.ImageId} was embedded by {version}, not {m.ModelVersion}; retrying");
        }
        await context.Publish(new ImageEmbedded(m.ImageId, m.Role, m.LandmarkId, m.FileName, m.ExternalId, version, vector), ct);
        Reembedded.Add(1);
    }

    private async Task FailAsync(ConsumeContext<GalleryReembedRequested> context, string code, string reason)
    {
        var m = context.Message;
        logger.LogWarning("Image {ImageId} cannot be re-embedded with {Version}: {Code}: {Reason}", m.ImageId, m.ModelVersion, code, reason);
        await context.Publish(new GalleryReembedFailed(m.ImageId, m.ModelVersion, code, reason), context.CancellationToken);
    }
}
