using System.Diagnostics.Metrics;
using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.Storage;
using MassTransit;
using Microsoft.Extensions.Options;

namespace Landmark.Ingest;

/// <summary>Why an upload was refused before anything was stored.</summary>
public sealed class UploadRejectedException(string code, string reason) : Exception($"{code}: {reason}")
{
    public string Code { get; } = code;
    public string Reason { get; } = reason;
}

/// <summary>Validated description of an upload.</summary>
public sealed record UploadDescriptor(string FileName, GalleryRole Role, string? LandmarkId, string? ExternalId);

/// <summary>
/// Stores an upload and starts the pipeline: header validation, content hash, raw bytes to object storage,
/// catalog record, then <see cref="ImageIngested"/>. Re-uploading the same bytes is a no-op (deduplication by hash).
/// </summary>
public sealed class ImageIngestor(
    IObjectStore store,
    ImageCatalog catalog,
    ImagePipeline imaging,
    IPublishEndpoint publisher,
    IOptions<IngestOptions> options,
    ILogger<ImageIngestor> logger)
{
    private static readonly Meter Meter = new("Landmark.Ingest");
    private static readonly Counter<long> Ingested = Meter.CreateCounter<long>("landmark.ingest.images", description: "Images stored and published");
    private static readonly Counter<long> Duplicates = Meter.CreateCounter<long>("landmark.ingest.duplicates", description: "Uploads of known images");
    private static readonly Counter<long> Refused = Meter.CreateCounter<long>("landmark.ingest.refused", description: "Uploads refused at the door");

    public const int MaxLandmarkIdLength = 128;

    public async Task<(CatalogRecord Record, bool Duplicate)> IngestAsync(UploadDescriptor descriptor, ReadOnlyMemory<byte> content,
        CancellationToken cancellationToken)
    {
        Validate(descriptor);
        ImageHeader header;
        try
        {
            header = imaging.Inspect(content.Span);
        }
        catch (ImageRejectedException ex)
        {
            Refused.Add(1);
            throw new UploadRejectedException(ex.Code, ex.Reason);
        }

        var imageId = ContentHash.Sha256Hex(content.Span);
        if (await catalog.GetFreshAsync(imageId, cancellationToken) is { } known)
        {
            Duplicates.Add(1);
            if (!known.IsTerminal)
            {
                // A retry of an upload whose event may never have left (broker down): publish again. Consumers are
                // idempotent, so a second event for an image that is on its way costs a little work and nothing else.
                await PublishAsync(known, cancellationToken);
            }
            return (known, true);
        }

        var key = RawKey(imageId);
        // 1. bytes first: a record never points at missing bytes.
        await store.PutBytesAsync(Buckets.Raw, key, content, "application/octet-stream",
            new Dictionary<string, string> { ["file-name"] = SafeMetadata(descriptor.FileName), ["format"] = header.Format.ToString() },
            cancellationToken);
        var now = DateTimeOffset.UtcNow;
        var record = new CatalogRecord
        {
            ImageId = imageId,
            FileName = descriptor.FileName,
            Role = descriptor.Role,
            LandmarkId = descriptor.LandmarkId,
            ExternalId = descriptor.ExternalId,
            SizeBytes = content.Length,
            Format = header.Format.ToString(),
            Width = header.OrientedWidth,
            Height = header.OrientedHeight,
            IngestedAt = now,
            UpdatedAt = now,
        };
        // 2. the record; 3. the event. A crash between 2 and 3 is healed by the start-up resume.
        var (stored, added) = await catalog.AddAsync(record, cancellationToken);
        if (!added)
        {
            Duplicates.Add(1);
            return (stored, true);
        }
        await PublishAsync(stored, cancellationToken);
        Ingested.Add(1);
        logger.LogDebug("Ingested {ImageId} ({FileName}, {Format} {Width}x{Height})", imageId, descriptor.FileName, header.Format, header.Width, header.Height);
        return (stored, false);
    }

    public Task PublishAsync(CatalogRecord record, CancellationToken cancellationToken) =>
        publisher.Publish(new ImageIngested(record.ImageId, RawKey(record.ImageId), record.FileName, record.Role, record.LandmarkId,
            record.ExternalId, record.SizeBytes, record.IngestedAt), cancellationToken);

    public static string RawKey(string imageId) => $"{imageId[..2]}/{imageId}";

    private void Validate(UploadDescriptor d)
    {
        if (d.FileName.Length > options.Value.MaxFileNameLength)
        {
            throw new UploadRejectedException("invalid_metadata", $"file name longer than {options.Value.MaxFileNameLength} characters");
        }
        if (d.Role == GalleryRole.Landmark && string.IsNullOrWhiteSpace(d.LandmarkId))
        {
            throw new UploadRejectedException("invalid_metadata", "a landmark image needs a landmark_id");
        }
        if (d.Role == GalleryRole.NonLandmark && !string.IsNullOrEmpty(d.LandmarkId))
        {
            throw new UploadRejectedException("invalid_metadata", "a non-landmark image must not have a landmark_id");
        }
        if (d.LandmarkId is { } id && (id.Length > MaxLandmarkIdLength || id.Any(char.IsControl) || id != id.Trim()))
        {
            throw new UploadRejectedException("invalid_metadata", $"landmark_id must be 1-{MaxLandmarkIdLength} printable characters without surrounding spaces");
        }
    }

    private static string SafeMetadata(string value) =>
        new(value.Where(c => c is >= ' ' and < (char)127).Take(200).ToArray());
}
