using System.Diagnostics;
using System.Security.Cryptography;
using Google.Protobuf;
using Grpc.Core;
using Landmark.Contracts.Api.V1;
using Landmark.Datasets;
using Landmark.Recognition;

namespace Landmark.Cli;

/// <summary>Summary of an import.</summary>
public sealed record ImportSummary(int Images, int Uploaded, int AlreadyKnown, int Indexed, int Rejected, int Failed, double Seconds)
{
    public double ImagesPerSecond => Seconds > 0 ? (Indexed + Rejected) / Seconds : 0;
}

/// <summary>
/// Client-side dataset import: reads a dataset directory, uploads the images the platform does not have yet
/// (content hashes are compared first, a chunk of files at a time, so a re-run uploads nothing), then waits until each one
/// is indexed or rejected.
/// </summary>
public sealed class DatasetImporter(LandmarkConnection connection, TextWriter output, int parallelism = 4)
{
    /// <summary>Images larger than this go through the client-streaming upload in chunks.</summary>
    public const int StreamingThresholdBytes = 2 * 1024 * 1024;
    public const int ChunkBytes = 1024 * 1024;
    private const int StatusBatch = 500;

    /// <summary>Files hashed (and then uploaded) together, once the platform has work (<see cref="FirstChunk"/>).</summary>
    private const int HashChunk = 64;

    /// <summary>The first chunk, doubled chunk by chunk up to <see cref="HashChunk"/>: the platform starts on the first
    /// images after 8 files are read rather than 64 (from a cold disk, 0.1 s instead of 0.8 s with its cores idle).</summary>
    private const int FirstChunk = 8;

    /// <summary>Unsettled images below which the wait asks four times a second instead of once.</summary>
    private const int FinalStretch = 32;

    public async Task<ImportSummary> ImportAsync(Dataset dataset, bool includeNonLandmarks, CancellationToken ct)
    {
        var stopwatch = Stopwatch.StartNew();
        foreach (var problem in dataset.Problems.Take(20))
        {
            await output.WriteLineAsync($"  skipped {problem.Where}: {problem.Reason}");
        }
        if (dataset.Problems.Count > 20)
        {
            await output.WriteLineAsync($"  ... and {dataset.Problems.Count - 20} more problems");
        }

        var landmarks = new UpsertLandmarksRequest();
        landmarks.Landmarks.AddRange(dataset.Landmarks.Select(kv => new Contracts.Api.V1.Landmark { LandmarkId = kv.Key, Name = kv.Value }));
        await connection.Ingest.UpsertLandmarksAsync(landmarks, cancellationToken: ct);

        var items = dataset.Train.Select(i => (Image: i, Role: ImageRole.Landmark)).ToList();
        if (includeNonLandmarks)
        {
            items.AddRange(dataset.NonLandmarks.Select(i => (Image: i, Role: ImageRole.NonLandmark)));
        }

        await output.WriteLineAsync($"Importing {items.Count} images ({dataset.Train.Count} landmark, " +
            $"{(includeNonLandmarks ? dataset.NonLandmarks.Count : 0)} non-landmark, {dataset.Landmarks.Count} landmarks): " +
            "uploading those the platform does not have");

        // In chunks, each one hashed, compared with the platform's images, then uploaded, while the next chunk is hashed:
        // a dataset that is not in the page cache is read while the platform already works on the first images, and the
        // upload's read of a file finds it cached from the hash's.
        var uploaded = 0;
        var failed = 0;
        var alreadyKnown = 0;
        // Followed in upload order, a window of the oldest unsettled at a time (an indexed or rejected image stays so).
        var watch = new ImportWatch<ImageRecord>(r => r.Status is ImageStatus.Indexed or ImageStatus.Rejected);
        var chunks = Chunks(items.Count);
        var hashing = chunks.Count > 0 ? HashAsync(items, chunks[0], ct) : null;
        for (var c = 0; c < chunks.Count; c++)
        {
            var hashes = await hashing!;
            hashing = c + 1 < chunks.Count ? HashAsync(items, chunks[c + 1], ct) : null;
            var known = await StatusAsync(hashes.Distinct(), ct);
            var todo = new List<int>();
            for (var j = 0; j < hashes.Length; j++)
            {
                if (known.ContainsKey(hashes[j]))
                {
                    watch.Add(hashes[j]);
                    alreadyKnown++;
                }
                else
                {
                    todo.Add(chunks[c][j]);
                }
            }
            await Parallel.ForEachAsync(todo, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (i, token) =>
            {
                var (image, role) = items[i];
                var metadata = new ImageMetadata
                {
                    FileName = Path.GetFileName(image.Path),
                    Role = role,
                    LandmarkId = image.LandmarkId ?? "",
                    ExternalId = image.Id,
                };
                try
                {
                    var bytes = await File.ReadAllBytesAsync(image.Path, token);
                    var response = await UploadAsync(metadata, bytes, token);
                    watch.Add(response.ImageId);
                    Interlocked.Increment(ref uploaded);
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.InvalidArgument)
                {
                    Interlocked.Increment(ref failed);
                    lock (output)
                    {
                        output.WriteLine($"  refused {image.Path}: {ex.Status.Detail}");
                    }
                }
            });
        }

        // Wait for the pipeline: once a second while many are on their way, four times a second for the last few, so the
        // end is seen at once.
        var indexed = 0;
        var rejected = new List<ImageRecord>();
        var lastReport = TimeSpan.Zero;
        while (true)
        {
            foreach (var record in await watch.PollAsync(StatusAsync, ct))
            {
                if (record.Status == ImageStatus.Indexed)
                {
                    indexed++;
                }
                else
                {
                    rejected.Add(record);
                }
            }
            if (watch.Pending == 0)
            {
                foreach (var r in rejected.Take(20))
                {
                    await output.WriteLineAsync($"  rejected {r.FileName} ({r.ExternalId}): {r.RejectionReason}");
                }
                var summary = new ImportSummary(items.Count, uploaded, alreadyKnown, indexed, rejected.Count, failed, stopwatch.Elapsed.TotalSeconds);
                await output.WriteLineAsync(
                    $"Imported: {summary.Indexed} indexed, {summary.Rejected} rejected, {summary.Failed} refused, {summary.AlreadyKnown} already known " +
                    $"in {summary.Seconds:F1}s ({summary.ImagesPerSecond:F1} images/s)");
                return summary;
            }
            if (stopwatch.Elapsed - lastReport > TimeSpan.FromSeconds(5))
            {
                lastReport = stopwatch.Elapsed;
                await output.WriteLineAsync($"  ... {indexed + rejected.Count}/{watch.Count} processed ({stopwatch.Elapsed.TotalSeconds:F0}s)");
            }
            await Task.Delay(watch.Pending > FinalStretch ? 1000 : 250, ct);
        }
    }

