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
