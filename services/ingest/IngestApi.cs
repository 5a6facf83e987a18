using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Contracts.Messages;
using Landmark.Imaging;
using Landmark.Datasets;
using Landmark.Contracts.Api;
using Microsoft.Extensions.Options;

namespace Landmark.Ingest;

/// <summary>The public ingest API (<c>landmark.v1.IngestService</c>).</summary>
public sealed class IngestApi(
    ImageIngestor ingestor,
    ImageCatalog catalog,
    IOptions<ImagingOptions> imagingOptions,
    IOptions<IngestOptions> ingestOptions,
    ImportRoots importRoots,
    ILogger<IngestApi> logger) : IngestService.IngestServiceBase
{
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(500);

    public override async Task<UploadImageResponse> UploadImage(UploadImageRequest request, ServerCallContext context)
    {
        await catalog.Loaded;
        return await UploadAsync(request.Metadata, request.Content.Memory, context.CancellationToken);
    }

    public override async Task<UploadImageResponse> UploadImageStream(IAsyncStreamReader<UploadImageChunk> requestStream, ServerCallContext context)
    {
        await catalog.Loaded;
        ImageMetadata? metadata = null;
        var limit = imagingOptions.Value.MaxBytes;
        using var buffer = new MemoryStream();
        var first = true;
        await foreach (var chunk in requestStream.ReadAllAsync(context.CancellationToken))
        {
            if (first)
            {
                metadata = chunk.Metadata ?? throw Invalid("invalid_metadata", "the first chunk must carry the image metadata");
                first = false;
            }
            else if (chunk.Metadata is not null)
            {
                throw Invalid("invalid_metadata", "only the first chunk may carry metadata");
            }
            if (buffer.Length + chunk.Data.Length > limit)
            {
                throw Invalid(RejectionCodes.TooManyBytes, $"the image is larger than {limit} bytes");
            }
            chunk.Data.WriteTo(buffer);
        }
        if (metadata is null)
        {
            throw Invalid(RejectionCodes.Empty, "no chunks were sent");
        }
        return await UploadAsync(metadata, buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.CancellationToken);
    }

    public override async Task ImportDataset(ImportDatasetRequest request, IServerStreamWriter<ImportProgress> responseStream, ServerCallContext context)
    {
        await catalog.Loaded;
        var ct = context.CancellationToken;
        if (!importRoots.Enabled)
        {
            throw ApiErrors.Create(StatusCode.FailedPrecondition, ErrorReasons.DatasetImportDisabled,
                "Server-side import is off: the server lists no Landmark:Ingest:ImportRoots. Upload from the client with `landmark import --dataset DIR`.");
        }
        Dataset dataset;
        try
        {
            var directory = importRoots.ResolveDirectory(request.Path);
            // The CSV files the reader opens: inside the roots and regular (a FIFO would block the reader).
            foreach (var csv in Directory.EnumerateFiles(directory, "*.csv"))
            {
                importRoots.CheckFile(csv, limitSize: false);
            }
            dataset = await Task.Run(() => DatasetReader.Read(directory, ct), ct);
        }
        catch (ImportRefusedException ex)
        {
            throw ApiErrors.InvalidField(ErrorReasons.DatasetRefused, "path", ex.Message);
        }
        catch (InvalidDataException ex)
        {
            logger.LogWarning(ex, "Import of {Path} refused", request.Path);
            throw ApiErrors.InvalidField(ErrorReasons.DatasetRefused, "path",
                "The directory is neither a GLDv2 dataset (no train.csv) nor a folder-per-class dataset (no sub-folders with images).");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            logger.LogWarning(ex, "Import of {Path}: the dataset could not be read", request.Path);
            throw ApiErrors.InvalidField(ErrorReasons.DatasetUnreadable, "path", "The dataset directory could not be read.");
        }

        var items = dataset.Train.Select(i => (Image: i, Role: GalleryRole.Landmark)).ToList();
        if (!request.HasIncludeNonLandmarks || request.IncludeNonLandmarks)
        {
            items.AddRange(dataset.NonLandmarks.Select(i => (Image: i, Role: GalleryRole.NonLandmark)));
        }
        await catalog.UpsertLandmarksAsync(dataset.Landmarks, ct);

        var progress = new ImportProgress { Total = items.Count };
        progress.Errors.AddRange(dataset.Problems.Select(p => new ImportError { Path = p.Where, Reason = p.Reason }));
        // Followed in submission order, a window of the oldest unsettled at a time (see ImportWatch).
        var watch = new ImportWatch<CatalogRecord>(r => r.IsTerminal);
        int indexed = 0, rejected = 0;
        var submitted = 0;
        var duplicates = 0;
        var errors = new System.Collections.Concurrent.ConcurrentQueue<ImportError>();
        var stopwatch = Stopwatch.StartNew();

        var submit = Parallel.ForEachAsync(items,
            new ParallelOptions { MaxDegreeOfParallelism = ingestOptions.Value.ImportParallelism, CancellationToken = ct },
            async (item, token) =>
            {
                // Paths in answers are relative to the dataset directory; the server's own paths stay in its log.
                var where = Path.GetRelativePath(dataset.Root, item.Image.Path).Replace('\\', '/');
                try
                {
                    var bytes = await importRoots.ReadFileAsync(item.Image.Path, token);
                    var (record, duplicate) = await ingestor.IngestAsync(
                        new UploadDescriptor(Path.GetFileName(item.Image.Path), item.Role, item.Image.LandmarkId, item.Image.Id), bytes, token);
                    watch.Add(record.ImageId);
                    if (duplicate)
                    {
                        Interlocked.Increment(ref duplicates);
                    }
                }
                catch (ImportRefusedException ex)
                {
                    errors.Enqueue(new ImportError { Path = where, Reason = ex.Message });
                }
                catch (UploadRejectedException ex)
                {
                    errors.Enqueue(new ImportError { Path = where, Reason = ex.Message });
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    logger.LogWarning(ex, "Import: {File} could not be read", item.Image.Path);
                    errors.Enqueue(new ImportError { Path = where, Reason = "the file could not be read" });
                }
                Interlocked.Increment(ref submitted);
            });

        var deadline = request.WaitSeconds > 0 ? DateTime.UtcNow.AddSeconds(request.WaitSeconds) : DateTime.MaxValue;
        while (true)
        {
            var submitDone = submit.IsCompleted;
            if (submit.IsFaulted)
            {
                await submit; // surfaces the failure
            }
            progress.Submitted = Volatile.Read(ref submitted);
            progress.Duplicates = Volatile.Read(ref duplicates);
            while (errors.TryDequeue(out var error))
            {
                progress.Errors.Add(error);
            }
            foreach (var record in await watch.PollAsync(LookupAsync, ct))
            {
                if (record.Status == CatalogStatus.Indexed)
                {
                    indexed++;
                }
                else
                {
                    rejected++;
                }
            }
            progress.Indexed = indexed;
            progress.Rejected = rejected;
            progress.ImagesPerSecond = (indexed + rejected) / Math.Max(stopwatch.Elapsed.TotalSeconds, 1e-3);
            progress.Done = submitDone && watch.Pending == 0;
            await responseStream.WriteAsync(progress, ct);
            progress.Errors.Clear();
            if (progress.Done || DateTime.UtcNow > deadline)
            {
                break;
            }
            await Task.WhenAny(Task.Delay(ProgressInterval, ct), submitDone ? Task.Delay(ProgressInterval, ct) : submit);
        }
        logger.LogInformation("Import of {Path}: {Submitted} submitted, {Indexed} indexed, {Rejected} rejected, {Duplicates} duplicates in {Seconds:F1}s",
            request.Path, progress.Submitted, progress.Indexed, progress.Rejected, progress.Duplicates, stopwatch.Elapsed.TotalSeconds);
    }

    public override async Task<GetImagesResponse> GetImages(GetImagesRequest request, ServerCallContext context)
    {
        await catalog.Loaded;
        var response = new GetImagesResponse();
        var records = await Task.WhenAll(request.ImageIds.Distinct().Select(id => catalog.GetFreshAsync(id, context.CancellationToken)));
        response.Records.AddRange(records.OfType<CatalogRecord>().Select(ToProto));
        return response;
    }

    public override async Task<ListImagesResponse> ListImages(ListImagesRequest request, ServerCallContext context)
    {
        await catalog.Loaded;
        // From storage (every replica's images), not from what this replica has seen.
        var records = await catalog.ListAsync(context.CancellationToken);
        var matching = records.Select(ToProto).Where(r =>
            (request.Role == ImageRole.Unspecified || r.Role == request.Role) &&
            (request.Status == ImageStatus.Unspecified || r.Status == request.Status));
        var page = Paging.Paginate(matching, r => r.ImageId, request.PageSize, request.PageToken, $"{request.Role}/{request.Status}");
        var response = new ListImagesResponse { NextPageToken = page.NextPageToken };
        response.Images.AddRange(page.Items);
        return response;
    }

    public override async Task<GalleryStats> GetStats(GetStatsRequest request, ServerCallContext context)
    {
        await catalog.Loaded;
        var stats = new GalleryStats { Landmarks = (await catalog.GetLandmarksAsync(context.CancellationToken)).Count };
        foreach (var r in await catalog.ListAsync(context.CancellationToken))
        {
            stats.Total++;
            if (r.Role == GalleryRole.Landmark)
            {
                stats.LandmarkImages++;
            }
            else
            {
                stats.NonLandmarkImages++;
            }
            switch (r.Status)
            {
                case CatalogStatus.Indexed: stats.Indexed++; break;
                case CatalogStatus.Rejected: stats.Rejected++; break;
                default: stats.Pending++; break;
            }
        }
        return stats;
    }

    public override async Task<UpsertLandmarksResponse> UpsertLandmarks(UpsertLandmarksRequest request, ServerCallContext context)
    {
        await catalog.Loaded;
        foreach (var l in request.Landmarks)
        {
            if (string.IsNullOrWhiteSpace(l.LandmarkId) || l.LandmarkId.Length > ImageIngestor.MaxLandmarkIdLength)
            {
                throw Invalid(InvalidMetadataCode, $"invalid landmark id '{l.LandmarkId}'", "landmarks");
            }
        }
        var changed = await catalog.UpsertLandmarksAsync(
            request.Landmarks.Select(l => KeyValuePair.Create(l.LandmarkId, string.IsNullOrWhiteSpace(l.Name) ? l.LandmarkId : l.Name)),
            context.CancellationToken);
        return new UpsertLandmarksResponse { Count = changed };
    }

    public override async Task<ListLandmarksResponse> ListLandmarks(ListLandmarksRequest request, ServerCallContext context)
    {
        await catalog.Loaded;
        var landmarks = await catalog.GetLandmarksAsync(context.CancellationToken);
        var page = Paging.Paginate(landmarks, kv => kv.Key, request.PageSize, request.PageToken);
        var response = new ListLandmarksResponse { NextPageToken = page.NextPageToken };
        response.Landmarks.AddRange(page.Items.Select(kv => new Contracts.Api.V1.Landmark { LandmarkId = kv.Key, Name = kv.Value }));
        return response;
    }

    private async Task<UploadImageResponse> UploadAsync(ImageMetadata? metadata, ReadOnlyMemory<byte> content, CancellationToken ct)
    {
        if (metadata is null)
        {
            throw Invalid("invalid_metadata", "metadata is required");
        }
        var role = metadata.Role switch
        {
            ImageRole.Landmark => GalleryRole.Landmark,
            ImageRole.NonLandmark => GalleryRole.NonLandmark,
            _ => string.IsNullOrEmpty(metadata.LandmarkId) ? GalleryRole.NonLandmark : GalleryRole.Landmark,
        };
        var descriptor = new UploadDescriptor(
            string.IsNullOrWhiteSpace(metadata.FileName) ? "upload" : metadata.FileName,
            role,
            string.IsNullOrEmpty(metadata.LandmarkId) ? null : metadata.LandmarkId,
            string.IsNullOrEmpty(metadata.ExternalId) ? null : metadata.ExternalId);
        try
        {
            var (record, duplicate) = await ingestor.IngestAsync(descriptor, content, ct);
            return new UploadImageResponse { ImageId = record.ImageId, Duplicate = duplicate, Record = ToProto(record) };
        }
        catch (UploadRejectedException ex)
        {
            throw Invalid(ex.Code, ex.Reason);
        }
    }

    /// <summary>The records of <paramref name="ids"/>: a settled one from the cache (it does not change), any other from
    /// storage.</summary>
    private async Task<IReadOnlyDictionary<string, CatalogRecord>> LookupAsync(IReadOnlyList<string> ids, CancellationToken ct)
    {
        var records = new Dictionary<string, CatalogRecord>(StringComparer.Ordinal);
        foreach (var id in ids)
        {
            if (await catalog.GetSettledAsync(id, ct) is { } record)
            {
                records[id] = record;
            }
        }
        return records;
    }

    private const string InvalidMetadataCode = "invalid_metadata";

    /// <summary>An upload refused: <c>INVALID_ARGUMENT</c> with the code in the message (<c>"code: reason"</c>), an
    /// <c>ErrorInfo</c> (reason <c>IMAGE_*</c>, the rejection code in its metadata) and the field at fault.</summary>
    private static RpcException Invalid(string code, string reason, string? field = null) =>
        ApiErrors.Create(StatusCode.InvalidArgument,
            code == InvalidMetadataCode ? ErrorReasons.ImageMetadataInvalid : ErrorReasons.ForRejection(code), $"{code}: {reason}",
            new Dictionary<string, string> { [ErrorReasons.RejectionCodeKey] = code },
            (field ?? (code == InvalidMetadataCode ? "metadata" : "content"), reason));

    public static ImageRecord ToProto(CatalogRecord r) => new()
    {
        ImageId = r.ImageId,
        FileName = r.FileName,
        Role = ToProto(r.Role),
        LandmarkId = r.LandmarkId ?? "",
        ExternalId = r.ExternalId ?? "",
        Status = ToProto(r.Status),
        RejectionCode = r.RejectionCode ?? "",
        RejectionReason = r.RejectionReason ?? "",
        Format = r.Format ?? "",
        Width = r.Width,
        Height = r.Height,
        SizeBytes = r.SizeBytes,
        ModelVersion = r.ModelVersion ?? "",
    };

    private static ImageRole ToProto(GalleryRole role) => role == GalleryRole.Landmark ? ImageRole.Landmark : ImageRole.NonLandmark;

    private static ImageStatus ToProto(CatalogStatus status) => status switch
    {
        CatalogStatus.Ingested => ImageStatus.Ingested,
        CatalogStatus.Preprocessed => ImageStatus.Preprocessed,
        CatalogStatus.Indexed => ImageStatus.Indexed,
        CatalogStatus.Rejected => ImageStatus.Rejected,
        _ => ImageStatus.Unspecified,
    };
}