    /// <summary>Indices 0..count-1 in chunks of <see cref="FirstChunk"/>, twice that, ... up to <see cref="HashChunk"/>.</summary>
    public static List<int[]> Chunks(int count)
    {
        var chunks = new List<int[]>();
        for (int start = 0, size = FirstChunk; start < count; start += size, size = Math.Min(HashChunk, 2 * size))
        {
            chunks.Add(Enumerable.Range(start, Math.Min(size, count - start)).ToArray());
        }
        return chunks;
    }

    /// <summary>SHA-256 (the platform's image id) of each file of <paramref name="chunk"/>, read <c>parallelism</c> at a time.</summary>
    private async Task<string[]> HashAsync(List<(DatasetImage Image, ImageRole Role)> items, int[] chunk, CancellationToken ct)
    {
        var hashes = new string[chunk.Length];
        await Parallel.ForAsync(0, chunk.Length, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = ct }, async (j, token) =>
        {
            await using var stream = File.OpenRead(items[chunk[j]].Image.Path);
            hashes[j] = Convert.ToHexStringLower(await SHA256.HashDataAsync(stream, token));
        });
        return hashes;
    }

    private async Task<UploadImageResponse> UploadAsync(ImageMetadata metadata, byte[] bytes, CancellationToken ct)
    {
        // The file's bytes are wrapped, not copied: nothing writes to them after they are read.
        if (bytes.Length <= StreamingThresholdBytes)
        {
            return await connection.Ingest.UploadImageAsync(new UploadImageRequest { Metadata = metadata, Content = UnsafeByteOperations.UnsafeWrap(bytes) }, cancellationToken: ct);
        }
        using var call = connection.Ingest.UploadImageStream(cancellationToken: ct);
        for (var offset = 0; offset < bytes.Length; offset += ChunkBytes)
        {
            var chunk = new UploadImageChunk { Data = UnsafeByteOperations.UnsafeWrap(bytes.AsMemory(offset, Math.Min(ChunkBytes, bytes.Length - offset))) };
            if (offset == 0)
            {
                chunk.Metadata = metadata;
            }
            await call.RequestStream.WriteAsync(chunk, ct);
        }
        await call.RequestStream.CompleteAsync();
        return await call;
    }

    private async Task<IReadOnlyDictionary<string, ImageRecord>> StatusAsync(IEnumerable<string> ids, CancellationToken ct)
    {
        var result = new Dictionary<string, ImageRecord>(StringComparer.Ordinal);
        foreach (var chunk in ids.Chunk(StatusBatch))
        {
            var request = new GetImagesRequest();
            request.ImageIds.AddRange(chunk);
            var response = await connection.Ingest.GetImagesAsync(request, cancellationToken: ct);
            foreach (var r in response.Records)
            {
                result[r.ImageId] = r;
            }
        }
        return result;
    }
}
