namespace Landmark.Contracts.Messages;

/// <summary>What an image is for. Mirrors <c>landmark.v1.ImageRole</c>.</summary>
public enum GalleryRole
{
    Landmark = 1,
    NonLandmark = 2,
}

/// <summary>A stored, resized copy of an image.</summary>
/// <param name="Name">Variant name, e.g. <c>embed</c> or <c>thumb</c>.</param>
/// <param name="ObjectKey">Key in the variants bucket.</param>
public sealed record StoredVariant(string Name, string ObjectKey, int Width, int Height, long SizeBytes);

/// <summary>Raw bytes are in object storage under <paramref name="ObjectKey"/>; nothing is decoded yet.</summary>
public sealed record ImageIngested(
    string ImageId,
    string ObjectKey,
    string FileName,
    GalleryRole Role,
    string? LandmarkId,
    string? ExternalId,
    long SizeBytes,
    DateTimeOffset IngestedAt);

/// <summary>The image decoded, was oriented and resized into <paramref name="Variants"/>.</summary>
public sealed record ImagePreprocessed(
    string ImageId,
    GalleryRole Role,
    string? LandmarkId,
    string FileName,
    string? ExternalId,
    string Format,
    int Width,
    int Height,
    IReadOnlyList<StoredVariant> Variants);

/// <summary>The image cannot be used; <paramref name="Code"/> is machine-readable, <paramref name="Reason"/> for people.</summary>
public sealed record ImageRejected(string ImageId, string Stage, string Code, string Reason);

/// <summary>An embedding of the image's <c>embed</c> variant by model <paramref name="ModelVersion"/>.</summary>
public sealed record ImageEmbedded(
    string ImageId,
    GalleryRole Role,
    string? LandmarkId,
    string FileName,
    string? ExternalId,
    string ModelVersion,
    float[] Vector);

/// <summary>The image's vector is searchable in the index of <paramref name="ModelVersion"/>.</summary>
public sealed record ImageIndexed(string ImageId, string ModelVersion, string IndexVersion);

/// <summary>A model became live: embedders load it, retrieval builds the matching index.</summary>
public sealed record ModelPublished(string ModelVersion, string ObjectKey, int InputSize, int Dimension, DateTimeOffset PublishedAt);

/// <summary>Re-embed one gallery image (already indexed under another model) with <paramref name="ModelVersion"/>, the
/// model being rolled out (or the live one, for an image indexed by a replica that had not switched yet). Published by
/// the catalog; the embedder reads the image's stored <c>embed</c> variant and publishes <see cref="ImageEmbedded"/>.</summary>
public sealed record GalleryReembedRequested(
    string ImageId,
    GalleryRole Role,
    string? LandmarkId,
    string FileName,
    string? ExternalId,
    string ModelVersion);

/// <summary>The image cannot be embedded with <paramref name="ModelVersion"/> (its variant is gone or unusable); the
/// roll-out counts it as skipped instead of waiting for it. The image stays indexed under the other models.</summary>
public sealed record GalleryReembedFailed(string ImageId, string ModelVersion, string Code, string Reason);

/// <summary>Progress of the gallery's re-embedding for a roll-out (published by the catalog, throttled).</summary>
public sealed record GalleryReindexProgress(string ModelVersion, long Total, long Done);

/// <summary>Every indexed gallery image is in the index of <paramref name="ModelVersion"/>: the model can go live.</summary>
/// <param name="Images">Images indexed under the model.</param>
/// <param name="Skipped">Images that could not be embedded with it (see <see cref="GalleryReembedFailed"/>).</param>
public sealed record GalleryReindexed(string ModelVersion, long Images, long Skipped);

/// <summary>The model is live (registry pointer set by the trainer): embedders answer queries with it and retrieval
/// points the live alias at its collection. <paramref name="PreviousVersion"/> is null for the first live model.</summary>
public sealed record ModelActivated(string ModelVersion, string? PreviousVersion, int Dimension, DateTimeOffset ActivatedAt);

/// <summary>What preprocess stores for an image at <see cref="ObjectKeyFor"/> in the variants bucket, after every
/// variant: its presence means all variants are stored.</summary>
public sealed record VariantManifest(string Format, int Width, int Height, IReadOnlyList<StoredVariant> Variants)
{
    public const string FileName = "manifest.json";

    public static string ObjectKeyFor(string imageId) => $"{imageId}/{FileName}";
}
